"""The base repository: bulk insert, upsert, bulk update, exists and count over one table.

SQL is plain: identifiers are composed with `psycopg.sql` from the repository's own column list
(never from input), values are always parameters. The caller owns the transaction; nothing here
commits. Bulk paths use what the server does fastest, measured in tests/bench.py: COPY for a
plain insert, COPY into a temporary table and one `INSERT ... SELECT ... ON CONFLICT` for an
insert that may conflict, one `UPDATE ... FROM json_populate_recordset(...)` for a bulk update.
Every psycopg error leaves as one of wizard.accounts.errors' (see `translated`).

One clock: every time a repository writes or compares ("now", "expired") comes from its
`clock` (Python's UTC time by default), never from the server's `now()`, so what a command
shows as expired is what it counted as expired.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar, cast

from wizard.accounts.errors import translate

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.sql import Composable

P = ParamSpec("P")
R = TypeVar("R")
Row = dict[str, Any]

_stage_names = itertools.count()
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The accounts layer's clock: aware UTC, as the stack writes its timestamps."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class OnConflict:
    """What to do with a row whose `target` columns (a unique index's) match an existing row:
    update the `update` columns from it, or (none given) skip it."""

    target: tuple[str, ...]
    update: tuple[str, ...] = ()


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Turn psycopg errors raised by a repository method into the layer's own.

    A failure counts as possibly committed when the method ran outside a transaction (each
    statement then commits by itself): such a TransientError is never retried.
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import psycopg
        from psycopg.pq import TransactionStatus

        repository = args[0]
        assert isinstance(repository, Repository)
        outside = repository.conn.info.transaction_status is TransactionStatus.IDLE
        try:
            return method(*args, **kwargs)
        except psycopg.Error as exc:
            raise translate(exc, maybe_committed=outside) from None

    return wrapper


class Repository:
    """One table: `table` and its `columns` (the only identifiers this class ever composes)."""

    table: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]

    def __init__(self, conn: Connection[Any], clock: Clock = utc_now) -> None:
        self.conn = conn
        self.clock = clock

    # --- composing ---------------------------------------------------------------------------

    def _known(self, names: Iterable[str]) -> list[str]:
        names = list(names)
        unknown = [name for name in names if name not in self.columns]
        if unknown:
            raise ValueError(f"{self.table} has no column {', '.join(unknown)}")
        return names

    def _idents(self, names: Iterable[str]) -> Composable:
        from psycopg import sql

        return sql.SQL(", ").join(sql.Identifier(name) for name in self._known(names))

    def _where(self, filters: Mapping[str, Any]) -> tuple[Composable, list[Any]]:
        """`WHERE a = %s AND b IS NULL ...` (TRUE when empty) and its parameters."""
        from psycopg import sql

        parts: list[Composable] = []
        params: list[Any] = []
        for name, value in filters.items():
            self._known([name])
            if value is None:
                parts.append(sql.SQL("{} IS NULL").format(sql.Identifier(name)))
            else:
                parts.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(value)
        clause = sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")
        return sql.SQL("WHERE ") + clause, params

    # --- the operations ----------------------------------------------------------------------

    @translated
    def exists(self, **where: Any) -> bool:
        from psycopg import sql

        clause, params = self._where(where)
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} {})").format(
            sql.Identifier(self.table), clause
        )
        row = self.conn.execute(query, params).fetchone()
        return bool(row and row[0])

    @translated
    def count(self, **filters: Any) -> int:
        from psycopg import sql

        clause, params = self._where(filters)
        query = sql.SQL("SELECT count(*) FROM {} {}").format(sql.Identifier(self.table), clause)
        row = self.conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0

    @translated
    def bulk_insert(
        self,
        rows: Iterable[Mapping[str, Any]] | Iterable[Sequence[Any]],
        *,
        columns: Sequence[str] | None = None,
        on_conflict: OnConflict | None = None,
    ) -> int:
        """Insert `rows` (mappings, or sequences in the order of `columns`); returns how many
        rows were inserted or updated. Without `on_conflict` a duplicate key fails the whole
        batch (AlreadyExists); with it, conflicting rows are updated or skipped. A batch that
        holds one conflict key twice with an update is refused (InvalidInput)."""
        from psycopg import sql

        iterator = iter(rows)
        first = next(iterator, None)
        if first is None:
            return 0
        if columns is None:
            if not isinstance(first, Mapping):
                raise TypeError("rows that are not mappings need `columns`")
            columns = list(first)
        names = self._known(columns)
        values: Iterable[Sequence[Any]]
        chained = itertools.chain([first], iterator)
        if isinstance(first, Mapping):
            mappings = cast(Iterable[Mapping[str, Any]], chained)
            if len(names) == 1:
                values = ((row[names[0]],) for row in mappings)
            else:
                pick = itemgetter(*names)
                values = (pick(row) for row in mappings)
        else:
            values = cast(Iterable[Sequence[Any]], chained)
        if on_conflict is None:
            return self._copy(sql.Identifier(self.table), names, values)
        return self._staged_insert(names, values, on_conflict)

    def _copy(self, table: Composable, names: list[str], values: Iterable[Sequence[Any]]) -> int:
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table, self._idents(names))
        count = 0
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
                count += 1
        return count

    def _staged_insert(
        self, names: list[str], values: Iterable[Sequence[Any]], on_conflict: OnConflict
    ) -> int:
        from psycopg import sql

        stage = sql.Identifier(f"wizard_stage_{next(_stage_names)}")
        table = sql.Identifier(self.table)
        columns = self._idents(names)
        action: Composable
        if on_conflict.update:
            action = sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
                for name in self._known(on_conflict.update)
            )
        else:
            action = sql.SQL("DO NOTHING")
        # A savepoint (or a transaction of its own in autocommit): the stage never outlives it.
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL(
                    "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
                ).format(stage, columns, table)
            )
            self._copy(stage, names, values)
            cur = self.conn.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
                    table, columns, columns, stage, self._idents(on_conflict.target), action
                )
            )
            count = cur.rowcount
            self.conn.execute(sql.SQL("DROP TABLE {}").format(stage))
        return count

    @translated
    def upsert(
        self, row: Mapping[str, Any], *, conflict: Sequence[str], update: Sequence[str] = ()
    ) -> Row | None:
        """Insert `row`, or on a conflict of the `conflict` columns update its `update` columns;
        returns the row as stored (None when it conflicted and nothing was to be updated)."""
        from psycopg import sql
        from psycopg.rows import dict_row

        names = self._known(row)
        action: Composable
        if update:
            action = sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
                for name in self._known(update)
            )
        else:
            action = sql.SQL("DO NOTHING")
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {} RETURNING *").format(
            sql.Identifier(self.table),
            self._idents(names),
            sql.SQL(", ").join(sql.Placeholder() * len(names)),
            self._idents(conflict),
            action,
        )
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, [row[name] for name in names])
            return cur.fetchone()

    @translated
    def bulk_update(self, rows: Sequence[Mapping[str, Any]], *, key: str = "id") -> int:
        """Set each row's other columns where `key` matches, in one statement; returns how many
        rows changed. Every row must hold the same columns.

        The rows travel as one JSON parameter that the server reads as the table's own row
        type (`json_populate_recordset(NULL::table, ...)`), so each value gets its column's
        type without a list of casts, however many rows there are.
        """
        from psycopg import sql
        from psycopg.types.json import Json

        if not rows:
            return 0
        names = self._known(rows[0])
        if key not in names or len(names) < 2:
            raise ValueError(f"bulk_update needs {key!r} and at least one column to set")
        if any(set(row) != set(names) for row in rows):
            raise ValueError("bulk_update: every row must hold the same columns")
        table = sql.Identifier(self.table)
        assignments = sql.SQL(", ").join(
            sql.SQL("{0} = v.{0}").format(sql.Identifier(name)) for name in names if name != key
        )
        query = sql.SQL(
            "UPDATE {table} AS t SET {assignments} "
            "FROM json_populate_recordset(NULL::{table}, %s) AS v WHERE t.{key} = v.{key}"
        ).format(table=table, assignments=assignments, key=sql.Identifier(key))
        payload = Json([dict(row) for row in rows], dumps=_dumps)
        return self.conn.execute(query, [payload]).rowcount


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    # A value that is itself JSON for a json column (psycopg's Json wrapper).
    wrapped = getattr(value, "obj", None)
    if wrapped is not None:
        return wrapped
    raise TypeError(f"cannot send {type(value).__name__} in a bulk update")
