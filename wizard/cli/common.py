"""What every command of the CLI shares: exit codes, common options, whether a person is at the
terminal, and `run_command`, the one place that maps an error to its message and exit code."""

# No `from __future__ import annotations`: typer evals the annotations of the options below.
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wizard.errors import ExitCode

EXIT_OK = int(ExitCode.OK)
EXIT_CHECK_FAILED = int(ExitCode.FAILED)
EXIT_INPUT = int(ExitCode.INPUT)
EXIT_INTERRUPTED = int(ExitCode.INTERRUPTED)

# `check --wait`: an hour is longer than any database takes to start; inf or nan is a typo.
MAX_WAIT_SECONDS = 3600

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 a check failed (port taken, database refused, another wizard "
    "running); 2 invalid or missing input; 130 interrupted or cancelled (nothing written "
    "unless the message names files)."
)

ProjectDir = Annotated[
    Path,
    typer.Option(
        "--project-dir",
        envvar="WIZARD_PROJECT_DIR",
        help="Deployment directory (holds .env and the compose files). Default: the current one.",
        file_okay=False,
    ),
]
JsonFlag = Annotated[
    bool,
    typer.Option("--json", envvar="WIZARD_JSON", help="Print one JSON object on stdout."),
]


def _opt(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text, show_default=False)


def interactive_session(non_interactive: bool) -> bool:
    """Prompts only with a person at a terminal: never in CI, never without a tty."""
    if non_interactive:
        return False
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def run_command(action: Any, json_output: bool) -> None:
    """Run a command body; the one place that turns an error into its message and exit code."""
    from wizard.errors import WizardError

    try:
        code = action()
    except WizardError as exc:
        code = fail(int(exc.exit_code), exc.problems, json_output, exc.report)
    except KeyboardInterrupt:
        code = fail(EXIT_INTERRUPTED, ["interrupted: nothing was written"], json_output)
    except EOFError:  # Ctrl-D at a prompt: the person ends the input, as a cancel does
        code = fail(EXIT_INTERRUPTED, ["cancelled: nothing was written"], json_output)
    raise CommandExit(code)


class CommandExit(SystemExit):
    """The end of a command body, its message printed. Not typer.Exit: typer lets this pass, so
    an exit typer makes itself (130 for an interrupt it caught while parsing) is told apart."""


def fail(
    code: int, problems: list[str], json_output: bool, extra: dict[str, Any] | None = None
) -> int:
    """Print the problems (and the failure object with --json). `extra` is what the run wrote
    before it failed: a failure after the write reports those files and the backup set too."""
    from wizard.ui.console import UI, print_json

    UI().problems(problems)
    if json_output:
        print_json({"ok": False, "exit_code": code, "problems": problems, **(extra or {})})
    return code
