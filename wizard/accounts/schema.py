"""Are the stack's account tables there, with the columns the wizard reads and writes?

The web UI creates them (Alembic, at its start); the wizard only looks, in the connection's
current schema, and never creates or alters anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wizard.accounts.api_keys import ApiKeyRepository
from wizard.accounts.errors import SchemaMissing
from wizard.accounts.refresh_tokens import RefreshTokenRepository
from wizard.accounts.users import UserRepository

if TYPE_CHECKING:
    from psycopg import Connection

# What the repositories read and write: their own column lists, so the check cannot drift.
REQUIRED: dict[str, tuple[str, ...]] = {
    repository.table: repository.columns
    for repository in (UserRepository, ApiKeyRepository, RefreshTokenRepository)
}
# The stack's Alembic heads this wizard was tested against (jbmiller10/semantik
# alembic/versions; tests/accounts_schema.sql mirrors that head's tables).
TESTED_REVISIONS = frozenset({"202601301900"})

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


def alembic_revision(conn: Connection[Any]) -> str | None:
    """The schema's Alembic revision (`alembic_version`), None when that table is not there."""
    exists = conn.execute(
        "SELECT to_regclass(quote_ident(current_schema()) || '.alembic_version') IS NOT NULL"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT string_agg(version_num, ',') FROM alembic_version").fetchone()
    return str(row[0]) if row and row[0] is not None else None


def revision_warning(revision: str | None) -> str | None:
    """A warning when the schema's revision is not one the wizard was tested with."""
    if revision in TESTED_REVISIONS:
        return None
    tested = ", ".join(sorted(TESTED_REVISIONS))
    found = f"is at revision {revision}" if revision else "has no alembic_version"
    return (
        f"the stack's schema {found}; this wizard was tested with {tested}: the accounts "
        "commands may not match what this version of the stack expects"
    )


def require_schema(conn: Connection[Any]) -> None:
    """SchemaMissing, saying what to do, unless every table and column is there."""
    problem = inspect_schema(conn).problem()
    if problem is not None:
        raise SchemaMissing(problem)
