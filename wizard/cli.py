"""Command line: argv in, exit code out. The only module that knows about exit codes.

Exit codes: 0 done; 1 a check failed (port taken, database refused, lock held); 2 invalid or
missing input; 130 interrupted (Ctrl-C, SIGTERM) or cancelled (nothing written, unless the message
names the files that were).

Heavy modules (questionary, psycopg, rich) are imported inside the commands, so `--help` stays
fast. Flags are taken as plain strings and validated together, so every problem is listed at once.
"""

# No `from __future__ import annotations`: typer would then eval every parameter's annotation
# string at each start (about 6 ms of a run that must start fast).
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wizard.accounts import commands as accounts_commands
from wizard.config.settings import SETTINGS

if TYPE_CHECKING:
    from types import FrameType

    from wizard.commands.setup import Request
    from wizard.files.writer import WriteResult

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130

# `check --wait`: an hour is longer than any database takes to start; inf or nan is a typo.
MAX_WAIT_SECONDS = 3600

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 a check failed (port taken, database refused, another wizard "
    "running); 2 invalid or missing input; 130 interrupted or cancelled (nothing written "
    "unless the message names files)."
)

app = typer.Typer(
    help="Set up the document-search stack: .env, compose override, checks. "
    "`wizard --version` (-V) prints the version.\n\n" + EXIT_CODES_HELP,
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

COMMANDS = ("setup", "check", "show", "rollback", *accounts_commands.ACCOUNT_COMMANDS)
# The WIZARD_* variables typer reads for `setup` (every other one is an answer:
# wizard.config.answers).
SETUP_VARIABLES = (
    "WIZARD_PROJECT_DIR",
    "WIZARD_NON_INTERACTIVE",
    "WIZARD_ANSWERS",
    "WIZARD_JSON",
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


def with_setting_flags(command: Any) -> Any:
    """`command` with a `--key` option for each plain setting (config/settings.py) in place of
    its `**settings`: typer reads the signature, and a new setting is then one row."""
    import inspect

    signature = inspect.signature(command)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    added = [
        inspect.Parameter(
            setting.key,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[str | None, _opt(setting.help, setting.flag)],
        )
        for setting in SETTINGS
    ]
    command.__signature__ = signature.replace(parameters=[*fixed, *added])
    command.__annotations__ = {
        **{k: v for k, v in command.__annotations__.items() if k != "settings"},
        **{p.name: p.annotation for p in added},
    }
    return command


@app.command(epilog=EXIT_CODES_HELP)
@with_setting_flags
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
    yes: Annotated[bool | None, _opt("Skip the confirmation.", "--yes", "-y")] = None,
    dry_run: Annotated[
        bool | None, _opt("Show the diff and checks; write nothing.", "--dry-run")
    ] = None,
    deployment: Annotated[str | None, _opt("cpu or gpu.")] = None,
    gpu_ids: Annotated[
        str | None, _opt("GPU indexes or UUIDs, comma-separated (default all).")
    ] = None,
    doc_dir: Annotated[
        list[str] | None, _opt("Document directory (repeatable).", "--doc-dir")
    ] = None,
    create_doc_dirs: Annotated[bool | None, _opt("Create missing document directories.")] = None,
    postgres_mode: Annotated[str | None, _opt("bundled (default) or external.")] = None,
    postgres_host: Annotated[str | None, _opt("External server host.")] = None,
    postgres_port: Annotated[str | None, _opt("External server port (default 5432).")] = None,
    postgres_db: Annotated[str | None, _opt("Database name (default docsearch).")] = None,
    postgres_user: Annotated[str | None, _opt("Role name (default docsearch).")] = None,
    postgres_sslmode: Annotated[
        str | None, _opt("disable, prefer, require, verify-ca or verify-full.")
    ] = None,
    postgres_sslrootcert: Annotated[str | None, _opt("CA file for the verify modes.")] = None,
    postgres_host_port: Annotated[
        str | None, _opt("Host port of the bundled PostgreSQL (default 5432).")
    ] = None,
    postgres_password_file: Annotated[
        str | None,
        _opt(
            "Read the PostgreSQL password from this file ('-' = stdin), or use "
            "WIZARD_POSTGRES_PASSWORD. Default: keep the current one, or generate."
        ),
    ] = None,
    rotate_postgres_password: Annotated[
        bool | None, _opt("Change the PostgreSQL password, on the server too.")
    ] = None,
    jwt_secret_file: Annotated[
        str | None,
        _opt("Read the JWT secret from this file ('-' = stdin), or use WIZARD_JWT_SECRET."),
    ] = None,
    rotate_jwt_secret: Annotated[
        bool | None, _opt("Generate a new JWT secret (signs every user out).")
    ] = None,
    rotate: Annotated[
        list[str] | None,
        _opt(
            "Generate a new value for one of the stack's other secrets (repeatable): "
            "REDIS_PASSWORD, QDRANT_API_KEY or CONNECTOR_SECRETS_KEY.",
            "--rotate",
        ),
    ] = None,
    db_timeout: Annotated[
        str | None, _opt("Seconds per database connection attempt (default 5).")
    ] = None,
    skip_db_check: Annotated[bool | None, _opt("Do not validate the database connection.")] = None,
    skip_port_check: Annotated[bool | None, _opt("Do not check the published ports.")] = None,
    start_db: Annotated[
        bool | None, _opt("Start the bundled PostgreSQL and validate it (needs docker).")
    ] = None,
    # One flag per row of wizard/config/settings.py (`with_setting_flags` below).
    **settings: str | None,
) -> None:
    """Run the five steps (or take every answer from flags, WIZARD_* variables, --answers)."""
    flags = {key: value for key, value in locals().items() if value is not None}
    flags.pop("settings", None)
    flags.update({key: value for key, value in settings.items() if value is not None})
    for meta in ("project_dir", "non_interactive", "answers", "json_output"):
        flags.pop(meta, None)
    if not doc_dir:
        flags.pop("doc_dir", None)
    if not rotate:
        flags.pop("rotate", None)
    _run(
        lambda: _setup(project_dir, non_interactive, answers, json_output, flags),
        json_output,
    )


def _setup(
    project_dir: Path,
    non_interactive: bool,
    answers_path: Path | None,
    json_output: bool,
    flags: dict[str, Any],
) -> int:
    from wizard.commands.setup import Request, run, setup_result
    from wizard.config.answers import OPTIONS, load_inputs
    from wizard.config.model import InputError
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
    if not interactive:
        problems += _input_problems(request)
    if problems:
        raise InputError(problems)
    ui = UI()
    render(setup_result(run(request, ui)), json_output, ui)
    return EXIT_OK


def _input_problems(request: "Request") -> list[str]:
    """Every problem of the values, so that they are listed together with the problems of the
    inputs they came from (an unknown answers-file key, say) in one exit 2."""
    from wizard.commands.setup import layered
    from wizard.config.contract import documents_root
    from wizard.config.model import InputError
    from wizard.config.resolve import build
    from wizard.files.project import load_project

    try:
        project = load_project(request.project_dir)
        build(
            layered(request, project),
            cwd=request.cwd,
            existing_documents=project.documents,
            documents_root=documents_root(project.base_services),
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
        from wizard.config.model import MAX_DB_TIMEOUT, InputError, parse_positive_int
        from wizard.ui.console import render

        problems = []
        if not 0 <= wait <= MAX_WAIT_SECONDS:  # also false for nan
            problems.append(
                f"--wait: {wait:g} is not valid; give the seconds to wait, 0 to {MAX_WAIT_SECONDS}"
            )
        _, problem = parse_positive_int(str(db_timeout), "--db-timeout", 2, MAX_DB_TIMEOUT)
        if problem:
            problems.append(problem)
        if problems:
            raise InputError(problems)
        report = run_checks(project_dir.resolve(), db_timeout=db_timeout, wait_seconds=wait)
        result = report.result()
        render(result, json_output, only_errors=True)
        return EXIT_OK if result.ok else EXIT_CHECK_FAILED

    _run(body, json_output)


@app.command(epilog=EXIT_CODES_HELP)
def show(project_dir: ProjectDir = Path("."), json_output: JsonFlag = False) -> None:
    """Print the current configuration, secrets masked, and where each value came from."""

    def body() -> int:
        from wizard.commands.show import show as show_configuration
        from wizard.ui.console import render

        render(show_configuration(project_dir), json_output, only_errors=True)
        return EXIT_OK

    _run(body, json_output)


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

    _run(body, json_output)


def _run(action: Any, json_output: bool) -> None:
    """Run a command body; turn our exceptions into one clear message and an exit code."""
    from wizard.config.model import InputError

    try:
        code = action()
    except InputError as exc:
        code = _fail(EXIT_INPUT, exc.problems, json_output)
    except KeyboardInterrupt:
        code = _fail(EXIT_INTERRUPTED, ["interrupted: nothing was written"], json_output)
    except EOFError:  # Ctrl-D at a prompt: the person ends the input, as a cancel does
        code = _fail(EXIT_INTERRUPTED, ["cancelled: nothing was written"], json_output)
    except Exception as exc:
        from wizard.commands.setup import Cancelled, CheckFailed, Interrupted

        if isinstance(exc, Cancelled):
            code = _fail(EXIT_INTERRUPTED, ["cancelled: nothing was written"], json_output)
        elif isinstance(exc, Interrupted | CheckFailed):
            failed = EXIT_INTERRUPTED if isinstance(exc, Interrupted) else EXIT_CHECK_FAILED
            code = _fail(failed, str(exc).splitlines(), json_output, exc.result)
        else:
            from wizard.files.writer import WriteError

            if isinstance(exc, WriteError):
                code = _fail(EXIT_CHECK_FAILED, [str(exc)], json_output)
            else:
                raise
    raise CommandExit(code)


class CommandExit(SystemExit):
    """The end of a command body, its message printed. Not typer.Exit: typer lets this pass, so
    an exit typer makes itself (130 for an interrupt it caught while parsing) is told apart."""


def _fail(
    code: int, problems: list[str], json_output: bool, written: "WriteResult | None" = None
) -> int:
    """Print the problems (and the failure object with --json). `written` is what the run wrote
    before it failed: a failure after the write reports those files and the backup set too."""
    from wizard.ui.console import UI, print_json

    UI().problems(problems)
    if json_output:
        report: dict[str, Any] = {"ok": False, "exit_code": code, "problems": problems}
        if written is not None:
            report["written"] = list(written.written)
            report["backup"] = written.backup_stamp
        print_json(report)
    return code


def _interrupt(signum: int, frame: "FrameType | None") -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """`wizard` alone at a terminal, or with setup's flags only, means `wizard setup`; alone
    without a terminal it prints the help (exit 2).

    SIGTERM (a CI job's timeout, `docker stop`, systemd) is taken as Ctrl-C for the whole run, so
    it gets the same clean-up (a rotated password set back, no half-written file) and exit 130.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args and not interactive_session(False):
        # Without a terminal a bare `wizard` would re-configure the directory unasked (CI calls
        # `wizard setup`): the help says what there is to run.
        with contextlib.suppress(SystemExit):
            app(args=["--help"], prog_name="wizard")
        raise SystemExit(EXIT_INPUT)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help")):
        args.insert(0, "setup")
    accounts_commands.register(app, args[0])
    previous = signal.getsignal(signal.SIGTERM)
    installed = False
    if previous is not signal.SIG_IGN:  # a SIGTERM someone chose to ignore stays ignored
        try:
            signal.signal(signal.SIGTERM, _interrupt)
            installed = True
        except ValueError:  # not the main thread: signals belong to whoever runs us
            pass
    try:
        app(args=args, prog_name="wizard")
    except CommandExit:
        raise
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            # typer caught an interrupt before a command body ran, and said nothing.
            _fail(EXIT_INTERRUPTED, ["interrupted: nothing was written"], False)
        raise
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
