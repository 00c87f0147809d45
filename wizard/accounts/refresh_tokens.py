"""The `refresh_tokens` table (the app's "auth repository"): save, verify, revoke, count, clean up.

Only the SHA-256 hex of a token is stored or sent; revoking all of a user's tokens is one
statement, so a password reset ends every session at once. `is_revoked` is nullable in the
stack's schema and its refresh reads NULL as revoked (`~is_revoked` is NULL, never true): so
does every query here (`is_revoked IS FALSE` is the only live token).
"""

from __future__ import annotations

import datetime as dt
import hmac

from wizard.accounts.base import Repository, translated
from wizard.accounts.hashing import sha256_hex


class RefreshTokenRepository(Repository):
    table = "refresh_tokens"
    columns = ("id", "user_id", "token_hash", "expires_at", "created_at", "is_revoked")

    @translated
    def save(self, user_id: int, token: str, expires_at: dt.datetime) -> int:
        row = self.conn.execute(
            "INSERT INTO refresh_tokens (user_id, token_hash, expires_at, created_at, is_revoked) "
            "VALUES (%s, %s, %s, %s, false) RETURNING id",
            [user_id, sha256_hex(token), expires_at, self.clock()],
        ).fetchone()
        assert row is not None
        return int(row[0])

    @translated
    def verify(self, token: str) -> int | None:
        """The id of the active user the token belongs to, if it is neither revoked nor expired."""
        digest = sha256_hex(token)
        row = self.conn.execute(
            "SELECT t.user_id, t.token_hash FROM refresh_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = %s AND t.is_revoked IS FALSE AND t.expires_at > %s "
            "AND u.is_active IS TRUE",
            [digest, self.clock()],
        ).fetchone()
        if row is None or not hmac.compare_digest(str(row[1]), digest):
            return None
        return int(row[0])

    @translated
    def revoke(self, token: str) -> bool:
        return (
            self.conn.execute(
                "UPDATE refresh_tokens SET is_revoked = true "
                "WHERE token_hash = %s AND is_revoked IS FALSE",
                [sha256_hex(token)],
            ).rowcount
            > 0
        )

    @translated
    def revoke_all(self, user_id: int | None = None) -> int:
        """Revoke every active token of `user_id` (of everyone when None); returns how many."""
        return self.conn.execute(
            "UPDATE refresh_tokens SET is_revoked = true WHERE is_revoked IS FALSE "
            "AND expires_at > %s AND (%s::int IS NULL OR user_id = %s)",
            [self.clock(), user_id, user_id],
        ).rowcount

    @translated
    def count_active(self, user_id: int | None = None) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM refresh_tokens WHERE is_revoked IS FALSE "
            "AND expires_at > %s AND (%s::int IS NULL OR user_id = %s)",
            [self.clock(), user_id, user_id],
        ).fetchone()
        return int(row[0]) if row else 0

    @translated
    def cleanup(self) -> int:
        """Delete expired and revoked (true or NULL) tokens; returns how many."""
        return self.conn.execute(
            "DELETE FROM refresh_tokens WHERE is_revoked IS NOT FALSE OR expires_at <= %s",
            [self.clock()],
        ).rowcount
