"""The command line: typer only. argv in, a Result rendered, an exit code out."""

from wizard.cli.main import app, main

__all__ = ["app", "main"]
