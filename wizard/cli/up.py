"""`wizard up` and `wizard down` on the command line: their flags, and the exit code.

Registered on the app by wizard.cli. Only typer is imported at the top (`wizard --help` stays
fast); the bodies run through the CLI's one error mapping (wizard.cli._run).
"""

# No `from __future__ import annotations`: typer reads the annotations at each start.
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# The options every command shares (--project-dir, --json), as the accounts commands spell them.
from wizard.cli.common import JsonFlag, ProjectDir

if TYPE_CHECKING:
    from wizard.commands.up_request import UpFlags

EXIT_OK = 0
EXIT_CHECK_FAILED = 1

EXIT_CODES_HELP = (
    "Exit codes: 0 the stack is ready with an administrator; 1 a phase failed (named, with its "
    "log tail); 2 invalid or missing input; 130 interrupted (`wizard up` resumes)."
)


NoBuild = Annotated[
    bool, typer.Option("--no-build", envvar="WIZARD_NO_BUILD", help="Never build images.")
]
Timeout = Annotated[
    int,
    typer.Option(
        "--timeout",
        envvar="WIZARD_TIMEOUT",
        help="Seconds for the whole run, the build not counted.",
    ),
]
Admin = Annotated[
    str | None, typer.Option("--admin", envvar="WIZARD_ADMIN", help="Administrator's username.")
]
AdminEmail = Annotated[
    str | None,
    typer.Option("--admin-email", envvar="WIZARD_ADMIN_EMAIL", help="Administrator's email."),
]
AdminPasswordFile = Annotated[
    str | None,
    typer.Option(
        "--admin-password-file",
        envvar="WIZARD_ADMIN_PASSWORD_FILE",
        help="Read the administrator's password from this file ('-' = stdin), or use "
        "WIZARD_ADMIN_PASSWORD.",
    ),
]
GeneratePassword = Annotated[
    bool,
    typer.Option(
        "--generate-password", help="Generate the administrator's password, printed once."
    ),
]
NonInteractive = Annotated[
    bool,
    typer.Option(
        "--non-interactive",
        envvar="WIZARD_NON_INTERACTIVE",
        help="Never ask (implied without a terminal or with CI=true).",
    ),
]
DbTimeout = Annotated[
    int, typer.Option("--db-timeout", help="Seconds per database connection attempt, 2 to 600.")
]


def up(
    project_dir: ProjectDir = Path("."),
    no_build: NoBuild = False,
    timeout: Timeout = 900,
    admin: Admin = None,
    admin_email: AdminEmail = None,
    admin_password_file: AdminPasswordFile = None,
    generate_password: GeneratePassword = False,
    non_interactive: NonInteractive = False,
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Build, start and wait for the stack; its administrator exists before the web UI starts."""
    from wizard.cli.common import interactive_session, run_command
    from wizard.commands.up_request import UpFlags

    flags = UpFlags(
        project_dir,
        not no_build,
        timeout,
        admin,
        admin_email,
        admin_password_file,
        generate_password,
        interactive_session(non_interactive),
        db_timeout,
    )
    run_command(lambda: _up(flags, json_output), json_output)


def _up(flags: "UpFlags", json_output: bool) -> int:
    from wizard.commands.up import up as start
    from wizard.commands.up_request import build_request
    from wizard.ui.console import UI, print_text, render

    ui = UI()
    result = start(build_request(flags), ui)
    if not json_output and result.data.get("password"):
        print_text(result.data["password"])
    render(result, json_output, ui)
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED


def down(project_dir: ProjectDir = Path("."), json_output: JsonFlag = False) -> None:
    """Stop the stack (docker compose down); never removes its volumes, which hold the data."""

    from wizard.cli.common import run_command

    def body() -> int:
        from wizard.commands.down import down as stop
        from wizard.ui.console import render

        result = stop(project_dir)
        render(result, json_output)
        return EXIT_OK if result.ok else EXIT_CHECK_FAILED

    run_command(body, json_output)
