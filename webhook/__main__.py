"""`python -m webhook` is `reload-safe`."""

from webhook.cli.main import cli

cli()
