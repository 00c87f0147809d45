"""The accounts layer's own errors, and the one function that turns PostgreSQL's into them.

Every message is one sentence for a person and names the field they can change. None holds a
secret: the layer sends PostgreSQL only hashes, and a failed statement's DETAIL (which may hold a
row, hash included) is never copied into a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from wizard.errors import CheckFailed, ExitCode

if TYPE_CHECKING:
    import psycopg

# SQLSTATEs worth a second try: the transaction was rolled back and nothing of it remains.
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
ADMIN_SHUTDOWN = "57P01"
TRANSIENT_STATES = frozenset({SERIALIZATION_FAILURE, DEADLOCK_DETECTED, ADMIN_SHUTDOWN})

# How each column is called in a message.
FIELD_LABELS = {
    "username": "username",
    "email": "email",
    "key_hash": "API key",
    "token_hash": "refresh token",
    "id": "id",
}
# "Key (email)=(a@b.c) already exists." or "Key (lower(email::text))=..." for an expression index.
_KEY_COLUMNS = re.compile(r"^Key \((.*?)\)=")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class AccountsError(CheckFailed):
    """Base of the layer's errors; `str()` is the message for people (exit 1, as every
    CheckFailed of wizard.errors)."""


class InvalidInput(AccountsError):
    """Values the stack would refuse (exit 2); `problems` lists every one."""

    exit_code = ExitCode.INPUT

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self._listed = problems

    @property
    def problems(self) -> list[str]:
        return self._listed


class NotFound(AccountsError):
    pass


class AlreadyExists(AccountsError):
    """A unique value is taken: `field` ("username", "email", ...) says which."""

    def __init__(self, field: str, value: str | None = None) -> None:
        label = FIELD_LABELS.get(field, field)
        shown = f" {value!r}" if value is not None else ""
        super().__init__(f"{label}{shown} already in use")
        self.field = field


class StillReferenced(AccountsError):
    """A row cannot go: rows of `table` still refer to it."""

    def __init__(self, message: str, table: str) -> None:
        super().__init__(message)
        self.table = table


class LimitReached(AccountsError):
    pass


class SchemaMissing(AccountsError):
    """The stack's tables (or columns the wizard needs) are not there."""


class Unavailable(AccountsError):
    """No connection: the message is the database check's (where, why, the fix)."""


class TransientError(AccountsError):
    """A failure that may pass (serialization, deadlock, shutdown, lost connection).

    `maybe_committed` is True when the statement or COMMIT may have taken effect before the
    failure; such work is never repeated blindly.
    """

    def __init__(self, message: str, *, sqlstate: str | None, maybe_committed: bool) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.maybe_committed = maybe_committed


class OutcomeUnknown(AccountsError):
    """The connection was lost while the change was being committed."""


class DatabaseError(AccountsError):
    """Any other refusal by the server; carries its SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def is_connection_lost(exc: psycopg.Error) -> bool:
    """No SQLSTATE and an OperationalError: the server went away mid-statement."""
    import psycopg

    return isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None


def translate(
    exc: psycopg.Error,
    *,
    maybe_committed: bool = False,
    values: Mapping[str, str] | None = None,
) -> AccountsError:
    """The layer's error for `exc`. `values` (column -> what was given) lets a unique violation
    name the value too; `maybe_committed` says whether the failed statement could have taken
    effect (an autocommit statement, or COMMIT itself)."""
    import psycopg.errors as pe

    text = str(exc)
    primary = exc.diag.message_primary or (text.splitlines()[0] if text else "")
    if isinstance(exc, pe.UniqueViolation):
        column = _violated_column(exc)
        return AlreadyExists(column, (values or {}).get(column))
    if isinstance(exc, pe.ForeignKeyViolation):
        table = exc.diag.table_name or "another table"
        if "still referenced" in (exc.diag.message_detail or ""):
            return StillReferenced(f"rows of {table} still refer to it", table)
        column = _violated_column(exc)
        return NotFound(f"the {FIELD_LABELS.get(column, column)} refers to nothing ({primary})")
    if isinstance(exc, pe.CardinalityViolation):
        return InvalidInput([f"the batch holds the same key twice ({primary})"])
    if exc.sqlstate in TRANSIENT_STATES or is_connection_lost(exc):
        what = primary or "the connection to the server was lost"
        return TransientError(what, sqlstate=exc.sqlstate, maybe_committed=maybe_committed)
    if isinstance(exc, pe.UndefinedTable | pe.UndefinedColumn):
        return SchemaMissing(f"the stack's schema is not what the wizard expects ({primary})")
    return DatabaseError(f"the database refused: {primary} (SQLSTATE {exc.sqlstate})", exc.sqlstate)


def _violated_column(exc: psycopg.Error) -> str:
    """The first column of the violated key, from DETAIL's "Key (col)=" (not its value)."""
    match = _KEY_COLUMNS.match(exc.diag.message_detail or "")
    if match:
        names = [
            name
            for name in _IDENTIFIER.findall(match.group(1))
            if name not in ("lower", "text", "varchar")
        ]
        if names:
            return str(names[0])
    constraint = exc.diag.constraint_name or ""
    for column in FIELD_LABELS:
        if column in constraint:
            return column
    return constraint or "value"
