"""One unit of work: the repositories over one connection and one transaction, retried when
PostgreSQL says a retry is safe.

`Accounts` opens the connection lazily (bounded by the connect timeout) and reopens it after a
lost connection. `run(work)` calls `work(repositories)` inside one transaction and commits; a
serialization failure, a deadlock, an administrator shutdown or a connection lost before COMMIT
rolls everything back and runs `work` again, up to `attempts` times with doubling delays. A
failure that may have left the work committed (the connection lost during COMMIT) is never
repeated: it raises OutcomeUnknown.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from wizard.accounts.api_keys import ApiKeyRepository
from wizard.accounts.base import Clock, utc_now
from wizard.accounts.errors import OutcomeUnknown, TransientError, translate
from wizard.accounts.refresh_tokens import RefreshTokenRepository
from wizard.accounts.users import UserRepository

if TYPE_CHECKING:
    from psycopg import Connection

T = TypeVar("T")
ATTEMPTS = 4
FIRST_DELAY = 0.05
MAX_DELAY = 1.0


@dataclass(frozen=True)
class Repositories:
    conn: Connection[Any]
    users: UserRepository
    api_keys: ApiKeyRepository
    refresh_tokens: RefreshTokenRepository

    @classmethod
    def over(cls, conn: Connection[Any], clock: Clock = utc_now) -> Repositories:
        """The repositories over `conn`, all reading the one `clock`."""
        return cls(
            conn,
            UserRepository(conn, clock),
            ApiKeyRepository(conn, clock),
            RefreshTokenRepository(conn, clock),
        )


class Accounts:
    """Hands out the repositories, one transaction at a time, over one connection."""

    def __init__(
        self,
        connect: Callable[[], Connection[Any]],
        *,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._connect = connect
        self._conn: Connection[Any] | None = None
        self.attempts = attempts
        self._sleep = sleep

    @property
    def conn(self) -> Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._connect()
        return self._conn

    def run(self, work: Callable[[Repositories], T]) -> T:
        import psycopg

        delay = FIRST_DELAY
        for attempt in range(1, self.attempts + 1):
            conn = self.conn
            committing = False
            try:
                with conn.transaction():
                    result = work(Repositories.over(conn))
                    committing = True  # leaving the block sends COMMIT
                return result
            except psycopg.Error as exc:
                # Only COMMIT itself gets here untranslated (the repositories translate their
                # own statements). 40001 or 40P01 at COMMIT: the server rolled back.
                error = translate(exc, maybe_committed=committing)
                if (
                    committing
                    and isinstance(error, TransientError)
                    and exc.sqlstate in ("40001", "40P01")
                ):
                    error.maybe_committed = False
            except TransientError as exc:
                error = exc
            if not isinstance(error, TransientError):
                raise error from None
            if error.maybe_committed:
                raise OutcomeUnknown(
                    f"the connection failed while the change was being committed ({error}); "
                    "it may or may not have been made: look before trying again"
                ) from None
            if attempt == self.attempts:
                raise TransientError(
                    f"gave up after {attempt} attempts: {error}",
                    sqlstate=error.sqlstate,
                    maybe_committed=False,
                ) from None
            self._sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, MAX_DELAY)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Accounts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
