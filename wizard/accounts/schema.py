"""Are the stack's account tables there, with the columns the wizard reads and writes?

The web UI creates them (Alembic, at its start); the wizard only looks, in the connection's
current schema, and never creates or alters anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wizard.accounts.errors import SchemaMissing

if TYPE_CHECKING:
    from psycopg import Connection

REQUIRED: dict[str, tuple[str, ...]] = {
    "users": (
        "id", "username", "email", "full_name", "hashed_password", "is_active", "is_superuser",
        "created_at", "updated_at", "last_login",
    ),
    "api_keys": (
        "id", "user_id", "name", "key_hash", "permissions", "last_used_at", "expires_at",
        "created_at", "is_active",
    ),
    "refresh_tokens": ("id", "user_id", "token_hash", "expires_at", "created_at", "is_revoked"),
}  # fmt: skip

NOT_CREATED = (
    "the stack has not created its tables yet: start it (`docker compose up -d`) and run "
    "`wizard check --wait`"
)


@dataclass(frozen=True)
class SchemaState:
    missing_tables: tuple[str, ...]
    missing_columns: tuple[str, ...]  # "table.column", of the tables that exist

    @property
    def present(self) -> bool:
        """Any of the tables exists: the stack has started at least once."""
        return len(self.missing_tables) < len(REQUIRED)

    @property
    def compatible(self) -> bool:
        return not self.missing_tables and not self.missing_columns

    def problem(self) -> str | None:
        if not self.present:
            return NOT_CREATED
        if self.compatible:
            return None
        missing = [*self.missing_tables, *self.missing_columns]
        return (
            f"the stack's tables lack what the wizard needs ({', '.join(missing)}): this "
            "version of the stack is not one the wizard knows; upgrade the wizard or the stack"
        )


def inspect_schema(conn: Connection[Any]) -> SchemaState:
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
        [list(REQUIRED)],
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(str(table), set()).add(str(column))
    return SchemaState(
        missing_tables=tuple(table for table in REQUIRED if table not in found),
        missing_columns=tuple(
            f"{table}.{column}"
            for table, columns in REQUIRED.items()
            if table in found
            for column in columns
            if column not in found[table]
        ),
    )


def require_schema(conn: Connection[Any]) -> None:
    """SchemaMissing, saying what to do, unless every table and column is there."""
    problem = inspect_schema(conn).problem()
    if problem is not None:
        raise SchemaMissing(problem)
