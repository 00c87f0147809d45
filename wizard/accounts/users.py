"""The `users` table: create, look up, search, update, passwords, enable/disable, delete.

Passwords arrive here already hashed for writes (hashing costs a quarter of a second, so callers
do it before their transaction) and in plain text only for `verify_password`, which never lets
timing tell whether a user exists. Usernames and emails are unique ignoring case: the unique
indexes are case-sensitive, so `create` checks first, under a lock every wizard takes, and
compares emails with `str.casefold` (straße@ and STRASSE@ are one address).

`is_active` is nullable in the stack's schema and the stack reads NULL as inactive (its
`if not user.is_active`): so does every query here (`is_active IS TRUE`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from wizard.accounts.base import Repository, translated
from wizard.accounts.errors import AlreadyExists, NotFound

# The columns a person may change with `update` (the password has its own method).
UPDATABLE = frozenset({"email", "full_name", "is_active", "is_superuser"})
# Serialises the wizard's own case-insensitive checks with its inserts (pg_advisory_xact_lock).
CREATE_LOCK = 0x77697A61  # "wiza"


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

    @property
    def administers(self) -> bool:
        """An active superuser: one who can administer the stack."""
        return self.is_superuser and self.is_active

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


# What each User field is read as (class_row matches by name): NULL is_active is inactive.
_READ_AS = {"is_active": "is_active IS TRUE AS is_active"}
_PUBLIC = ", ".join(_READ_AS.get(f.name, f.name) for f in fields(User))


@dataclass(frozen=True)
class _Identity:
    id: int
    username: str
    email: str


@dataclass(frozen=True)
class UserFilter:
    """Which users `list` and `count_matching` return: all of them when nothing is set."""

    search: str | None = None  # part of the username, email or full name, taken literally
    admins: bool = False
    inactive: bool = False  # disabled (is_active false or NULL)

    def where(self) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        if self.search:
            parts.append("(username ILIKE %s OR email ILIKE %s OR full_name ILIKE %s)")
            params += [_like(self.search)] * 3
        if self.admins:
            parts.append("is_superuser")
        if self.inactive:
            parts.append("is_active IS NOT TRUE")
        return ("WHERE " + " AND ".join(parts)) if parts else "", params


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

    def _users(self, where: str, params: list[Any], tail: str = "") -> list[User]:
        from psycopg.rows import class_row

        with self.conn.cursor(row_factory=class_row(User)) as cur:
            cur.execute(f"SELECT {_PUBLIC} FROM users {where} {tail}", params)
            return cur.fetchall()

    def _one(self, where: str, params: list[Any]) -> User | None:
        found = self._users(where, params, "LIMIT 1")
        return found[0] if found else None

    @translated
    def lock_creation(self) -> None:
        """Until the transaction ends, no other wizard checks for duplicates or creates a user
        (a lock may be taken again by the same transaction)."""
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [CREATE_LOCK])

    def _refuse_taken(
        self, username: str | None, email: str | None, other_than: int | None
    ) -> None:
        """AlreadyExists when another user has `username` (ignoring case) or `email` (compared
        with casefold, which SQL lacks: the stack's users are people, few enough to read)."""
        from psycopg.rows import class_row

        with self.conn.cursor(row_factory=class_row(_Identity)) as cur:
            cur.execute(
                "SELECT id, username, email FROM users WHERE id IS DISTINCT FROM %s", [other_than]
            )
            others = cur.fetchall()
        if username is not None:
            folded = username.casefold()
            if any(other.username.casefold() == folded for other in others):
                raise AlreadyExists("username", username)
        if email is not None:
            folded = email.casefold()
            if any(other.email.casefold() == folded for other in others):
                raise AlreadyExists("email", email)

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
        from psycopg.rows import class_row

        self.lock_creation()
        self._refuse_taken(username, email, other_than=None)
        now = self.clock()
        try:
            with self.conn.transaction(), self.conn.cursor(row_factory=class_row(User)) as cur:
                cur.execute(
                    "INSERT INTO users (username, email, full_name, hashed_password, is_active, "
                    "is_superuser, created_at, updated_at) VALUES (%s, %s, %s, %s, true, %s, %s, "
                    f"%s) RETURNING {_PUBLIC}",
                    [username, email, full_name, hashed_password, is_superuser, now, now],
                )
                row = cur.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            # Someone (the app's registration, say) took it between the check and the insert.
            from wizard.accounts.errors import translate

            raise translate(exc, values={"username": username, "email": email}) from None
        assert row is not None
        return row

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

    @translated
    def search(self, text: str, *, limit: int = 50) -> list[User]:
        return self.list(UserFilter(search=text), limit=limit)

    @translated
    def list(
        self, which: UserFilter | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[User]:
        where, params = (which or UserFilter()).where()
        return self._users(where, [*params, limit, offset], "ORDER BY id LIMIT %s OFFSET %s")

    @translated
    def count_matching(self, which: UserFilter | None = None) -> int:
        where, params = (which or UserFilter()).where()
        row = self.conn.execute(f"SELECT count(*) FROM users {where}", params).fetchone()
        return int(row[0]) if row else 0

    @translated
    def count_admins(self) -> int:
        """Active superusers (is_active true, not NULL): the ones who can administer the stack."""
        row = self.conn.execute(
            "SELECT count(*) FROM users WHERE is_superuser AND is_active IS TRUE"
        ).fetchone()
        return int(row[0]) if row else 0

    @translated
    def update(self, user_id: int, **fields: Any) -> User:
        """Change the `UPDATABLE` fields; ValueError for any other name."""
        from psycopg import sql
        from psycopg.rows import class_row

        unknown = set(fields) - UPDATABLE
        if unknown or not fields:
            raise ValueError(f"cannot update {', '.join(sorted(unknown)) or 'nothing'}")
        if "email" in fields:
            self._refuse_taken(None, fields["email"], other_than=user_id)
        names = sorted(fields)
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(name)) for name in [*names, "updated_at"]
        )
        query = sql.SQL("UPDATE users SET {} WHERE id = %s RETURNING {}").format(
            assignments, sql.SQL(_PUBLIC)
        )
        with self.conn.cursor(row_factory=class_row(User)) as cur:
            cur.execute(query, [*(fields[name] for name in names), self.clock(), user_id])
            row = cur.fetchone()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return row

    @translated
    def set_password(self, user_id: int, hashed_password: str) -> None:
        cur = self.conn.execute(
            "UPDATE users SET hashed_password = %s, updated_at = %s WHERE id = %s",
            [hashed_password, self.clock(), user_id],
        )
        if cur.rowcount == 0:
            raise NotFound(f"no user with id {user_id}")

    @translated
    def verify_password(self, username: str, password: str) -> User | None:
        """The active user whose password this is, else None. Takes one bcrypt check whether
        or not the user exists (a dummy hash stands in), so timing reveals nothing."""
        from wizard.accounts.hashing import check_password

        row = self.conn.execute(
            "SELECT id, hashed_password FROM users WHERE lower(username) = lower(%s) "
            "ORDER BY username = %s DESC, id LIMIT 1",
            [username, username],
        ).fetchone()
        matches = check_password(password, str(row[1]) if row else None)
        if row is None or not matches:
            return None
        user = self.get(int(row[0]))
        return user if user is not None and user.is_active else None

    @translated
    def record_login(self, user_id: int) -> None:
        self.conn.execute("UPDATE users SET last_login = %s WHERE id = %s", [self.clock(), user_id])

    @translated
    def set_active(self, user_id: int, active: bool) -> User:
        return self.update(user_id, is_active=active)

    def disable(self, user_id: int) -> User:
        return self.set_active(user_id, False)

    def enable(self, user_id: int) -> User:
        return self.set_active(user_id, True)

    @translated
    def delete(self, user_id: int) -> bool:
        """Delete the user and their refresh tokens; the database cascades the rest (API keys
        and whatever else its foreign keys say: see wizard.accounts.references, which callers
        use to look first). StillReferenced, naming the table, when rows still refer to the
        user without a cascade: then nothing is deleted."""
        import psycopg

        from wizard.accounts.errors import StillReferenced

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
