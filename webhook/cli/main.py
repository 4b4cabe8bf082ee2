"""`reload-safe`: one command, several subcommands, each imported only when it runs.

Lazy loading keeps `reload-safe scan` in a CI pipeline free of the server's imports (Flask,
the Kubernetes client), which would cost more start-up time than scanning a chart.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

import click

SUBCOMMANDS: Final = {
    "serve": ("webhook.cli.serve", "serve"),
    "review": ("webhook.cli.review", "review"),
    "scan": ("webhook.cli.scan", "scan"),
    "certs": ("webhook.cli.certs", "certs"),
    "hash-key": ("webhook.cli.hashkey", "hash_key"),
    "controller": ("webhook.cli.controller", "controller"),
    "report": ("webhook.cli.cluster_report", "report"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module_name, attribute = SUBCOMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            return None
        command: Any = getattr(module, attribute)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reload-safe")
def cli() -> None:
    """reload-safe: ConfigMap changes that reach the pods consuming them."""
