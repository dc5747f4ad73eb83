"""Help texts that name the registered method families (`breadcrumbs/policies/registry.py`).

The registry lives with the policies, which import torch; the CLI does not, so that `breadcrumbs --help` and every
command start in a fraction of a second. A command built with `cls=MethodHelpCommand` therefore fills the
placeholders below in its options' help only when its help is shown.
"""

from __future__ import annotations

import click
from typer.core import TyperCommand

PLACEHOLDERS = {
    "{baselines}": lambda registry: "|".join(registry.baseline_names()),
    "{swept}": lambda registry: ",".join(registry.baseline_names(swept=True)),
}


class MethodHelpCommand(TyperCommand):
    """A Typer command whose option help may say `{baselines}` (`streaming|h2o|...`, every training-free family) or
    `{swept}` (`streaming,h2o,...`, those with a sweep grid), read from the registry when the help is rendered."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from breadcrumbs.policies import registry

        for param in self.params:
            for placeholder, names in PLACEHOLDERS.items():
                if getattr(param, "help", None) and placeholder in param.help:
                    param.help = param.help.replace(placeholder, names(registry))
        super().format_help(ctx, formatter)
