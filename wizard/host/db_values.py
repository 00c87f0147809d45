"""What a database check works with and gives back: where to connect (DbTarget), what went
wrong (DbProblem) and the outcome (DbCheck). Values only; psycopg is not imported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from wizard.config.model import MIN_POSTGRES_VERSION

MIN_SERVER_VERSION_NUM = MIN_POSTGRES_VERSION * 10000  # server_version_num of 13.0
# libpq (and psycopg, which re-implements it) raises a connect_timeout below 2 to 2.
MIN_TIMEOUT = 2
APPLICATION_NAME = "docsearch-wizard"
WAIT_FIRST_DELAY = 0.25
WAIT_MAX_DELAY = 2.0
SCRUBBED = "***"


@dataclass(frozen=True)
class DbTarget:
    """Where and as whom to connect; `sslmode` takes libpq's values, `sslrootcert` a path or ""."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)
    sslmode: str = "prefer"
    sslrootcert: str = ""

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class DbProblem(StrEnum):
    AUTH = "auth"  # wrong password or unknown role: the server answers both the same way
    NO_DATABASE = "no-database"
    REFUSED = "refused"  # nothing listening
    TIMEOUT = "timeout"
    SSL_REQUIRED = "ssl-required"  # server accepts only SSL, the connection did not use it
    SSL_FAILED = "ssl-failed"  # negotiation/verification failed, or the server has no SSL
    DNS = "dns"  # host name not resolvable
    STARTING = "starting"  # "the database system is starting up" (or in recovery, shutting down)
    TOO_OLD = "too-old"  # server older than 13
    NO_CREATE = "no-create"  # role cannot create tables in its schema
    OTHER = "other"


RETRYABLE = frozenset({DbProblem.REFUSED, DbProblem.TIMEOUT, DbProblem.STARTING})


@dataclass(frozen=True)
class DbCheck:
    """The outcome of one check. `problem` is None exactly when `ok`.

    `server_version` ("15.18") and `can_create` are None when no connection was made.
    """

    ok: bool
    problem: DbProblem | None
    message: str
    server_version: str | None
    can_create: bool | None

    @property
    def retryable(self) -> bool:
        """True for what waiting can cure: nothing listening yet, no answer, starting up."""
        return self.problem in RETRYABLE


class PasswordChangeError(Exception):
    """`change_password` failed; `check` says why. The text never contains either password.

    `logged_in` is False when the login with the current password failed, so nothing was tried
    (a refused login then says that the role does not have that password).
    """

    def __init__(
        self, check: DbCheck, *, logged_in: bool = True, server_has_new: bool = False
    ) -> None:
        super().__init__(check.message)
        self.check = check
        self.logged_in = logged_in
        # The server may have the new password: the set-back failed too, or the connection
        # broke with the change in flight.
        self.server_has_new = server_has_new
