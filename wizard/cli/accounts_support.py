"""What every `wizard user|api-key|token|db` command shares: its options, checking values
before connecting, running an operation and rendering its Result, and reading a new password.

Only typer is imported at the top: `wizard --help` must not pay for psycopg, bcrypt or
questionary. Values are checked together before connecting (exit 2 lists every problem); a
failed operation is exit 1; Ctrl-C is exit 130 (the open transaction is rolled back). A password
comes from a file, stdin or a hidden prompt, never from a flag value (it would show in `ps`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from wizard.accounts.operations import AccountsDatabase, NewPassword
    from wizard.accounts.unit import Accounts
    from wizard.result import Result

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the operation failed or was refused (no database, no such user, "
    "name taken, key not valid, the last administrator); 2 invalid or missing input; 130 "
    "interrupted (nothing changed)."
)

ProjectDir = Annotated[
    Path,
    typer.Option(
        "--project-dir",
        envvar="WIZARD_PROJECT_DIR",
        help="Deployment directory (its .env says where the database is). Default: here.",
        file_okay=False,
    ),
]
JsonFlag = Annotated[
    bool, typer.Option("--json", envvar="WIZARD_JSON", help="Print one JSON object on stdout.")
]
DbTimeout = Annotated[
    int, typer.Option("--db-timeout", help="Seconds per connection attempt, 2 to 600.")
]
NonInteractive = Annotated[
    bool,
    typer.Option(
        "--non-interactive", envvar="WIZARD_NON_INTERACTIVE", help="Never prompt (implied "
        "without a terminal or with CI=true)."
    ),
]  # fmt: skip
PasswordFile = Annotated[
    str | None,
    typer.Option(
        "--password-file",
        help="Read the password from this file ('-' = stdin); one trailing newline is removed.",
        show_default=False,
    ),
]
GeneratePassword = Annotated[
    bool,
    typer.Option(
        "--generate-password", help="Generate one (32 characters), printed once on stdout."
    ),
]
ForceLastAdmin = Annotated[
    bool,
    typer.Option(
        "--force", help="Go ahead even when this leaves the stack without an active administrator."
    ),
]


def make_typer(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text + "\n\n" + EXIT_CODES_HELP,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def execute(json_output: bool, body: Callable[[], Result]) -> None:
    """Run `body` and render its Result through the CLI's one mapping (the layer's errors carry
    their exit codes: wizard.errors). A Result that is not ok is exit 1."""
    from wizard.cli.common import EXIT_CHECK_FAILED, EXIT_OK, run_command

    def run() -> int:
        from wizard.ui.console import render

        result = body()
        render(result, json_output)
        return EXIT_OK if result.ok else EXIT_CHECK_FAILED

    run_command(run, json_output)


def over_accounts(
    project_dir: Path,
    json_output: bool,
    db_timeout: int,
    operation: Callable[[Accounts], Result],
    problems: Callable[[], list[str]] = list,
) -> None:
    """Check the values (`problems` adds the command's own), connect, run `operation`."""

    def body() -> Result:
        raise_if(timeout_problems(db_timeout) + problems())
        with open_database(project_dir, db_timeout).accounts as accounts:
            return operation(accounts)

    execute(json_output, body)


def timeout_problems(db_timeout: int) -> list[str]:
    from wizard.config.model import MAX_DB_TIMEOUT, parse_positive_int

    _, problem = parse_positive_int(str(db_timeout), "--db-timeout", 2, MAX_DB_TIMEOUT)
    return [problem] if problem else []


def raise_if(problems: list[str]) -> None:
    if problems:
        from wizard.errors import InputError

        raise InputError(problems)


def open_database(project_dir: Path, db_timeout: int) -> AccountsDatabase:
    from wizard.accounts.operations import connect

    return connect(project_dir.resolve(), db_timeout)


def new_password(
    password_file: str | None, generate: bool, non_interactive: bool, problems: list[str]
) -> Callable[[], NewPassword]:
    """Checks what can be checked now (adding to `problems`); the returned call reads, prompts
    or generates the password once every other value is known to be fine."""
    from wizard.accounts.hashing import generate_password
    from wizard.accounts.operations import NewPassword
    from wizard.accounts.rules import password_problems
    from wizard.cli.common import interactive_session

    if password_file is not None and generate:
        problems.append("--password-file and --generate-password: give one of them, not both")
    elif generate:
        return lambda: NewPassword(generate_password(), generated=True)
    elif password_file is not None:
        from wizard.config.answers import read_secret_file

        password = read_secret_file(password_file, "--password-file")
        problems += password_problems(password, "--password-file")
        return lambda: NewPassword(password, generated=False)
    elif not interactive_session(non_interactive):
        problems.append("--password-file or --generate-password: one is needed without a terminal")
    return lambda: NewPassword(_typed_twice(), generated=False)


def _typed_twice() -> str:
    from wizard.accounts.rules import password_problems
    from wizard.ui import prompter
    from wizard.ui.console import UI

    def rule(text: str) -> str | None:
        problems = password_problems(text)
        return problems[0] if problems else None

    while True:
        first = prompter.secret("Password (hidden)", validate=rule)
        if prompter.secret("Password again (hidden)") == first:
            return first
        UI().problem("The two passwords differ; enter it again.")


def read_key(non_interactive: bool) -> str:
    """An API key typed hidden at a terminal, else read from stdin; stripped."""
    from wizard.cli.common import interactive_session

    if interactive_session(non_interactive):
        from wizard.ui import prompter

        return prompter.secret("API key (hidden)").strip()
    from wizard.config.answers import read_secret_file

    return read_secret_file("-", "stdin").strip()


def confirmation(given: bool, non_interactive: bool, problems: list[str]) -> Callable[[str], None]:
    """For a destructive command: without `given` (--yes) it asks at a terminal, and without a
    terminal adds the --yes problem. The returned call asks (Cancelled on no), or does nothing."""
    from wizard.cli.common import interactive_session

    if given:
        return lambda question: None
    if not interactive_session(non_interactive):
        problems.append("--yes: deleting a user needs it without a terminal")
        return lambda question: None

    def ask(question: str) -> None:
        from wizard.ui import prompter

        if not prompter.confirm(question, default=False):
            from wizard.errors import Cancelled

            raise Cancelled()

    return ask
