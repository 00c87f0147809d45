"""What refers to a user: the foreign keys to `users`, read from the catalog, and their rows.

The stack grows tables that refer to users with every release (15 foreign keys at Alembic head
202601301900: collections, operations and the audit log block a delete, system_settings loses
its `updated_by`, api_keys, llm_provider_configs, benchmarks and more cascade). A hand-kept
list would miss the next one, so `references` asks `pg_constraint` each time, and a delete is
planned from what the database itself would do. Table and column names come from the catalog
and are composed with `psycopg.sql`; values are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from wizard.accounts.api_keys import ApiKeyRepository
from wizard.accounts.refresh_tokens import RefreshTokenRepository

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.sql import Composable

    from wizard.accounts.users import User


class OnDelete(StrEnum):
    """What deleting a user does to a row that refers to them (pg_constraint.confdeltype)."""

    BLOCKS = "blocks the delete"  # NO ACTION, RESTRICT
    CASCADE = "deleted with the user"
    SET_NULL = "kept, the reference set to NULL"
    SET_DEFAULT = "kept, the reference set to its default"


_ACTIONS = {
    "a": OnDelete.BLOCKS, "r": OnDelete.BLOCKS, "c": OnDelete.CASCADE, "n": OnDelete.SET_NULL,
    "d": OnDelete.SET_DEFAULT,
}  # fmt: skip
# The user's own credentials: a plain delete takes them (the wizard deletes the refresh tokens
# itself first, their foreign key has no cascade), as the README promises.
CREDENTIALS = frozenset(
    {(ApiKeyRepository.table, "user_id"), (RefreshTokenRepository.table, "user_id")}
)


@dataclass(frozen=True)
class Reference:
    """One foreign key column `table.column` that refers to `users.id`."""

    schema: str
    table: str
    column: str
    action: OnDelete

    @property
    def credentials(self) -> bool:
        return (self.table, self.column) in CREDENTIALS

    def ident(self) -> Composable:
        from psycopg import sql

        return sql.Identifier(self.schema, self.table)


@dataclass(frozen=True)
class Held:
    """How many rows of one reference point at a user (or, in `owned_rows`, at any user)."""

    reference: Reference
    rows: int

    def as_json(self) -> dict[str, Any]:
        ref = self.reference
        return {"table": ref.table, "column": ref.column, "rows": self.rows,
                "on_delete": ref.action.name.lower()}  # fmt: skip


@dataclass(frozen=True)
class DeletionPlan:
    """What deleting `user` would do, table by table (only references holding rows)."""

    user: User
    held: tuple[Held, ...]

    def _where(self, credentials: bool, *actions: OnDelete) -> tuple[Held, ...]:
        return tuple(
            h
            for h in self.held
            if h.reference.credentials == credentials and h.reference.action in actions
        )

    @property
    def credentials(self) -> tuple[Held, ...]:
        return tuple(h for h in self.held if h.reference.credentials)

    @property
    def blocking(self) -> tuple[Held, ...]:
        return self._where(False, OnDelete.BLOCKS)

    @property
    def cascading(self) -> tuple[Held, ...]:
        return self._where(False, OnDelete.CASCADE)

    @property
    def kept(self) -> tuple[Held, ...]:
        return self._where(False, OnDelete.SET_NULL, OnDelete.SET_DEFAULT)


def references(conn: Connection[Any]) -> list[Reference]:
    """Every single-column foreign key to the current schema's `users`, by table and column."""
    rows = conn.execute(
        "SELECT ns.nspname, rel.relname, att.attname, c.confdeltype FROM pg_constraint c "
        "JOIN pg_class rel ON rel.oid = c.conrelid "
        "JOIN pg_namespace ns ON ns.oid = rel.relnamespace "
        "JOIN pg_attribute att ON att.attrelid = c.conrelid AND att.attnum = c.conkey[1] "
        "WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 "
        "AND c.confrelid = to_regclass(quote_ident(current_schema()) || '.users') "
        "ORDER BY rel.relname, att.attname"
    ).fetchall()
    return [
        Reference(str(schema), str(table), str(column), _ACTIONS[str(action)])
        for schema, table, column, action in rows
    ]


def _counts(conn: Connection[Any], refs: list[Reference], user_id: int | None) -> list[Held]:
    """Rows per reference pointing at `user_id` (at any user when None), in one statement."""
    from psycopg import sql

    if not refs:
        return []
    predicate = sql.SQL("= %s") if user_id is not None else sql.SQL("IS NOT NULL")
    counts = sql.SQL(", ").join(
        sql.SQL("(SELECT count(*) FROM {} WHERE {} {})").format(
            ref.ident(), sql.Identifier(ref.column), predicate
        )
        for ref in refs
    )
    params = [user_id] * len(refs) if user_id is not None else []
    row = conn.execute(sql.SQL("SELECT ") + counts, params).fetchone()
    assert row is not None
    return [Held(ref, int(count)) for ref, count in zip(refs, row, strict=True)]


def deletion_plan(conn: Connection[Any], user: User) -> DeletionPlan:
    held = _counts(conn, references(conn), user.id)
    return DeletionPlan(user, tuple(h for h in held if h.rows))


def owned_rows(conn: Connection[Any]) -> list[Held]:
    """For every reference, how many rows point at some user (what the accounts own)."""
    return _counts(conn, references(conn), None)
