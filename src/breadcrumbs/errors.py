"""The exception type the CLI turns into a single clear error line, and the warning it prints as one line."""


class BreadcrumbsError(Exception):
    """A user-facing error: bad input, a missing file, an unsupported model.

    The message names the problem and the fix; the CLI prints it as one line and exits non-zero.
    """


class BreadcrumbsWarning(UserWarning):
    """A setting that runs, but likely not as meant (a stage that never runs, a model used for what it never
    trained); the CLI prints it as one `warning:` line."""


class BreadcrumbsDeprecationWarning(BreadcrumbsWarning, FutureWarning):
    """A retired spelling that still works (an old config key): one `warning:` line naming the new spelling.
    A `FutureWarning`, Python's deprecation category meant for end users, so it shows outside the CLI too."""
