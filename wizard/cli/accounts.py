"""`wizard user|api-key|token|db ...`: the typer entry of the account commands. argv in, an
Result rendered, an exit code out; what they share (options, checks before connecting,
rendering, reading a password) is in command_support.

Only typer is imported at the top: `wizard --help` must not pay for psycopg, bcrypt or
questionary.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wizard.cli.accounts_support import (
    EXIT_CODES_HELP,
    DbTimeout,
    ForceLastAdmin,
    GeneratePassword,
    JsonFlag,
    NonInteractive,
    PasswordFile,
    ProjectDir,
    confirmation,
    execute,
    make_typer,
    new_password,
    open_database,
    over_accounts,
    raise_if,
    read_key,
    timeout_problems,
)

if TYPE_CHECKING:
    from wizard.accounts.unit import Accounts
    from wizard.result import Result

# The first words of argv that are these commands rather than setup's flags (wizard.cli.main).
ACCOUNT_COMMANDS = ("user", "api-key", "token", "db")

user_app = make_typer(
    "Users of the stack: the first administrator, promotion, password resets, disabling."
)
key_app = make_typer("API keys: created and shown once, listed, revoked, verified.")
token_app = make_typer("Sessions (refresh tokens).")
db_app = make_typer("The stack's account tables: status and clean-up.")


GROUPS = (("user", user_app), ("api-key", key_app), ("token", token_app), ("db", db_app))


def register(app: typer.Typer, command: str | None) -> None:
    """Join the account groups to `app`: in full the one `command` names, the others by name and
    help only. typer builds every command of every group on every start, and these sixteen
    would cost `wizard --help` and `wizard setup` about 9 ms each time. Can be called again (in
    tests, `main` runs many times in one process): it replaces what it added before."""
    app.registered_groups = [
        group for group in app.registered_groups if group.name not in ACCOUNT_COMMANDS
    ]
    for name, group in GROUPS:
        listed = group if name == command else typer.Typer(help=group.info.help)
        app.add_typer(listed, name=name)


# --- wizard user ---------------------------------------------------------------------------------


@user_app.command("create", epilog=EXIT_CODES_HELP)
def user_create(
    username: Annotated[
        str, typer.Argument(help="At least 3 letters (any alphabet), digits or _.")
    ],
    email: Annotated[
        str, typer.Option("--email", help="The user's email address (as the stack checks it).")
    ] = "",
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
    at a terminal, the password is typed twice, hidden. The email is stored as the stack
    stores it (normalized); a name that mixes alphabets is warned about."""

    def body() -> Result:
        from wizard.accounts import user_operations
        from wizard.accounts.rules import (
            email_problems,
            full_name_problems,
            normal_email,
            username_problems,
        )

        problems = timeout_problems(db_timeout) + username_problems(username)
        problems += email_problems(email) if email else ["--email: the user's email is required"]
        if full_name is not None:
            problems += full_name_problems(full_name)
        if if_no_admin and not admin:
            problems.append("--if-no-admin goes with --admin")
        password = new_password(password_file, generate_password, non_interactive, problems)
        raise_if(problems)
        with open_database(project_dir, db_timeout).accounts as accounts:
            return user_operations.create_user(
                accounts, username, normal_email(email), password(), full_name=full_name,
                admin=admin, if_no_admin=if_no_admin,
            )  # fmt: skip

    execute(json_output, body)


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
    from wizard.accounts import user_operations
    from wizard.accounts.users import UserFilter

    which = UserFilter(search=search, admins=admins, inactive=inactive)
    over_accounts(
        project_dir, json_output, db_timeout, lambda a: user_operations.list_users(a, which)
    )


@user_app.command("show", epilog=EXIT_CODES_HELP)
def user_show(
    username: Annotated[str, typer.Argument(help="The user.")],
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """One user: role, state, last login, active API keys and sessions, and the rows of the
    stack's other tables that refer to them (what a delete would meet)."""
    from wizard.accounts import user_operations

    over_accounts(
        project_dir, json_output, db_timeout, lambda a: user_operations.show_user(a, username)
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

    def body() -> Result:
        from wizard.accounts import user_operations

        problems = timeout_problems(db_timeout)
        password = new_password(password_file, generate_password, non_interactive, problems)
        raise_if(problems)
        with open_database(project_dir, db_timeout).accounts as accounts:
            return user_operations.reset_password(accounts, username, password())

    execute(json_output, body)


def _change_user(
    username: str,
    project_dir: Path,
    json_output: bool,
    db_timeout: int,
    *,
    what: str,
    to: bool,
    force: bool = False,
) -> None:
    """disable/enable (`what` "active") or promote/demote (`what` "admin") `username`."""
    from wizard.accounts import user_operations

    def change(accounts: Accounts) -> Result:
        if what == "active":
            return user_operations.set_active(accounts, username, active=to, force=force)
        return user_operations.set_admin(accounts, username, admin=to, force=force)

    over_accounts(project_dir, json_output, db_timeout, change)


@user_app.command("disable", epilog=EXIT_CODES_HELP)
def user_disable(
    username: Annotated[str, typer.Argument(help="The user.")],
    force: ForceLastAdmin = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Disable a user (kept, cannot log in) and end their sessions. The last active
    administrator only with --force."""
    _change_user(username, project_dir, json_output, db_timeout, what="active", to=False,
                 force=force)  # fmt: skip


@user_app.command("enable", epilog=EXIT_CODES_HELP)
def user_enable(
    username: Annotated[str, typer.Argument(help="The user.")],
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Enable a disabled user."""
    _change_user(username, project_dir, json_output, db_timeout, what="active", to=True)


@user_app.command("promote", epilog=EXIT_CODES_HELP)
def user_promote(
    username: Annotated[str, typer.Argument(help="The user.")],
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Make a user an administrator (superuser)."""
    _change_user(username, project_dir, json_output, db_timeout, what="admin", to=True)


@user_app.command("demote", epilog=EXIT_CODES_HELP)
def user_demote(
    username: Annotated[str, typer.Argument(help="The user.")],
    force: ForceLastAdmin = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Take a user's administrator rights away. The last active administrator only with
    --force."""
    _change_user(username, project_dir, json_output, db_timeout, what="admin", to=False,
                 force=force)  # fmt: skip


@user_app.command("delete", epilog=EXIT_CODES_HELP)
def user_delete(
    username: Annotated[str, typer.Argument(help="The user.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Really delete.")] = False,
    cascade: Annotated[
        bool,
        typer.Option("--cascade", help="Also delete the user's data the database would cascade."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go, table by table; delete nothing.")
    ] = False,
    force: ForceLastAdmin = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
    non_interactive: NonInteractive = False,
) -> None:
    """Delete a user with their API keys and refresh tokens. Other data that refers to the
    user (counted table by table from the database's own foreign keys) is deleted only with
    --cascade; data the stack keeps (collections, operations, the audit log) always refuses
    the delete: disable the user instead. Exit 1 when refused; --dry-run exits as the delete
    would."""

    def body() -> Result:
        from wizard.accounts import user_operations

        problems = timeout_problems(db_timeout)
        confirm = confirmation(yes or dry_run, non_interactive, problems)
        raise_if(problems)
        confirm(f"Delete user {username} for good?")
        choice = user_operations.DeleteChoice(cascade=cascade, dry_run=dry_run, force=force)
        with open_database(project_dir, db_timeout).accounts as accounts:
            return user_operations.delete_user(accounts, username, choice)

    execute(json_output, body)


# --- wizard api-key ------------------------------------------------------------------------------


@key_app.command("create", epilog=EXIT_CODES_HELP)
def key_create(
    user: Annotated[str, typer.Option("--user", help="Whose key it is.")] = "",
    name: Annotated[str, typer.Option("--name", help="Unique among the user's keys.")] = "",
    expires_in_days: Annotated[int, typer.Option("--expires-in-days", help="1 to 3650.")] = 365,
    force: Annotated[
        bool, typer.Option("--force", help="Create it even for a disabled user (with a warning).")
    ] = False,
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Create an API key; it is printed once on stdout and only its hash is stored. A disabled
    user gets none without --force (the stack refuses their keys)."""
    from wizard.accounts import key_operations
    from wizard.accounts.rules import key_days_problems, key_name_problems

    def problems() -> list[str]:
        found = [] if user else ["--user: whose key it is is required"]
        return found + key_name_problems(name) + key_days_problems(expires_in_days)

    over_accounts(
        project_dir,
        json_output,
        db_timeout,
        lambda a: key_operations.create_key(a, user, name, expires_in_days, force=force),
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
    """List API keys (never the keys or their hashes); ID is the short id inside each key."""
    from wizard.accounts import key_operations

    over_accounts(project_dir, json_output, db_timeout, lambda a: key_operations.list_keys(a, user))


@key_app.command("revoke", epilog=EXIT_CODES_HELP)
def key_revoke(
    key_id: Annotated[
        str,
        typer.Argument(
            metavar="ID", help="The key's id, or the short id inside it (smtk_1c06c582)."
        ),
    ],
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Revoke an API key: the app refuses it from now on."""
    from wizard.accounts import key_operations
    from wizard.accounts.rules import key_reference_problems

    over_accounts(
        project_dir, json_output, db_timeout, lambda a: key_operations.revoke_key(a, key_id),
        lambda: key_reference_problems(key_id),
    )  # fmt: skip


@key_app.command("verify", epilog=EXIT_CODES_HELP)
def key_verify(
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
    non_interactive: NonInteractive = False,
) -> None:
    """Is the key on stdin valid? Exit 0 and its owner on stdout, or exit 1 and why not. Not
    counted as a use of the key."""

    def body() -> Result:
        from wizard.accounts import key_operations

        problems = timeout_problems(db_timeout)
        key = read_key(non_interactive)
        if not key:
            problems.append("stdin: give the API key on stdin")
        raise_if(problems)
        with open_database(project_dir, db_timeout).accounts as accounts:
            return key_operations.verify_key(accounts, key)

    execute(json_output, body)


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

    over_accounts(
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

    def body() -> Result:
        from wizard.accounts import operations

        raise_if(timeout_problems(db_timeout))
        connection = open_database(project_dir, db_timeout)
        with connection.accounts:
            return operations.db_status(connection)

    execute(json_output, body)


@db_app.command("cleanup", epilog=EXIT_CODES_HELP)
def db_cleanup(
    project_dir: ProjectDir = Path("."),
    json_output: JsonFlag = False,
    db_timeout: DbTimeout = 5,
) -> None:
    """Delete expired and revoked refresh tokens and expired API keys; says how many."""
    from wizard.accounts import operations

    over_accounts(project_dir, json_output, db_timeout, operations.db_cleanup)
