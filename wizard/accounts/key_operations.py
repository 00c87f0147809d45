"""What each `wizard api-key ...` command does, over the repositories: checked values in, an
Result out (see wizard.accounts.operations). A key made here is in the Result's `output` and
`data` once, and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from wizard.accounts.errors import AccountsError
from wizard.accounts.operations import checked, stamp, table
from wizard.result import MessageKind, Result

if TYPE_CHECKING:
    from wizard.accounts.api_keys import ApiKey
    from wizard.accounts.unit import Accounts, Repositories


class UserDisabled(AccountsError):
    """A key for a disabled user: the stack would refuse it (exit 1 unless --force)."""


def create_key(
    accounts: Accounts, username: str, name: str, days: int, *, force: bool = False
) -> Result:
    """A key for `username`, who must be active unless `force` (then with a warning: the stack
    refuses every key of a disabled user until the user is enabled)."""

    def create(repositories: Repositories) -> tuple[ApiKey, str]:
        user = repositories.users.require(username)
        if not user.is_active and not force:
            raise UserDisabled(
                f"{user.username} is disabled, and the stack refuses every key of a disabled "
                f"user: enable them first (`wizard user enable {user.username}`), or give "
                "--force to create a key that works once they are enabled"
            )
        return repositories.api_keys.create(user.id, name, expires_in_days=days)

    made, key = accounts.run(checked(create))
    expires = made.expires_at.isoformat() if made.expires_at else None
    outcome = Result(
        data={"ok": True, "key": key, "id": made.id, "short_id": made.short_id,
              "expires_at": expires, "name": made.name, "user": made.username},
        output=[key],
        messages=[
            (MessageKind.SUCCESS,
             f"Created API key {made.name!r} ({made.short_id}, id {made.id}) for "
             f"{made.username}, valid until {stamp(made.expires_at)} UTC."),
            (MessageKind.INFO, "The key is printed above, once; only its hash is stored."),
        ],
    )  # fmt: skip
    if not made.user_active:
        outcome.messages.append(
            (MessageKind.WARN, f"{made.username} is disabled: the stack refuses this key until "
                     f"`wizard user enable {made.username}`.")
        )  # fmt: skip
    return outcome


def _state(key: ApiKey, now: dt.datetime) -> str:
    if not key.is_active:
        return "revoked"
    if key.expired(now):
        return "expired"
    return "active" if key.user_active else "user disabled"


def list_keys(accounts: Accounts, username: str | None) -> Result:
    def keys(repositories: Repositories) -> tuple[list[ApiKey], dt.datetime]:
        user_id = repositories.users.require(username).id if username else None
        return repositories.api_keys.list(user_id=user_id), repositories.api_keys.clock()

    found, now = accounts.run(checked(keys))
    rows = [
        [key.short_id, key.username, key.name, _state(key, now), stamp(key.expires_at),
         stamp(key.last_used_at)]
        for key in found
    ]  # fmt: skip
    headers = ["ID", "USER", "NAME", "STATE", "EXPIRES (UTC)", "LAST USED (UTC)"]
    return Result(
        data={"ok": True, "count": len(found),
              "keys": [{**key.as_json(), "state": _state(key, now)} for key in found]},
        output=table(headers, rows) if found else [],
        messages=[] if found else [(MessageKind.INFO, "No API keys.")],
    )  # fmt: skip


def revoke_key(accounts: Accounts, reference: str) -> Result:
    """Revoke the key `reference` names: its id or the short id printed inside it."""
    key = accounts.run(checked(lambda r: r.api_keys.revoke(reference)))
    return Result(
        data={"ok": True, "revoked": key.id, "short_id": key.short_id, "user": key.username,
              "name": key.name},
        messages=[(MessageKind.SUCCESS,
                   f"Revoked API key {key.name!r} ({key.short_id}, id {key.id}) of "
                   f"{key.username}.")],
    )  # fmt: skip


def verify_key(accounts: Accounts, key: str) -> Result:
    verification = accounts.run(checked(lambda r: r.api_keys.verify(key)))
    found = verification.key
    if verification.refusal is not None:
        data: dict[str, Any] = {"ok": False, "valid": False, "reason": verification.refusal.value}
        if found is not None:
            data["id"] = found.id
        return Result(
            data=data,
            messages=[
                (MessageKind.PROBLEM, f"The API key is not valid: {verification.refusal.value}.")
            ],
            ok=False,
        )
    assert found is not None
    return Result(
        data={"ok": True, "valid": True, "user": found.username, "id": found.id,
              "name": found.name},
        output=[found.username],
        messages=[(MessageKind.SUCCESS,
                   f"Valid: API key {found.name!r} ({found.id}) of {found.username}.")],
    )  # fmt: skip
