"""The `users` table: create, look up, search, update, passwords, enable/disable, delete.

Passwords arrive here already hashed for writes (hashing costs a quarter of a second, so callers
do it before their transaction) and in plain text only for `verify_password`, which never lets
timing tell whether a user exists. Usernames and emails are unique case-insensitively: the
unique indexes are case-sensitive, so `create` checks first, under a lock every wizard takes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wizard.accounts.base import Repository, translated
from wizard.accounts.errors import AlreadyExists, NotFound, StillReferenced

# The columns a person may change with `update` (the password has its own method).
UPDATABLE = frozenset({"email", "full_name", "is_active", "is_superuser"})
# Serialises the wizard's own case-insensitive checks with its inserts (pg_advisory_xact_lock).
CREATE_LOCK = 0x77697A61  # "wiza"
_PUBLIC = (
    "id, username, email, full_name, is_active, is_superuser, created_at, updated_at, last_login"
)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    email: str
    full_name: str | None
    is_active: bool
    is_superuser: bool
    created_at: dt.datetime
    updated_at: dt.datetime | None
    last_login: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "full_name": self.full_name,
            "is_active": self.is_active,
            "is_superuser": self.is_superuser,
            "created_at": self.created_at.isoformat(),
            "last_login": self.last_login.isoformat() if self.last_login else None,
        }


def _user(row: Mapping[str, Any]) -> User:
    values = {name: row[name] for name in User.__dataclass_fields__}
    # is_active is nullable in the schema; the app treats NULL as active (its default).
    values["is_active"] = row["is_active"] is not False
    return User(**values)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching itself anywhere (%, _ and \\ taken literally)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class UserRepository(Repository):
    table = "users"
    columns = (
        "id", "username", "email", "full_name", "hashed_password", "is_active", "is_superuser",
        "created_at", "updated_at", "last_login",
    )  # fmt: skip

    def _one(self, where: str, params: list[Any]) -> User | None:
        from psycopg.rows import dict_row

        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"SELECT {_PUBLIC} FROM users {where} LIMIT 1", params)
            row = cur.fetchone()
        return _user(row) if row else None

    @translated
    def lock_creation(self) -> None:
        """Until the transaction ends, no other wizard checks for duplicates or creates a user
        (a lock may be taken again by the same transaction)."""
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [CREATE_LOCK])

    @translated
    def create(
        self,
        username: str,
        email: str,
        hashed_password: str,
        *,
        full_name: str | None = None,
        is_superuser: bool = False,
    ) -> User:
        """A new active user. AlreadyExists names the username or email taken (in any case)."""
        import psycopg

        self.lock_creation()
        taken = self.conn.execute(
            "SELECT lower(username) = lower(%s), lower(email) = lower(%s) FROM users "
            "WHERE lower(username) = lower(%s) OR lower(email) = lower(%s)",
            [username, email, username, email],
        ).fetchall()
        if any(row[0] for row in taken):
            raise AlreadyExists("username", username)
        if taken:
            raise AlreadyExists("email", email)
        from psycopg.rows import dict_row

        try:
            with self.conn.transaction(), self.conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    "INSERT INTO users (username, email, full_name, hashed_password, is_active, "
                    "is_superuser, created_at, updated_at) VALUES (%s, %s, %s, %s, true, %s, %s, "
                    f"%s) RETURNING {_PUBLIC}",
                    [username, email, full_name, hashed_password, is_superuser, _now(), _now()],
                )
                row = cur.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            # Someone (the app's registration, say) took it between the check and the insert.
            from wizard.accounts.errors import translate

            raise translate(exc, values={"username": username, "email": email}) from None
        assert row is not None
        return _user(row)

    @translated
    def get(self, user_id: int) -> User | None:
        return self._one("WHERE id = %s", [user_id])

    @translated
    def get_by_username(self, username: str) -> User | None:
        """The exact name, else the one that matches ignoring case."""
        return self._one(
            "WHERE lower(username) = lower(%s) ORDER BY username = %s DESC, id",
            [username, username],
        )

    @translated
    def get_by_email(self, email: str) -> User | None:
        return self._one(
            "WHERE lower(email) = lower(%s) ORDER BY email = %s DESC, id", [email, email]
        )

    def require(self, username: str) -> User:
        user = self.get_by_username(username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    def _filters(self, search: str | None, admins: bool, inactive: bool) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        if search:
            parts.append("(username ILIKE %s OR email ILIKE %s OR full_name ILIKE %s)")
            params += [_like(search)] * 3
        if admins:
            parts.append("is_superuser")
        if inactive:
            parts.append("is_active IS FALSE")
        return ("WHERE " + " AND ".join(parts)) if parts else "", params

    @translated
    def search(self, text: str, *, limit: int = 50) -> list[User]:
        return self.list(search=text, limit=limit)

    @translated
    def list(
        self,
        *,
        search: str | None = None,
        admins: bool = False,
        inactive: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[User]:
        from psycopg.rows import dict_row

        where, params = self._filters(search, admins, inactive)
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_PUBLIC} FROM users {where} ORDER BY id LIMIT %s OFFSET %s",
                [*params, limit, offset],
            )
            return [_user(row) for row in cur.fetchall()]

    @translated
    def count_matching(
        self, *, search: str | None = None, admins: bool = False, inactive: bool = False
    ) -> int:
        where, params = self._filters(search, admins, inactive)
        row = self.conn.execute(f"SELECT count(*) FROM users {where}", params).fetchone()
        return int(row[0]) if row else 0

    @translated
    def count_admins(self) -> int:
        """Active superusers: the ones who can administer the stack."""
        row = self.conn.execute(
            "SELECT count(*) FROM users WHERE is_superuser AND is_active IS NOT FALSE"
        ).fetchone()
        return int(row[0]) if row else 0

    @translated
    def update(self, user_id: int, **fields: Any) -> User:
        """Change the `UPDATABLE` fields; ValueError for any other name."""
        from psycopg import sql
        from psycopg.rows import dict_row

        unknown = set(fields) - UPDATABLE
        if unknown or not fields:
            raise ValueError(f"cannot update {', '.join(sorted(unknown)) or 'nothing'}")
        if "email" in fields:
            clash = self.conn.execute(
                "SELECT 1 FROM users WHERE lower(email) = lower(%s) AND id <> %s",
                [fields["email"], user_id],
            ).fetchone()
            if clash:
                raise AlreadyExists("email", fields["email"])
        names = sorted(fields)
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(name)) for name in [*names, "updated_at"]
        )
        query = sql.SQL("UPDATE users SET {} WHERE id = %s RETURNING {}").format(
            assignments, sql.SQL(_PUBLIC)
        )
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, [*(fields[name] for name in names), _now(), user_id])
            row = cur.fetchone()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return _user(row)

    @translated
    def set_password(self, user_id: int, hashed_password: str) -> None:
        cur = self.conn.execute(
            "UPDATE users SET hashed_password = %s, updated_at = %s WHERE id = %s",
            [hashed_password, _now(), user_id],
        )
        if cur.rowcount == 0:
            raise NotFound(f"no user with id {user_id}")

    @translated
    def verify_password(self, username: str, password: str) -> User | None:
        """The active user whose password this is, else None. Takes one bcrypt check whether
        or not the user exists (a dummy hash stands in), so timing reveals nothing."""
        from psycopg.rows import dict_row

        from wizard.accounts.hashing import check_password

        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_PUBLIC}, hashed_password FROM users WHERE lower(username) = lower(%s) "
                "ORDER BY username = %s DESC, id LIMIT 1",
                [username, username],
            )
            row = cur.fetchone()
        matches = check_password(password, row["hashed_password"] if row else None)
        if row is None or not matches:
            return None
        user = _user(row)
        return user if user.is_active else None

    @translated
    def record_login(self, user_id: int) -> None:
        self.conn.execute("UPDATE users SET last_login = %s WHERE id = %s", [_now(), user_id])

    @translated
    def set_active(self, user_id: int, active: bool) -> User:
        return self.update(user_id, is_active=active)

    def disable(self, user_id: int) -> User:
        return self.set_active(user_id, False)

    def enable(self, user_id: int) -> User:
        return self.set_active(user_id, True)

    @translated
    def delete(self, user_id: int) -> bool:
        """Delete the user, their refresh tokens and (by cascade) API keys. StillReferenced,
        naming the table, when other data refers to the user: then nothing is deleted."""
        import psycopg

        try:
            with self.conn.transaction():
                self.conn.execute("DELETE FROM refresh_tokens WHERE user_id = %s", [user_id])
                cur = self.conn.execute("DELETE FROM users WHERE id = %s", [user_id])
        except psycopg.errors.ForeignKeyViolation as exc:
            table = exc.diag.table_name or "another table"
            raise StillReferenced(
                f"rows of {table} still refer to the user, so nothing was deleted", table
            ) from None
        return cur.rowcount > 0
