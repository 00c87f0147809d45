"""What each accounts command does, over the repositories: checked values in, an Outcome out.

Nothing here prints, prompts or reads stdin; the commands module does that and renders the
Outcome. A password or key made here appears once in the Outcome (`output` and `data`) and
nowhere else: not in messages, not in errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wizard.accounts.errors import AccountsError, StillReferenced, Unavailable

if TYPE_CHECKING:
    from wizard.accounts.unit import Accounts, Repositories
    from wizard.host.database import DbTarget

T = TypeVar("T")
ADMIN_COMMAND = "wizard user create USERNAME --email EMAIL --admin"


@dataclass
class Outcome:
    """`data` is the --json object; `output` the lines for stdout in text mode (a table, the
    one-time password or key); `messages` (kind, text) go to stderr; `code` is the exit code."""

    data: dict[str, Any]
    output: list[str] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    code: int = 0


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


def _checked(work: Callable[[Repositories], T]) -> Callable[[Repositories], T]:
    from wizard.accounts.schema import require_schema

    def run(repositories: Repositories) -> T:
        require_schema(repositories.conn)
        return work(repositories)

    return run


def _stamp(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain aligned columns: readable, and easy for `cut` and `awk`."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]


# --- users --------------------------------------------------------------------------------------


def create_user(
    accounts: Accounts,
    username: str,
    email: str,
    password: NewPassword,
    *,
    full_name: str | None,
    admin: bool,
    if_no_admin: bool,
) -> Outcome:
    from wizard.accounts.hashing import hash_password
    from wizard.accounts.users import User

    def admins(repositories: Repositories) -> int:
        return repositories.users.count_admins()

    # The cheap question first: an unattended re-run should not pay for a bcrypt hash.
    if if_no_admin and accounts.run(_checked(admins)):
        return _admin_exists()
    hashed = hash_password(password.value)

    def create(repositories: Repositories) -> User | None:
        users = repositories.users
        users.lock_creation()
        if if_no_admin and users.count_admins():
            return None  # created by a parallel run since the first look
        return users.create(username, email, hashed, full_name=full_name, is_superuser=admin)

    user = accounts.run(_checked(create))
    if user is None:
        return _admin_exists()
    role = "administrator" if user.is_superuser else "user"
    outcome = Outcome(
        data={"ok": True, "created": True, "user": user.as_json()},
        messages=[("success", f"Created {role} {user.username} <{user.email}> (id {user.id}).")],
    )
    if password.generated:
        outcome.data["password"] = password.value
        outcome.output.append(password.value)
        outcome.messages.append(
            ("info", "The generated password is printed above, once; it is stored nowhere.")
        )
    return outcome


def _admin_exists() -> Outcome:
    return Outcome(
        data={"ok": True, "created": False, "reason": "an active administrator exists"},
        messages=[("info", "An active administrator exists already: nothing was created.")],
    )


def list_users(accounts: Accounts, *, search: str | None, admins: bool, inactive: bool) -> Outcome:
    users = accounts.run(
        _checked(lambda r: r.users.list(search=search, admins=admins, inactive=inactive))
    )
    rows = [
        [
            str(user.id), user.username, user.email, user.full_name or "-",
            "yes" if user.is_superuser else "no", "yes" if user.is_active else "no",
            _stamp(user.last_login),
        ]
        for user in users
    ]  # fmt: skip
    headers = ["ID", "USERNAME", "EMAIL", "NAME", "ADMIN", "ACTIVE", "LAST LOGIN (UTC)"]
    return Outcome(
        data={"ok": True, "count": len(users), "users": [user.as_json() for user in users]},
        output=table(headers, rows) if users else [],
        messages=[] if users else [("info", "No users match.")],
    )


def reset_password(accounts: Accounts, username: str, password: NewPassword) -> Outcome:
    from wizard.accounts.hashing import hash_password

    hashed = hash_password(password.value)

    def reset(repositories: Repositories) -> tuple[str, int]:
        user = repositories.users.require(username)
        repositories.users.set_password(user.id, hashed)
        return user.username, repositories.refresh_tokens.revoke_all(user.id)

    name, revoked = accounts.run(_checked(reset))
    outcome = Outcome(
        data={"ok": True, "user": name, "revoked_tokens": revoked},
        messages=[
            ("success", f"Set a new password for {name}; revoked {_sessions(revoked)}."),
        ],
    )
    if password.generated:
        outcome.data["password"] = password.value
        outcome.output.append(password.value)
    return outcome


def _sessions(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'} (refresh token{'' if count == 1 else 's'})"


def set_active(accounts: Accounts, username: str, *, active: bool) -> Outcome:
    def change(repositories: Repositories) -> tuple[str, bool, int, int]:
        users = repositories.users
        user = users.require(username)
        changed = users.set_active(user.id, active)
        revoked = 0 if active else repositories.refresh_tokens.revoke_all(user.id)
        return changed.username, changed.is_superuser, revoked, users.count_admins()

    name, superuser, revoked, admins = accounts.run(_checked(change))
    if active:
        messages = [("success", f"Enabled {name}.")]
    else:
        messages = [("success", f"Disabled {name}; revoked {_sessions(revoked)}.")]
        if superuser and admins == 0:
            messages.append(("warn", f"No active administrator is left: {ADMIN_COMMAND}"))
    data: dict[str, Any] = {"ok": True, "user": name, "is_active": active}
    if not active:
        data["revoked_tokens"] = revoked
    return Outcome(data=data, messages=messages)


def delete_user(accounts: Accounts, username: str) -> Outcome:
    def delete(repositories: Repositories) -> tuple[str, int]:
        user = repositories.users.require(username)
        tokens = repositories.refresh_tokens.count(user_id=user.id)
        repositories.users.delete(user.id)
        return user.username, tokens

    try:
        name, tokens = accounts.run(_checked(delete))
    except StillReferenced as exc:
        raise AccountsError(
            f"user {username!r} was not deleted: rows of {exc.table} still refer to it; "
            f"disable the user instead (`wizard user disable {username}`)"
        ) from None
    return Outcome(
        data={"ok": True, "deleted": name, "deleted_tokens": tokens},
        messages=[("success", f"Deleted {name}, their API keys and {tokens} refresh tokens.")],
    )


# --- API keys -----------------------------------------------------------------------------------


def create_key(accounts: Accounts, username: str, name: str, days: int) -> Outcome:
    from wizard.accounts.api_keys import ApiKey

    def create(repositories: Repositories) -> tuple[ApiKey, str]:
        user = repositories.users.require(username)
        return repositories.api_keys.create(user.id, name, expires_in_days=days)

    made, key = accounts.run(_checked(create))
    expires = made.expires_at.isoformat() if made.expires_at else None
    return Outcome(
        data={"ok": True, "key": key, "id": made.id, "expires_at": expires, "name": made.name,
              "user": made.username},
        output=[key],
        messages=[
            ("success", f"Created API key {made.name!r} ({made.id}) for {made.username}, "
                        f"valid until {_stamp(made.expires_at)} UTC."),
            ("info", "The key is printed above, once; only its hash is stored."),
        ],
    )  # fmt: skip


def list_keys(accounts: Accounts, username: str | None) -> Outcome:
    from wizard.accounts.api_keys import ApiKey

    def keys(repositories: Repositories) -> list[ApiKey]:
        user_id = repositories.users.require(username).id if username else None
        return repositories.api_keys.list(user_id=user_id)

    found = accounts.run(_checked(keys))
    now = dt.datetime.now(dt.UTC)

    def state(key: ApiKey) -> str:
        return "revoked" if not key.is_active else "expired" if key.expired(now) else "active"

    rows = [
        [key.id, key.username, key.name, state(key), _stamp(key.expires_at),
         _stamp(key.last_used_at)]
        for key in found
    ]  # fmt: skip
    headers = ["ID", "USER", "NAME", "STATE", "EXPIRES (UTC)", "LAST USED (UTC)"]
    return Outcome(
        data={"ok": True, "count": len(found), "keys": [key.as_json() for key in found]},
        output=table(headers, rows) if found else [],
        messages=[] if found else [("info", "No API keys.")],
    )


def revoke_key(accounts: Accounts, key_id: str) -> Outcome:
    key = accounts.run(_checked(lambda r: r.api_keys.revoke(key_id)))
    return Outcome(
        data={"ok": True, "revoked": key.id, "user": key.username, "name": key.name},
        messages=[("success", f"Revoked API key {key.name!r} ({key.id}) of {key.username}.")],
    )


def verify_key(accounts: Accounts, key: str) -> Outcome:
    verification = accounts.run(_checked(lambda r: r.api_keys.verify(key)))
    found = verification.key
    if verification.refusal is not None:
        data: dict[str, Any] = {"ok": False, "valid": False, "reason": verification.refusal.value}
        if found is not None:
            data["id"] = found.id
        return Outcome(
            data=data,
            messages=[("problem", f"The API key is not valid: {verification.refusal.value}.")],
            code=1,
        )
    assert found is not None
    return Outcome(
        data={"ok": True, "valid": True, "user": found.username, "id": found.id,
              "name": found.name},
        output=[found.username],
        messages=[("success", f"Valid: API key {found.name!r} ({found.id}) of {found.username}.")],
    )  # fmt: skip


# --- sessions and the database ------------------------------------------------------------------


def revoke_tokens(accounts: Accounts, username: str | None) -> Outcome:
    def revoke(repositories: Repositories) -> tuple[str | None, int]:
        if username is None:
            return None, repositories.refresh_tokens.revoke_all(None)
        user = repositories.users.require(username)
        return user.username, repositories.refresh_tokens.revoke_all(user.id)

    name, count = accounts.run(_checked(revoke))
    whose = f"of {name}" if name else "of every user"
    return Outcome(
        data={"ok": True, "user": name, "revoked_tokens": count},
        messages=[("success", f"Revoked {_sessions(count)} {whose}.")],
    )


def db_status(connection: AccountsDatabase) -> Outcome:
    from wizard.accounts.schema import inspect_schema
    from wizard.host.database import format_server_version

    def status(repositories: Repositories) -> dict[str, Any]:
        state = inspect_schema(repositories.conn)
        counts: dict[str, int] | None = None
        if state.compatible:
            counts = {
                "users": repositories.users.count(),
                "admins": repositories.users.count_admins(),
                "active_api_keys": repositories.api_keys.count_active(),
                "active_refresh_tokens": repositories.refresh_tokens.count_active(),
            }
        return {
            "server": format_server_version(repositories.conn.info.server_version),
            "schema": {
                "present": state.present,
                "compatible": state.compatible,
                "problem": state.problem(),
            },
            "counts": counts,
        }

    report = connection.accounts.run(status)
    schema, counts = report["schema"], report["counts"]
    rows = [["server", f"PostgreSQL {report['server']} at {connection.target.where}"]]
    rows.append(["schema", "present and compatible" if schema["compatible"] else schema["problem"]])
    if counts is not None:
        rows += [[name.replace("_", " "), str(value)] for name, value in counts.items()]
    messages: list[tuple[str, str]] = []
    if counts is not None and counts["admins"] == 0:
        messages.append(("warn", f"No active administrator: {ADMIN_COMMAND}"))
    return Outcome(
        data={"ok": bool(schema["compatible"]), **report},
        output=table(["WHAT", "STATE"], rows),
        messages=messages,
        code=0 if schema["compatible"] else 1,
    )


def db_cleanup(accounts: Accounts) -> Outcome:
    def cleanup(repositories: Repositories) -> tuple[int, int]:
        return repositories.refresh_tokens.cleanup(), repositories.api_keys.cleanup_expired()

    tokens, keys = accounts.run(_checked(cleanup))
    return Outcome(
        data={"ok": True, "deleted_refresh_tokens": tokens, "deleted_api_keys": keys},
        messages=[
            ("success", f"Deleted {tokens} expired or revoked refresh tokens and {keys} expired "
                        "API keys."),
        ],
    )  # fmt: skip


# --- for `wizard check` -------------------------------------------------------------------------


def check_rows(target: DbTarget, timeout: int) -> list[tuple[str, str, str]]:
    """The "schema" and "administrator" rows of `wizard check` as (name, status, detail); a
    missing schema or administrator is a warning (a stack that has not started yet has neither).
    """
    from wizard.accounts.schema import SchemaState, inspect_schema
    from wizard.accounts.unit import Accounts

    def look(repositories: Repositories) -> tuple[SchemaState, int | None]:
        state = inspect_schema(repositories.conn)
        return state, repositories.users.count_admins() if state.compatible else None

    try:
        with Accounts(_opener(target, timeout)) as accounts:
            state, admins = accounts.run(look)
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
    if admins:
        return [
            ("schema", "ok", "the stack's users, api_keys and refresh_tokens tables are there"),
            ("administrator", "ok", f"{admins} active administrator{'s' if admins > 1 else ''}"),
        ]
    return [
        ("schema", "ok", "the stack's users, api_keys and refresh_tokens tables are there"),
        (
            "administrator",
            "warn",
            "none yet: whoever registers first in the web UI becomes one; create one now: "
            + ADMIN_COMMAND,
        ),
    ]
