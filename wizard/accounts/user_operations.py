"""What each `wizard user ...` command does, over the repositories: checked values in, an
Result out (see wizard.accounts.operations for the connection).

Two promises the stack cannot keep by itself are kept here. The last active administrator is
not deleted, disabled or demoted without `force`: the stack makes the first person who
registers an administrator only while `users` is empty, so once any user exists nobody would
become one again. And a delete takes the user's credentials (API keys, refresh tokens) and
nothing else without `cascade`: what the database would cascade or refuse is counted first,
table by table, from its own foreign keys (wizard.accounts.references).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wizard.accounts.errors import AccountsError
from wizard.accounts.operations import NewPassword, checked, sessions, stamp, table
from wizard.result import MessageKind, Result

if TYPE_CHECKING:
    from wizard.accounts.references import DeletionPlan, Held
    from wizard.accounts.unit import Accounts, Repositories
    from wizard.accounts.users import User, UserFilter, UserRepository

PROMOTE_COMMAND = "wizard user promote USERNAME"


class LastAdministrator(AccountsError):
    """The change would leave the stack without an active administrator (exit 1)."""


def _last_admin_guard(users: UserRepository, user: User, doing: str, force: bool) -> list[str]:
    """Warnings to show when `doing` (to `user`) leaves no active administrator and `force`
    allows it; LastAdministrator when it does and `force` does not. Callers hold the creation
    lock, so two runs cannot each remove "the other" last administrator."""
    if not user.administers or users.count_admins() > 1:
        return []
    consequence = (
        "the stack would have no active administrator, and since it has users nobody becomes "
        "one by registering (the stack promotes only the first user of an empty table)"
    )
    if not force:
        raise LastAdministrator(
            f"{user.username} is the last active administrator: {doing} them was refused, as "
            f"{consequence}; promote another user first ({PROMOTE_COMMAND}) or give --force"
        )
    return [f"No active administrator is left: {consequence}. Make one: {PROMOTE_COMMAND}"]


def create_user(
    accounts: Accounts,
    username: str,
    email: str,
    password: NewPassword,
    *,
    full_name: str | None,
    admin: bool,
    if_no_admin: bool,
) -> Result:
    from wizard.accounts.hashing import hash_password
    from wizard.accounts.rules import mixed_script_warnings

    def admins(repositories: Repositories) -> int:
        return repositories.users.count_admins()

    # The cheap question first: an unattended re-run should not pay for a bcrypt hash.
    if if_no_admin and accounts.run(checked(admins)):
        return _admin_exists()
    hashed = hash_password(password.value)

    def create(repositories: Repositories) -> User | None:
        users = repositories.users
        users.lock_creation()
        if if_no_admin and users.count_admins():
            return None  # created by a parallel run since the first look
        return users.create(username, email, hashed, full_name=full_name, is_superuser=admin)

    user = accounts.run(checked(create))
    if user is None:
        return _admin_exists()
    role = "administrator" if user.is_superuser else "user"
    outcome = Result(
        data={"ok": True, "created": True, "user": user.as_json()},
        messages=[
            (MessageKind.SUCCESS, f"Created {role} {user.username} <{user.email}> (id {user.id}).")
        ],
    )
    outcome.messages += [
        (MessageKind.WARN, text) for text in mixed_script_warnings(username, email)
    ]
    if password.generated:
        outcome.data["password"] = password.value
        outcome.output.append(password.value)
        outcome.messages.append(
            (
                MessageKind.INFO,
                "The generated password is printed above, once; it is stored nowhere.",
            )
        )
    return outcome


def _admin_exists() -> Result:
    return Result(
        data={"ok": True, "created": False, "reason": "an active administrator exists"},
        messages=[
            (MessageKind.INFO, "An active administrator exists already: nothing was created.")
        ],
    )


def list_users(accounts: Accounts, which: UserFilter) -> Result:
    users = accounts.run(checked(lambda r: r.users.list(which)))
    rows = [
        [
            str(user.id), user.username, user.email, user.full_name or "-",
            "yes" if user.is_superuser else "no", "yes" if user.is_active else "no",
            stamp(user.last_login),
        ]
        for user in users
    ]  # fmt: skip
    headers = ["ID", "USERNAME", "EMAIL", "NAME", "ADMIN", "ACTIVE", "LAST LOGIN (UTC)"]
    return Result(
        data={"ok": True, "count": len(users), "users": [user.as_json() for user in users]},
        output=table(headers, rows) if users else [],
        messages=[] if users else [(MessageKind.INFO, "No users match.")],
    )


@dataclass(frozen=True)
class _Shown:
    user: User
    keys: int
    sessions: int
    plan: DeletionPlan


def show_user(accounts: Accounts, username: str) -> Result:
    """One user: the fields, active keys and sessions, and what refers to them elsewhere."""
    from wizard.accounts.references import deletion_plan

    def look(repositories: Repositories) -> _Shown:
        user = repositories.users.require(username)
        now = repositories.api_keys.clock()
        keys = repositories.api_keys.list(user_id=user.id)
        live = sum(1 for key in keys if key.is_active and not key.expired(now))
        sessions = repositories.refresh_tokens.count_active(user.id)
        return _Shown(user, live, sessions, deletion_plan(repositories.conn, user))

    shown = accounts.run(checked(look))
    user = shown.user
    rows = [
        ["id", str(user.id)], ["username", user.username], ["email", user.email],
        ["name", user.full_name or "-"], ["administrator", "yes" if user.is_superuser else "no"],
        ["active", "yes" if user.is_active else "no"], ["created (UTC)", stamp(user.created_at)],
        ["last login (UTC)", stamp(user.last_login)], ["active API keys", str(shown.keys)],
        ["active sessions", str(shown.sessions)],
    ]  # fmt: skip
    rows += [
        [f"rows in {held.reference.table}", str(held.rows)]
        for held in shown.plan.held
        if not held.reference.credentials
    ]
    return Result(
        data={"ok": True, "user": user.as_json(), "active_api_keys": shown.keys,
              "active_sessions": shown.sessions,
              "references": [held.as_json() for held in shown.plan.held]},
        output=table(["FIELD", "VALUE"], rows),
    )  # fmt: skip


def reset_password(accounts: Accounts, username: str, password: NewPassword) -> Result:
    from wizard.accounts.hashing import hash_password

    hashed = hash_password(password.value)

    def reset(repositories: Repositories) -> tuple[str, int]:
        user = repositories.users.require(username)
        repositories.users.set_password(user.id, hashed)
        return user.username, repositories.refresh_tokens.revoke_all(user.id)

    name, revoked = accounts.run(checked(reset))
    outcome = Result(
        data={"ok": True, "user": name, "revoked_tokens": revoked},
        messages=[
            (MessageKind.SUCCESS, f"Set a new password for {name}; revoked {sessions(revoked)}."),
        ],
    )
    if password.generated:
        outcome.data["password"] = password.value
        outcome.output.append(password.value)
    return outcome


def set_active(accounts: Accounts, username: str, *, active: bool, force: bool) -> Result:
    def change(repositories: Repositories) -> tuple[User, int, list[str]]:
        users = repositories.users
        users.lock_creation()
        user = users.require(username)
        warnings = [] if active else _last_admin_guard(users, user, "disabling", force)
        changed = users.set_active(user.id, active)
        revoked = 0 if active else repositories.refresh_tokens.revoke_all(user.id)
        return changed, revoked, warnings

    user, revoked, warnings = accounts.run(checked(change))
    if active:
        messages = [(MessageKind.SUCCESS, f"Enabled {user.username}.")]
    else:
        messages = [
            (MessageKind.SUCCESS, f"Disabled {user.username}; revoked {sessions(revoked)}.")
        ]
    messages += [(MessageKind.WARN, text) for text in warnings]
    data: dict[str, Any] = {"ok": True, "user": user.username, "is_active": active}
    if not active:
        data["revoked_tokens"] = revoked
    return Result(data=data, messages=messages)


def set_admin(accounts: Accounts, username: str, *, admin: bool, force: bool) -> Result:
    """`wizard user promote|demote`: make the user a superuser or take it away."""

    def change(repositories: Repositories) -> tuple[User, bool, list[str]]:
        users = repositories.users
        users.lock_creation()
        user = users.require(username)
        if user.is_superuser == admin:
            return user, False, []
        warnings = [] if admin else _last_admin_guard(users, user, "demoting", force)
        return users.update(user.id, is_superuser=admin), True, warnings

    user, changed, warnings = accounts.run(checked(change))
    role = "an administrator" if admin else "not an administrator"
    done = f"{user.username} is now {role}." if changed else f"{user.username} is {role} already."
    messages = [(MessageKind.SUCCESS if changed else MessageKind.INFO, done)]
    if admin and not user.is_active:
        messages.append(
            (MessageKind.WARN, f"{user.username} is disabled: enable them to administer "
                     f"(`wizard user enable {user.username}`)")
        )  # fmt: skip
    messages += [(MessageKind.WARN, text) for text in warnings]
    return Result(
        data={"ok": True, "user": user.username, "is_superuser": admin, "changed": changed},
        messages=messages,
    )


@dataclass(frozen=True)
class DeleteChoice:
    """`wizard user delete` flags: cascade other data, only show, remove the last admin."""

    cascade: bool = False
    dry_run: bool = False
    force: bool = False


def delete_user(accounts: Accounts, username: str, choice: DeleteChoice) -> Result:
    from wizard.accounts.references import deletion_plan

    def delete(repositories: Repositories) -> tuple[DeletionPlan, str | None, list[str]]:
        users = repositories.users
        users.lock_creation()
        user = users.require(username)
        plan = deletion_plan(repositories.conn, user)
        refusal = _refusal(plan, choice.cascade)
        warnings: list[str] = []
        if refusal is None:
            try:
                warnings = _last_admin_guard(users, user, "deleting", choice.force)
            except LastAdministrator as exc:
                refusal = str(exc)
        if refusal is None and not choice.dry_run:
            users.delete(user.id)
        return plan, refusal, warnings

    plan, refusal, warnings = accounts.run(checked(delete))
    return _deletion_outcome(plan, refusal, warnings, choice.dry_run)


def _listed(held: tuple[Held, ...]) -> str:
    return ", ".join(f"{h.reference.table} ({h.rows})" for h in held)


def _refusal(plan: DeletionPlan, cascade: bool) -> str | None:
    name = plan.user.username
    disable = f"disable the user instead (`wizard user disable {name}`)"
    if plan.blocking:
        return (
            f"user {name!r} was not deleted: rows of {_listed(plan.blocking)} still refer to it "
            f"and the stack keeps them; {disable}"
        )
    if plan.cascading and not cascade:
        return (
            f"user {name!r} was not deleted: the database would delete their "
            f"{_listed(plan.cascading)} with them (and rows that depend on those); give "
            f"--cascade to delete them too, or {disable}"
        )
    return None


def _deletion_outcome(
    plan: DeletionPlan, refusal: str | None, warnings: list[str], dry_run: bool
) -> Result:
    name = plan.user.username
    rows = [
        [f"{h.reference.table}.{h.reference.column}", str(h.rows),
         "deleted with the user" if h.reference.credentials else h.reference.action.value]
        for h in plan.held
    ]  # fmt: skip
    output = table(["REFERS TO THE USER", "ROWS", "ON DELETE"], rows) if rows else []
    deleted = refusal is None and not dry_run
    data: dict[str, Any] = {
        "ok": refusal is None, "deleted": deleted, "dry_run": dry_run, "user": name,
        "references": [h.as_json() for h in plan.held],
    }  # fmt: skip
    if refusal is not None:
        data["reason"] = refusal
        return Result(data=data, output=output, messages=[(MessageKind.PROBLEM, refusal)], ok=False)
    gone = ", ".join(
        [f"{h.reference.table} ({h.rows})" for h in (*plan.credentials, *plan.cascading)]
    )
    what = f"{name}" + (f" with {gone}" if gone else "")
    messages = (
        [(MessageKind.INFO, f"Dry run: would delete {what}; nothing was deleted.")]
        if dry_run
        else [(MessageKind.SUCCESS, f"Deleted {what}.")]
    )
    if plan.kept:
        messages.append(
            (MessageKind.INFO, f"Kept, no longer naming the user: {_listed(plan.kept)}.")
        )
    messages += [(MessageKind.WARN, text) for text in warnings]
    return Result(data=data, output=output, messages=messages)
