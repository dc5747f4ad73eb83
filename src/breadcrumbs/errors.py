"""The one exception type the CLI turns into a single clear error line."""


class BreadcrumbsError(Exception):
    """A user-facing error: bad input, a missing file, an unsupported model.

    The message names the problem and the fix; the CLI prints it as one line and exits non-zero.
    """
