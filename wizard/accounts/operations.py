"""What the accounts commands share (the connection, the schema check, tables),
and what `wizard token` and `wizard db` do; the users' commands are in user_operations, the
API keys' in key_operations. Checked values in, a Result (wizard.result) out.

Nothing here prints, prompts or reads stdin; the commands module does that and renders the
Result. A password or key made here appears once in the Result (`output` and `data`) and
nowhere else: not in messages, not in errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wizard.accounts.errors import AccountsError, Unavailable
from wizard.result import MessageKind, Result

if TYPE_CHECKING:
    from wizard.accounts.unit import Accounts, Repositories
    from wizard.host.db_values import DbTarget

T = TypeVar("T")
ADMIN_COMMAND = "wizard user create USERNAME --email EMAIL --admin"


@dataclass(frozen=True)
class NewPassword:
    value: str = field(repr=False)
    generated: bool


@dataclass(frozen=True)
class AccountsDatabase:
    """Where the accounts live: the target and the Accounts factory over it."""

    target: DbTarget
    accounts: Accounts


def connect(project_dir: Path, timeout: int) -> AccountsDatabase:
    """The deployment's database as `check` reaches it, read from `.env` (InputError without
    one; Unavailable when .env cannot say where, or the server does not answer)."""
    from wizard.accounts.unit import Accounts
    from wizard.errors import InputError
    from wizard.files.project import load_project
    from wizard.host.targets import target_for_env

    project = load_project(project_dir)
    if not project.configured:
        raise InputError([f"--project-dir: {project_dir} has no .env; run `wizard setup` first"])
    target, reason = target_for_env(project.env)
    if target is None:
        raise Unavailable(f"cannot tell from .env where the database is: {reason}")
    return AccountsDatabase(target, Accounts(_opener(target, timeout)))


def _opener(target: DbTarget, timeout: int) -> Callable[[], Any]:
    """Opens a bounded connection to `target`; Unavailable (the check's message) if it fails."""

    def opened() -> Any:
        from wizard.host.database import ConnectFailed
        from wizard.host.database import connect as open_connection

        try:
            return open_connection(target, timeout)
        except ConnectFailed as failed:
            raise Unavailable(failed.check.message) from None

    return opened


def checked(work: Callable[[Repositories], T]) -> Callable[[Repositories], T]:
    from wizard.accounts.schema import require_schema

    def run(repositories: Repositories) -> T:
        require_schema(repositories.conn)
        return work(repositories)

    return run


def stamp(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain aligned columns: readable, and easy for `cut` and `awk`."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]


# --- sessions and the database ------------------------------------------------------------------


def sessions(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'} (refresh token{'' if count == 1 else 's'})"


def revoke_tokens(accounts: Accounts, username: str | None) -> Result:
    def revoke(repositories: Repositories) -> tuple[str | None, int]:
        if username is None:
            return None, repositories.refresh_tokens.revoke_all(None)
        user = repositories.users.require(username)
        return user.username, repositories.refresh_tokens.revoke_all(user.id)

    name, count = accounts.run(checked(revoke))
    whose = f"of {name}" if name else "of every user"
    return Result(
        data={"ok": True, "user": name, "revoked_tokens": count},
        messages=[(MessageKind.SUCCESS, f"Revoked {sessions(count)} {whose}.")],
    )


def _status(repositories: Repositories) -> dict[str, Any]:
    from wizard.accounts.references import owned_rows
    from wizard.accounts.schema import alembic_revision, inspect_schema
    from wizard.host.database import format_server_version

    state = inspect_schema(repositories.conn)
    counts: dict[str, int] | None = None
    owned: list[dict[str, Any]] = []
    if state.compatible:
        counts = {
            "users": repositories.users.count(),
            "admins": repositories.users.count_admins(),
            "active_api_keys": repositories.api_keys.count_active(),
            "active_refresh_tokens": repositories.refresh_tokens.count_active(),
        }
        owned = [held.as_json() for held in owned_rows(repositories.conn)]
    return {
        "server": format_server_version(repositories.conn.info.server_version),
        "schema": {
            "present": state.present,
            "compatible": state.compatible,
            "problem": state.problem(),
            "alembic_revision": alembic_revision(repositories.conn) if state.present else None,
        },
        "counts": counts,
        "owned_rows": owned,
    }


def db_status(connection: AccountsDatabase) -> Result:
    """The server, the schema (and its Alembic revision), the accounts' counts and, per table
    that refers to users, how many rows the accounts own there."""
    from wizard.accounts.schema import revision_warning

    report = connection.accounts.run(_status)
    schema, counts = report["schema"], report["counts"]
    rows = [["server", f"PostgreSQL {report['server']} at {connection.target.where}"]]
    rows.append(["schema", "present and compatible" if schema["compatible"] else schema["problem"]])
    if schema["present"]:
        rows.append(["alembic revision", schema["alembic_revision"] or "-"])
    if counts is not None:
        rows += [[name.replace("_", " "), str(value)] for name, value in counts.items()]
    rows += [
        [f"rows in {held['table']}.{held['column']}", f"{held['rows']} ({held['on_delete']})"]
        for held in report["owned_rows"]
    ]
    messages: list[tuple[MessageKind, str]] = []
    warning = revision_warning(schema["alembic_revision"]) if schema["present"] else None
    if warning is not None:
        messages.append((MessageKind.WARN, warning[0].upper() + warning[1:] + "."))
    if counts is not None and counts["admins"] == 0:
        messages.append((MessageKind.WARN, f"No active administrator: {ADMIN_COMMAND}"))
    return Result(
        data={"ok": bool(schema["compatible"]), **report, "warnings": [w for _, w in messages]},
        output=table(["WHAT", "STATE"], rows),
        messages=messages,
        ok=bool(schema["compatible"]),
    )


def db_cleanup(accounts: Accounts) -> Result:
    def cleanup(repositories: Repositories) -> tuple[int, int]:
        return repositories.refresh_tokens.cleanup(), repositories.api_keys.cleanup_expired()

    tokens, keys = accounts.run(checked(cleanup))
    return Result(
        data={"ok": True, "deleted_refresh_tokens": tokens, "deleted_api_keys": keys},
        messages=[
            (MessageKind.SUCCESS,
             f"Deleted {tokens} expired or revoked refresh tokens and {keys} expired API keys."),
        ],
    )  # fmt: skip


# --- for `wizard check` -------------------------------------------------------------------------


def _no_admin(users: int) -> str:
    """What the stack will do about a missing administrator, which depends on its users."""
    if users == 0:
        return "none yet: whoever registers first in the web UI becomes one; create one now: "
    return (
        f"none active, and the stack will not make one: it promotes only the first user of an "
        f"empty table and has {users}; promote one (wizard user promote USERNAME) or create one: "
    )


def check_rows(target: DbTarget, timeout: int) -> list[tuple[str, str, str]]:
    """The "schema" and "administrator" rows of `wizard check` as (name, status, detail); a
    missing schema or administrator is a warning (a stack that has not started yet has neither).
    """
    from wizard.accounts.schema import SchemaState, inspect_schema
    from wizard.accounts.unit import Accounts

    def look(repositories: Repositories) -> tuple[SchemaState, int, int]:
        state = inspect_schema(repositories.conn)
        if not state.compatible:
            return state, 0, 0
        return state, repositories.users.count_admins(), repositories.users.count()

    try:
        with Accounts(_opener(target, timeout)) as accounts:
            state, admins, users = accounts.run(look)
    except Unavailable as exc:
        return [("schema", "skip", f"not checked: {exc}")]
    except AccountsError as exc:
        return [("schema", "warn", f"not checked: {exc}")]
    problem = state.problem()
    if not state.present:
        # A stack that has not started yet: nothing is wrong, the web UI creates them.
        return [
            ("schema", "skip", "not created yet: the web UI creates its tables when the stack "
                               "starts (`docker compose up -d`)"),
            ("administrator", "skip", "not checked: no users table yet"),
        ]  # fmt: skip
    if problem is not None:
        return [("schema", "warn", problem), ("administrator", "skip", "not checked")]
    schema = ("schema", "ok", "the stack's users, api_keys and refresh_tokens tables are there")
    if admins:
        return [
            schema,
            ("administrator", "ok", f"{admins} active administrator{'s' if admins > 1 else ''}"),
        ]
    return [schema, ("administrator", "warn", _no_admin(users) + ADMIN_COMMAND)]
