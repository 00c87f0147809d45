"""The `api_keys` table: mint a key (shown once), list, revoke, verify, touch, clean up.

A key is `smtk_<first 8 hex of its id>_<token_urlsafe(32)>`; only its SHA-256 hex is stored, and
the app finds a key by that hash. Verification looks the hash up (indexed), compares it with
`hmac.compare_digest`, and refuses a revoked or expired key and a key of a disabled user.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wizard.accounts.base import Repository, translated
from wizard.accounts.errors import AlreadyExists, LimitReached, NotFound
from wizard.accounts.hashing import sha256_hex
from wizard.accounts.rules import DEFAULT_KEY_DAYS, MAX_KEYS_PER_USER

PREFIX = "smtk_"
KEY_FORM = re.compile(r"smtk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")
_PUBLIC = (
    "k.id, k.user_id, u.username, k.name, k.permissions, k.last_used_at, k.expires_at, "
    "k.created_at, k.is_active"
)


@dataclass(frozen=True)
class ApiKey:
    """A key as listed: never its hash, never the key itself."""

    id: str
    user_id: int
    username: str
    name: str
    permissions: Any
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    created_at: dt.datetime
    is_active: bool

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.username,
            "name": self.name,
            "permissions": self.permissions,
            "is_active": self.is_active,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


class Refusal(StrEnum):
    MALFORMED = "not an API key of this stack (smtk_<8 hex>_<43 characters>)"
    UNKNOWN = "no such key"
    REVOKED = "the key was revoked"
    EXPIRED = "the key has expired"
    USER_DISABLED = "the key's user is disabled"


@dataclass(frozen=True)
class Verification:
    """`key` when the key is valid (`refusal` None), else why it is refused."""

    key: ApiKey | None
    refusal: Refusal | None

    @property
    def valid(self) -> bool:
        return self.refusal is None


def _key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(**{name: row[name] for name in ApiKey.__dataclass_fields__})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def mint(key_id: str) -> str:
    """A new secret key for the key row `key_id`."""
    return f"{PREFIX}{key_id.replace('-', '')[:8]}_{secrets.token_urlsafe(32)}"


class ApiKeyRepository(Repository):
    table = "api_keys"
    columns = (
        "id", "user_id", "name", "key_hash", "permissions", "last_used_at", "expires_at",
        "created_at", "is_active",
    )  # fmt: skip

    @translated
    def create(
        self,
        user_id: int,
        name: str,
        *,
        expires_in_days: int | None = DEFAULT_KEY_DAYS,
        permissions: Any = None,
    ) -> tuple[ApiKey, str]:
        """A new active key and the key itself, which exists nowhere else afterwards.

        AlreadyExists when the user has a key of that name (in any case); LimitReached at
        MAX_KEYS_PER_USER active keys.
        """
        from psycopg.types.json import Json

        # Lock the user's row: two parallel creations must not both pass the checks below.
        owner = self.conn.execute(
            "SELECT username FROM users WHERE id = %s FOR UPDATE", [user_id]
        ).fetchone()
        if owner is None:
            raise NotFound(f"no user with id {user_id}")
        counts = self.conn.execute(
            "SELECT count(*) FILTER (WHERE lower(name) = lower(%s)), count(*) FILTER "
            "(WHERE is_active) FROM api_keys WHERE user_id = %s",
            [name, user_id],
        ).fetchone()
        assert counts is not None
        if counts[0]:
            raise AlreadyExists("key name", name)
        if counts[1] >= MAX_KEYS_PER_USER:
            raise LimitReached(
                f"user {owner[0]!r} has {counts[1]} active API keys, the most the stack allows; "
                "revoke one first (`wizard api-key list --user NAME`, `wizard api-key revoke ID`)"
            )
        key_id = str(uuid.uuid4())
        key = mint(key_id)
        now = _now()
        expires = now + dt.timedelta(days=expires_in_days) if expires_in_days else None
        self.conn.execute(
            "INSERT INTO api_keys (id, user_id, name, key_hash, permissions, expires_at, "
            "created_at, is_active) VALUES (%s, %s, %s, %s, %s, %s, %s, true)",
            [
                key_id, user_id, name, sha256_hex(key),
                None if permissions is None else Json(permissions), expires, now,
            ],
        )  # fmt: skip
        made = self.get(key_id)
        assert made is not None
        return made, key

    @translated
    def get(self, key_id: str) -> ApiKey | None:
        from psycopg.rows import dict_row

        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_PUBLIC} FROM api_keys k JOIN users u ON u.id = k.user_id "
                "WHERE k.id = %s",
                [key_id],
            )
            row = cur.fetchone()
        return _key(row) if row else None

    @translated
    def list(self, *, user_id: int | None = None) -> list[ApiKey]:
        from psycopg.rows import dict_row

        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_PUBLIC} FROM api_keys k JOIN users u ON u.id = k.user_id "
                "WHERE %s::int IS NULL OR k.user_id = %s ORDER BY u.username, k.created_at",
                [user_id, user_id],
            )
            return [_key(row) for row in cur.fetchall()]

    @translated
    def revoke(self, key_id: str) -> ApiKey:
        """Mark the key inactive (kept for the record); NotFound if there is none."""
        self.conn.execute("UPDATE api_keys SET is_active = false WHERE id = %s", [key_id])
        revoked = self.get(key_id)
        if revoked is None:
            raise NotFound(f"no API key with id {key_id!r}")
        return revoked

    @translated
    def verify(self, key: str) -> Verification:
        """Is `key` one the app accepts now? Does not count as a use (see `touch`)."""
        if not KEY_FORM.fullmatch(key):
            return Verification(None, Refusal.MALFORMED)
        digest = sha256_hex(key)
        row = self.conn.execute(
            f"SELECT {_PUBLIC}, k.key_hash, u.is_active FROM api_keys k "
            "JOIN users u ON u.id = k.user_id WHERE k.key_hash = %s",
            [digest],
        ).fetchone()
        # The index found it by equality; the comparison in constant time is what the app's
        # rule asks for, and guards against a collation or a trigger bending the match.
        if row is None or not hmac.compare_digest(str(row[9]), digest):
            return Verification(None, Refusal.UNKNOWN)
        found = ApiKey(*row[:9])
        if not found.is_active:
            return Verification(found, Refusal.REVOKED)
        if found.expired(_now()):
            return Verification(found, Refusal.EXPIRED)
        if row[10] is False:
            return Verification(found, Refusal.USER_DISABLED)
        return Verification(found, None)

    @translated
    def touch(self, key_id: str) -> None:
        self.conn.execute("UPDATE api_keys SET last_used_at = %s WHERE id = %s", [_now(), key_id])

    @translated
    def count_active(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM api_keys WHERE is_active "
            "AND (expires_at IS NULL OR expires_at > now())"
        ).fetchone()
        return int(row[0]) if row else 0

    @translated
    def cleanup_expired(self) -> int:
        """Delete the keys whose expiry has passed; returns how many."""
        return self.conn.execute(
            "DELETE FROM api_keys WHERE expires_at IS NOT NULL AND expires_at <= now()"
        ).rowcount
