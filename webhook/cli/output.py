"""Printing a command's report to stdout."""

from __future__ import annotations

import os
import sys

import click


def emit(output: str) -> None:
    """Print the report; a reader that went away (`| head`) is not an error worth a traceback."""
    try:
        click.echo(output)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
