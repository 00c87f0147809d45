"""`wizard user|api-key|token|db ...`: argv in, an Outcome rendered, an exit code out.

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
    from wizard.accounts.operations import AccountsDatabase, NewPassword, Outcome
    from wizard.accounts.unit import Accounts

# The first words of argv that are these commands rather than setup's flags (wizard.cli.main).
ACCOUNT_COMMANDS = ("user", "api-key", "token", "db")

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the operation failed (no database, no such user, name taken, key "
    "not valid); 2 invalid or missing input; 130 interrupted (nothing changed)."
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


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text + "\n\n" + EXIT_CODES_HELP,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


user_app = _typer("Users of the stack: the first administrator, password resets, disabling.")
key_app = _typer("API keys: created and shown once, listed, revoked, verified.")
token_app = _typer("Sessions (refresh tokens).")
db_app = _typer("The stack's account tables: status and clean-up.")


GROUPS = (("user", user_app), ("api-key", key_app), ("token", token_app), ("db", db_app))


def register(app: typer.Typer, command: str | None) -> None:
    """Join the account groups to `app`: in full the one `command` names, the others by name and
    help only. typer builds every command of every group on every start, and these thirteen
    would cost `wizard --help` and `wizard setup` about 9 ms each time. Can be called again (in
    tests, `main` runs many times in one process): it replaces what it added before."""
    app.registered_groups = [
        group for group in app.registered_groups if group.name not in ACCOUNT_COMMANDS
    ]
    for name, group in GROUPS:
        listed = group if name == command else typer.Typer(help=group.info.help)
        app.add_typer(listed, name=name)


# --- running and rendering ----------------------------------------------------------------------


def _execute(json_output: bool, body: Callable[[], Outcome]) -> None:
    """Run `body`, render its Outcome, map the layer's errors to exit codes (via the CLI's one
    mapping: InputError 2, CheckFailed 1, KeyboardInterrupt 130)."""
    from wizard.cli import _run

    def run() -> int:
        from wizard.accounts.errors import AccountsError, InvalidInput

        try:
            outcome = body()
        except InvalidInput as exc:
            from wizard.config.model import InputError

            raise InputError(exc.problems) from None
        except AccountsError as exc:
            from wizard.commands.setup import CheckFailed

            raise CheckFailed(str(exc)) from None
        return render(outcome, json_output)

    _run(run, json_output)


def render(outcome: Outcome, json_output: bool) -> int:
    """The one place an Outcome is printed: its data as JSON, or its output lines, on stdout;
    its messages on stderr."""
    from wizard.ui.console import UI, print_json, print_text

    if json_output:
        print_json(outcome.data)
    else:
        for line in outcome.output:
            print_text(line)
    ui = UI()
    show = {"success": ui.success, "info": ui.info, "warn": ui.warn, "problem": ui.problem}
    for kind, text in outcome.messages:
        show[kind](text)
    return outcome.code


def _over_accounts(
    project_dir: Path,
    json_output: bool,
    db_timeout: int,
    operation: Callable[[Accounts], Outcome],
    problems: Callable[[], list[str]] = list,
) -> None:
    """Check the values (`problems` adds the command's own), connect, run `operation`."""

    def body() -> Outcome:
        _raise_if(_problems(db_timeout) + problems())
        with _connect(project_dir, db_timeout).accounts as accounts:
            return operation(accounts)

    _execute(json_output, body)


def _problems(db_timeout: int) -> list[str]:
    from wizard.config.model import MAX_DB_TIMEOUT, parse_positive_int

    _, problem = parse_positive_int(str(db_timeout), "--db-timeout", 2, MAX_DB_TIMEOUT)
    return [problem] if problem else []


def _raise_if(problems: list[str]) -> None:
    if problems:
        from wizard.config.model import InputError

        raise InputError(problems)


def _connect(project_dir: Path, db_timeout: int) -> AccountsDatabase:
    from wizard.accounts.operations import connect

    return connect(project_dir.resolve(), db_timeout)


def _new_password(
    password_file: str | None, generate: bool, non_interactive: bool, problems: list[str]
) -> Callable[[], NewPassword]:
    """Checks what can be checked now (adding to `problems`); the returned call reads, prompts
    or generates the password once every other value is known to be fine."""
    from wizard.accounts.hashing import generate_password
    from wizard.accounts.operations import NewPassword
    from wizard.accounts.rules import password_problems
    from wizard.cli import interactive_session

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


# --- wizard user ---------------------------------------------------------------------------------


@user_app.command("create", epilog=EXIT_CODES_HELP)
def user_create(
    username: Annotated[str, typer.Argument(help="Letters, digits or _, at least 3.")],
    email: Annotated[str, typer.Option("--email", help="The user's email address.")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="Make the user a superuser.")] = False,
    if_no_admin: Annotated[
        bool,
        typer.Option(
            "--if-no-admin",
            help="With --admin: do nothing (exit 0) when an active administrator exists.",
        ),
    ] = False,
    full_name: Annotated[
        str | None, typer.Option("--full-name", help="Display name.", show_default=False)
    ] = None,
    password_file: PasswordFile = None,
    generate_password: GeneratePassword = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
    non_interactive: NonInteractive = False,
) -> None:
    """Create a user (with --admin, the stack's administrator). Without a password source and
    at a terminal, the password is typed twice, hidden."""

    def body() -> Outcome:
        from wizard.accounts import operations
        from wizard.accounts.rules import email_problems, full_name_problems, username_problems

        problems = _problems(db_timeout) + username_problems(username)
        problems += email_problems(email) if email else ["--email: the user's email is required"]
        if full_name is not None:
            problems += full_name_problems(full_name)
        if if_no_admin and not admin:
            problems.append("--if-no-admin goes with --admin")
        password = _new_password(password_file, generate_password, non_interactive, problems)
        _raise_if(problems)
        with _connect(project_dir, db_timeout).accounts as accounts:
            return operations.create_user(
                accounts, username, email, password(), full_name=full_name, admin=admin,
                if_no_admin=if_no_admin,
            )  # fmt: skip

    _execute(json_output, body)


@user_app.command("list", epilog=EXIT_CODES_HELP)
def user_list(
    search: Annotated[
        str | None,
        typer.Option("--search", help="Part of the username, email or name.", show_default=False),
    ] = None,
    admins: Annotated[bool, typer.Option("--admins", help="Only administrators.")] = False,
    inactive: Annotated[bool, typer.Option("--inactive", help="Only disabled users.")] = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """List users (never their password hashes)."""
    from wizard.accounts import operations

    _over_accounts(
        project_dir,
        json_output,
        db_timeout,
        lambda accounts: operations.list_users(
            accounts, search=search, admins=admins, inactive=inactive
        ),
    )


@user_app.command("reset-password", epilog=EXIT_CODES_HELP)
def user_reset_password(
    username: Annotated[str, typer.Argument(help="The user.")],
    password_file: PasswordFile = None,
    generate_password: GeneratePassword = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
    non_interactive: NonInteractive = False,
) -> None:
    """Set a new password and end the user's sessions (revokes their refresh tokens)."""

    def body() -> Outcome:
        from wizard.accounts import operations

        problems = _problems(db_timeout)
        password = _new_password(password_file, generate_password, non_interactive, problems)
        _raise_if(problems)
        with _connect(project_dir, db_timeout).accounts as accounts:
            return operations.reset_password(accounts, username, password())

    _execute(json_output, body)


def _set_active(
    username: str, active: bool, project_dir: Path, json_output: bool, db_timeout: int
) -> None:
    from wizard.accounts import operations

    _over_accounts(
        project_dir,
        json_output,
        db_timeout,
        lambda accounts: operations.set_active(accounts, username, active=active),
    )


@user_app.command("disable", epilog=EXIT_CODES_HELP)
def user_disable(
    username: Annotated[str, typer.Argument(help="The user.")],
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Disable a user (kept, cannot log in) and end their sessions."""
    _set_active(username, False, project_dir, json_output, db_timeout)


@user_app.command("enable", epilog=EXIT_CODES_HELP)
def user_enable(
    username: Annotated[str, typer.Argument(help="The user.")],
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Enable a disabled user."""
    _set_active(username, True, project_dir, json_output, db_timeout)


@user_app.command("delete", epilog=EXIT_CODES_HELP)
def user_delete(
    username: Annotated[str, typer.Argument(help="The user.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Really delete.")] = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
    non_interactive: NonInteractive = False,
) -> None:
    """Delete a user with their API keys and refresh tokens. When other data (collections,
    ...) still refers to the user nothing is deleted: disable them instead."""

    def body() -> Outcome:
        from wizard.accounts import operations
        from wizard.cli import interactive_session

        problems = _problems(db_timeout)
        ask = not yes and interactive_session(non_interactive)
        if not yes and not ask:
            problems.append("--yes: deleting a user needs it without a terminal")
        _raise_if(problems)
        if ask:
            from wizard.ui import prompter

            if not prompter.confirm(f"Delete user {username} for good?", default=False):
                from wizard.commands.setup import Cancelled

                raise Cancelled()
        with _connect(project_dir, db_timeout).accounts as accounts:
            return operations.delete_user(accounts, username)

    _execute(json_output, body)


# --- wizard api-key ------------------------------------------------------------------------------


@key_app.command("create", epilog=EXIT_CODES_HELP)
def key_create(
    user: Annotated[str, typer.Option("--user", help="Whose key it is.")] = "",
    name: Annotated[str, typer.Option("--name", help="Unique among the user's keys.")] = "",
    expires_in_days: Annotated[int, typer.Option("--expires-in-days", help="1 to 3650.")] = 365,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Create an API key; it is printed once on stdout and only its hash is stored."""
    from wizard.accounts import operations
    from wizard.accounts.rules import key_days_problems, key_name_problems

    def problems() -> list[str]:
        found = [] if user else ["--user: whose key it is is required"]
        return found + key_name_problems(name) + key_days_problems(expires_in_days)

    _over_accounts(
        project_dir,
        json_output,
        db_timeout,
        lambda accounts: operations.create_key(accounts, user, name, expires_in_days),
        problems,
    )


@key_app.command("list", epilog=EXIT_CODES_HELP)
def key_list(
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's keys.", show_default=False)
    ] = None,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """List API keys (never the keys or their hashes)."""
    from wizard.accounts import operations

    _over_accounts(
        project_dir, json_output, db_timeout, lambda accounts: operations.list_keys(accounts, user)
    )


@key_app.command("revoke", epilog=EXIT_CODES_HELP)
def key_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (api-key list).")],
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Revoke an API key: the app refuses it from now on."""
    from wizard.accounts import operations

    _over_accounts(
        project_dir,
        json_output,
        db_timeout,
        lambda accounts: operations.revoke_key(accounts, key_id),
    )


@key_app.command("verify", epilog=EXIT_CODES_HELP)
def key_verify(
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
    non_interactive: NonInteractive = False,
) -> None:
    """Is the key on stdin valid? Exit 0 and its owner on stdout, or exit 1 and why not. Not
    counted as a use of the key."""

    def body() -> Outcome:
        from wizard.accounts import operations
        from wizard.cli import interactive_session

        problems = _problems(db_timeout)
        if interactive_session(non_interactive):
            from wizard.ui import prompter

            key = prompter.secret("API key (hidden)")
        else:
            from wizard.config.answers import read_secret_file

            key = read_secret_file("-", "stdin")
        key = key.strip()
        if not key:
            problems.append("stdin: give the API key on stdin")
        _raise_if(problems)
        with _connect(project_dir, db_timeout).accounts as accounts:
            return operations.verify_key(accounts, key)

    _execute(json_output, body)


# --- wizard token, wizard db ---------------------------------------------------------------------


@token_app.command("revoke", epilog=EXIT_CODES_HELP)
def token_revoke(
    user: Annotated[
        str | None, typer.Option("--user", help="End this user's sessions.", show_default=False)
    ] = None,
    all_users: Annotated[bool, typer.Option("--all", help="End everyone's sessions.")] = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Revoke refresh tokens: the user (or everyone) must log in again."""
    from wizard.accounts import operations

    def problems() -> list[str]:
        return ["--user USERNAME or --all: give exactly one"] if (user is None) != all_users else []

    _over_accounts(
        project_dir,
        json_output,
        db_timeout,
        lambda accounts: operations.revoke_tokens(accounts, user),
        problems,
    )


@db_app.command("status", epilog=EXIT_CODES_HELP)
def db_status(
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """The server, whether the stack's tables are there, and counts of users, administrators,
    active API keys and sessions. Exit 1 when the tables are missing."""

    def body() -> Outcome:
        from wizard.accounts import operations

        _raise_if(_problems(db_timeout))
        connection = _connect(project_dir, db_timeout)
        with connection.accounts:
            return operations.db_status(connection)

    _execute(json_output, body)


@db_app.command("cleanup", epilog=EXIT_CODES_HELP)
def db_cleanup(
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Delete expired and revoked refresh tokens and expired API keys; says how many."""
    from wizard.accounts import operations

    _over_accounts(project_dir, json_output, db_timeout, operations.db_cleanup)
