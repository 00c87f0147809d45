"""The `api_keys` table: mint a key (shown once), list, revoke, verify, touch, clean up.

A key is `smtk_<first 8 hex of its id>_<token_urlsafe(32)>`; only its SHA-256 hex is stored, and
the app finds a key by that hash. Verification looks the hash up (indexed), compares it with
`hmac.compare_digest`, and refuses a revoked or expired key and a key of a disabled user.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from wizard.accounts.base import Repository, translated
from wizard.accounts.errors import AlreadyExists, InvalidInput, LimitReached, NotFound
from wizard.accounts.hashing import sha256_hex
from wizard.accounts.rules import (
    DEFAULT_KEY_DAYS,
    KEY_FORM,
    MAX_KEYS_PER_USER,
    PREFIX,
    SHORT_ID,
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
    user_active: bool  # the owner's state: the stack refuses every key of a disabled user

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def short_id(self) -> str:
        return f"{PREFIX}{self.id.replace('-', '')[:8]}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "short_id": self.short_id,
            "user": self.username,
            "user_active": self.user_active,
            "name": self.name,
            "permissions": self.permissions,
            "is_active": self.is_active,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


@dataclass(frozen=True)
class _StoredKey(ApiKey):
    """A key with its stored hash, for verification only."""

    key_hash: str = field(repr=False)


# What each field is read as (class_row matches by name); a NULL is_active user is disabled.
_READ_AS = {"username": "u.username", "user_active": "u.is_active IS TRUE AS user_active"}
_PUBLIC = ", ".join(_READ_AS.get(f.name, f"k.{f.name}") for f in fields(ApiKey))
_FROM = "FROM api_keys k JOIN users u ON u.id = k.user_id"


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


def mint(key_id: str) -> str:
    """A new secret key for the key row `key_id`."""
    return f"{PREFIX}{key_id.replace('-', '')[:8]}_{secrets.token_urlsafe(32)}"


class ApiKeyRepository(Repository):
    table = "api_keys"
    columns = (
        "id", "user_id", "name", "key_hash", "permissions", "last_used_at", "expires_at",
        "created_at", "is_active",
    )  # fmt: skip

    def _keys(self, where: str, params: list[Any], tail: str = "") -> list[ApiKey]:
        from psycopg.rows import class_row

        with self.conn.cursor(row_factory=class_row(ApiKey)) as cur:
            cur.execute(f"SELECT {_PUBLIC} {_FROM} {where} {tail}", params)
            return cur.fetchall()

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
        MAX_KEYS_PER_USER keys that are active and unexpired (the stack's count).
        """
        from psycopg.types.json import Json

        # Lock the user's row: two parallel creations must not both pass the checks below.
        owner = self.conn.execute(
            "SELECT username FROM users WHERE id = %s FOR UPDATE", [user_id]
        ).fetchone()
        if owner is None:
            raise NotFound(f"no user with id {user_id}")
        now = self.clock()
        counts = self.conn.execute(
            "SELECT count(*) FILTER (WHERE lower(name) = lower(%s)), count(*) FILTER "
            "(WHERE is_active AND (expires_at IS NULL OR expires_at > %s)) FROM api_keys "
            "WHERE user_id = %s",
            [name, now, user_id],
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
        found = self._keys("WHERE k.id = %s", [key_id])
        return found[0] if found else None

    @translated
    def find(self, reference: str) -> ApiKey:
        """The key `reference` names: its id, or the short id printed inside the key
        (`smtk_1c06c582` or `1c06c582`). NotFound when none; InvalidInput when a short id
        matches more than one key (then the full id is needed)."""
        short = SHORT_ID.fullmatch(reference)
        if short is None:
            found = self._keys("WHERE k.id = %s", [reference])
        else:
            found = self._keys(
                "WHERE left(replace(k.id, '-', ''), 8) = %s", [short.group(1)], "ORDER BY k.id"
            )
        if not found:
            raise NotFound(f"no API key with id {reference!r}")
        if len(found) > 1:
            ids = ", ".join(key.id for key in found)
            raise InvalidInput([f"ID: {reference!r} is the start of {len(found)} keys' ids "
                                f"({ids}); give the full id"])  # fmt: skip
        return found[0]

    @translated
    def list(self, *, user_id: int | None = None) -> list[ApiKey]:
        return self._keys(
            "WHERE %s::int IS NULL OR k.user_id = %s",
            [user_id, user_id],
            "ORDER BY u.username, k.created_at",
        )

    @translated
    def revoke(self, reference: str) -> ApiKey:
        """Mark the key `reference` names (see `find`) inactive, kept for the record."""
        key = self.find(reference)
        self.conn.execute("UPDATE api_keys SET is_active = false WHERE id = %s", [key.id])
        revoked = self.get(key.id)
        assert revoked is not None
        return revoked

    @translated
    def verify(self, key: str) -> Verification:
        """Is `key` one the app accepts now? Does not count as a use (see `touch`)."""
        from psycopg.rows import class_row

        if not KEY_FORM.fullmatch(key):
            return Verification(None, Refusal.MALFORMED)
        digest = sha256_hex(key)
        with self.conn.cursor(row_factory=class_row(_StoredKey)) as cur:
            cur.execute(f"SELECT {_PUBLIC}, k.key_hash {_FROM} WHERE k.key_hash = %s", [digest])
            row = cur.fetchone()
        # The index found it by equality; the comparison in constant time is what the app's
        # rule asks for, and guards against a collation or a trigger bending the match.
        if row is None or not hmac.compare_digest(str(row.key_hash), digest):
            return Verification(None, Refusal.UNKNOWN)
        found = ApiKey(**{f.name: getattr(row, f.name) for f in fields(ApiKey)})
        if not found.is_active:
            return Verification(found, Refusal.REVOKED)
        if found.expired(self.clock()):
            return Verification(found, Refusal.EXPIRED)
        if not found.user_active:
            return Verification(found, Refusal.USER_DISABLED)
        return Verification(found, None)

    @translated
    def touch(self, key_id: str) -> None:
        self.conn.execute(
            "UPDATE api_keys SET last_used_at = %s WHERE id = %s", [self.clock(), key_id]
        )

    @translated
    def count_active(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM api_keys WHERE is_active "
            "AND (expires_at IS NULL OR expires_at > %s)",
            [self.clock()],
        ).fetchone()
        return int(row[0]) if row else 0

    @translated
    def cleanup_expired(self) -> int:
        """Delete the keys whose expiry has passed; returns how many."""
        return self.conn.execute(
            "DELETE FROM api_keys WHERE expires_at IS NOT NULL AND expires_at <= %s",
            [self.clock()],
        ).rowcount
