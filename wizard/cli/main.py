"""Command line: argv in, exit code out. The only module that knows about exit codes.

Exit codes: 0 done; 1 a check failed (port taken, database refused, lock held); 2 invalid or
missing input; 130 interrupted (Ctrl-C, SIGTERM) or cancelled (nothing written, unless the message
names the files that were).

Heavy modules (questionary, psycopg, rich) are imported inside the commands, so `--help` stays
fast. Flags are taken as plain strings and validated together, so every problem is listed at once.
"""

# No `from __future__ import annotations`: typer would then eval every parameter's annotation
# string at each start (about 6 ms of a run that must start fast).
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wizard.cli import accounts as accounts_commands
from wizard.cli import up as up_cli
from wizard.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_CODES_HELP,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    MAX_WAIT_SECONDS,
    CommandExit,
    JsonFlag,
    ProjectDir,
    _opt,
    fail,
    interactive_session,
    run_command,
)
from wizard.signals import take_interrupts

if TYPE_CHECKING:
    from wizard.commands.setup_report import Request

app = typer.Typer(
    help="Set up the document-search stack: .env, compose override, checks. "
    "`wizard --version` (-V) prints the version.\n\n" + EXIT_CODES_HELP,
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

COMMANDS = (
    "setup",
    "check",
    "show",
    "rollback",
    "up",
    "down",
    "export",
    *accounts_commands.ACCOUNT_COMMANDS,
)
# The WIZARD_* variables typer reads for `setup` (every other one is an answer:
# wizard.config.answers).
SETUP_VARIABLES = (
    "WIZARD_PROJECT_DIR",
    "WIZARD_NON_INTERACTIVE",
    "WIZARD_ANSWERS",
    "WIZARD_JSON",
)


def with_answer_flags(command: Any) -> Any:
    """`command` with a flag for each answer that has one (wizard.config.options.FLAGGED: the
    settings rows included) in place of its `**flags`: typer reads the signature, so a new
    answer is one row. Flags are plain values, validated together later (every problem at once)."""
    import inspect

    from wizard.config.options import FLAGGED

    kinds: dict[str, Any] = {"str": str | None, "bool": bool | None, "list": list[str] | None}
    signature = inspect.signature(command)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    added = [
        inspect.Parameter(
            option.key,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                kinds[option.kind],
                _opt(option.help, option.flag, *([option.short] if option.short else [])),
            ],
        )
        for option in FLAGGED
        if not option.secret
    ]
    command.__signature__ = signature.replace(parameters=[*fixed, *added])
    command.__annotations__ = {
        **{k: v for k, v in command.__annotations__.items() if k != "flags"},
        **{p.name: p.annotation for p in added},
    }
    return command


@app.command(epilog=EXIT_CODES_HELP)
@with_answer_flags
def setup(
    project_dir: ProjectDir = Path("."),
    non_interactive: Annotated[
        bool,
        typer.Option(
            "--non-interactive",
            envvar="WIZARD_NON_INTERACTIVE",
            help="Never prompt (implied without a terminal or with CI=true); implies --yes.",
        ),
    ] = False,
    answers: Annotated[
        Path | None,
        typer.Option(
            "--answers", envvar="WIZARD_ANSWERS", help="YAML file of answers.", dir_okay=False
        ),
    ] = None,
    json_output: JsonFlag = False,
    # One flag per answer of wizard/config/answers.py (`with_answer_flags`).
    **flags: Any,
) -> None:
    """Run the five steps (or take every answer from flags, WIZARD_* variables, --answers)."""
    given = {key: value for key, value in flags.items() if value not in (None, [])}
    run_command(
        lambda: _setup(project_dir, non_interactive, answers, json_output, given),
        json_output,
    )


def _setup(
    project_dir: Path,
    non_interactive: bool,
    answers_path: Path | None,
    json_output: bool,
    flags: dict[str, Any],
) -> int:
    from wizard.commands.setup import run
    from wizard.commands.setup_report import Request, setup_result
    from wizard.config.answers import OPTIONS, load_inputs
    from wizard.errors import InputError
    from wizard.ui.console import UI, render

    interactive = interactive_session(non_interactive)
    inputs, problems = load_inputs(flags, os.environ, answers_path, SETUP_VARIABLES)
    # Read once, and gone: every process the wizard starts (docker, nvidia-smi) would inherit
    # them, and tools print their environment in debug output and crash reports.
    for option in OPTIONS:
        if option.secret:
            os.environ.pop(option.env_var, None)
    request = Request(
        project_dir=project_dir.resolve(),
        cwd=Path.cwd(),
        inputs=inputs,
        interactive=interactive,
    )
    if problems:
        # Listed together with the problems of the values (setup's resolve), in one exit 2.
        problems += _value_problems(request)
        raise InputError(problems)
    ui = UI()
    render(setup_result(run(request, ui)), json_output, ui)
    return EXIT_OK


def _value_problems(request: "Request") -> list[str]:
    """The values' problems, when the inputs themselves had some (an unknown answers-file key,
    say): the person then fixes both at once. A run without input problems finds these in
    setup itself, with the project loaded once."""
    from wizard.config.resolve import build
    from wizard.errors import InputError
    from wizard.files.project import load_project

    if request.interactive:
        return []
    try:
        project = load_project(request.project_dir)
        build(
            project.layered(request.inputs),
            cwd=request.cwd,
            existing_documents=project.documents,
            documents_root=project.stack.documents_root,
        )
    except InputError as exc:
        return exc.problems
    return []


@app.command(epilog=EXIT_CODES_HELP)
def check(
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            help="Keep retrying the database for up to SECONDS, 0 to "
            f"{MAX_WAIT_SECONDS} (after `docker compose up -d`).",
        ),
    ] = 0.0,
    db_timeout: Annotated[
        int, typer.Option("--db-timeout", help="Seconds per connection attempt, 2 to 600.")
    ] = 5,
) -> None:
    """Validate the deployment (.env, ports, database) without changing anything."""

    def body() -> int:
        from wizard.commands.check import run_checks
        from wizard.config.model import parse_db_timeout
        from wizard.errors import InputError
        from wizard.ui.console import render

        problems = []
        if not 0 <= wait <= MAX_WAIT_SECONDS:  # also false for nan
            problems.append(
                f"--wait: {wait:g} is not valid; give the seconds to wait, 0 to {MAX_WAIT_SECONDS}"
            )
        _, problem = parse_db_timeout(str(db_timeout), "--db-timeout")
        if problem:
            problems.append(problem)
        if problems:
            raise InputError(problems)
        report = run_checks(project_dir.resolve(), db_timeout=db_timeout, wait_seconds=wait)
        result = report.result()
        render(result, json_output, only_errors=True)
        return EXIT_OK if result.ok else EXIT_CHECK_FAILED

    run_command(body, json_output)


@app.command(epilog=EXIT_CODES_HELP)
def show(project_dir: ProjectDir = Path("."), json_output: JsonFlag = False) -> None:
    """Print the current configuration, secrets masked, and where each value came from."""

    def body() -> int:
        from wizard.commands.show import show as show_configuration
        from wizard.ui.console import render

        render(show_configuration(project_dir), json_output, only_errors=True)
        return EXIT_OK

    run_command(body, json_output)


@app.command(epilog=EXIT_CODES_HELP)
def rollback(
    project_dir: ProjectDir = Path("."),
    to: Annotated[
        str | None, typer.Option("--to", help="Backup set (timestamp) to restore; default newest.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    non_interactive: Annotated[
        bool, typer.Option("--non-interactive", envvar="WIZARD_NON_INTERACTIVE")
    ] = False,
    json_output: JsonFlag = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Restore even a PostgreSQL password the server does not take."
        ),
    ] = False,
) -> None:
    """Restore a backup set (itself backed up first, so a second rollback undoes the first)."""

    def body() -> int:
        from wizard.commands.rollback import rollback as restore

        def confirm(question: str) -> bool:
            from wizard.ui import prompter

            return prompter.confirm(question, default=False)

        from wizard.ui.console import render

        ask = interactive_session(non_interactive) and not yes
        confirmed = confirm if ask else None
        render(restore(project_dir, to=to, confirm=confirmed, force=force), json_output)
        return EXIT_OK

    run_command(body, json_output)


def register_later_commands(command: str | None) -> None:
    """`wizard up`, `down` and `export` (their flags and bodies live with them): in full only the
    one argv names, the others by name and help alone. typer builds every option of every
    registered command at each start, which `wizard --help` and `wizard setup` would pay for."""

    def stub(help_text: str) -> Any:
        def listed() -> None:
            pass

        listed.__doc__ = help_text
        return listed

    app.registered_commands = [c for c in app.registered_commands if c.name not in ("up", "down")]
    app.registered_groups = [g for g in app.registered_groups if g.name != "export"]
    if command == "export":
        from wizard.cli.export import export_app

        app.add_typer(export_app, name="export")
    else:
        app.add_typer(typer.Typer(help=EXPORT_HELP), name="export")
    for name, function, epilog in (
        ("up", up_cli.up, up_cli.EXIT_CODES_HELP),
        ("down", up_cli.down, EXIT_CODES_HELP),
    ):
        body = function if command == name else stub((function.__doc__ or "").split("\n")[0])
        app.command(name, epilog=epilog)(body)


EXPORT_HELP = "Hand the configured deployment to another runtime."


def main(argv: list[str] | None = None) -> None:
    """`wizard` alone, or with setup's flags only, means `wizard setup`.

    SIGTERM (a CI job's timeout, `docker stop`, systemd) is taken as Ctrl-C for the whole run, so
    it gets the same clean-up (a rotated password set back, no half-written file) and exit 130.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args and not interactive_session(False):
        # Without a person to answer, a bare `wizard` must not re-configure the directory
        # with every default: CI calls `wizard setup --non-interactive` by name.
        sys.stderr.write(
            "error: no command, and no terminal to ask the questions at: run `wizard setup "
            "--non-interactive --doc-dir DIR ...` (or another command below)\n\n"
        )
        app(args=["--help"], prog_name="wizard", standalone_mode=False)
        raise CommandExit(EXIT_INPUT)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help")):
        args.insert(0, "setup")
    accounts_commands.register(app, args[0])
    register_later_commands(args[0])
    restore_signals = take_interrupts()
    try:
        app(args=args, prog_name="wizard")
    except CommandExit:
        raise
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            # typer caught an interrupt before a command body ran, and said nothing.
            fail(EXIT_INTERRUPTED, ["interrupted: nothing was written"], False)
        raise
    finally:
        restore_signals()
