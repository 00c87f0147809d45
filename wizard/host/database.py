"""Can the stack use this PostgreSQL server? Connect, classify what went wrong, rotate a password.

Every outcome is a `DbCheck` value whose message is one sentence naming the server (and, where it
matters, the database and the user), what happened and the likely fix; nothing here prints. No text
this module produces contains a password: every message has each password involved (old and new
alike) replaced by "***" before it leaves, even though libpq is not known to echo one.

psycopg is imported lazily: `wizard --help` must not pay for it.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import quote

from wizard.config.model import DEFAULT_DB_TIMEOUT, MIN_POSTGRES_VERSION

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow

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


# --- public operations ----------------------------------------------------------------------


def check_database(target: DbTarget, timeout: int = DEFAULT_DB_TIMEOUT) -> DbCheck:
    """Connect to `target` and check that the stack can use it; never raises for server trouble.

    ok requires a server of version 13 or newer on which the user may create tables in its current
    schema (`has_schema_privilege(current_schema(), 'CREATE')`: managed databases often grant the
    schema right without CREATE on the database, which is about creating schemas).

    `timeout` is in seconds (values under 2 count as 2, as in libpq). The call returns within about
    timeout + 2 s even for a host whose resolver hangs, a port that drops packets or a server
    that accepts TCP and never answers; refused connections return at once.
    """
    try:
        conn = _connect(target, timeout, (target.password,))
    except _ConnectFailed as failed:
        return failed.check
    with conn:
        return _scrubbed(_inspect(conn, target), (target.password,))


def wait_for_database(target: DbTarget, timeout: int, wait_seconds: float) -> DbCheck:
    """Check repeatedly while the result is retryable (refused, timeout, starting up).

    Waits 0.25 s after the first try, doubling up to 2 s between tries, until `wait_seconds` have
    passed, and returns the last result. Any other outcome (success, wrong password, missing
    database, ...) is returned at once: waiting cannot cure it. No single try runs past the
    deadline by more than about two seconds, because each try's timeout shrinks to what is left.
    """
    deadline = time.monotonic() + wait_seconds
    delay = WAIT_FIRST_DELAY
    while True:
        remaining = deadline - time.monotonic()
        try_timeout = min(timeout, max(MIN_TIMEOUT, math.ceil(remaining)))
        result = check_database(target, try_timeout)
        remaining = deadline - time.monotonic()
        if result.ok or not result.retryable or remaining <= 0:
            return result
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, WAIT_MAX_DELAY)


def change_password(
    target: DbTarget,
    new_password: str,
    timeout: int = DEFAULT_DB_TIMEOUT,
    *,
    before_change: Callable[[], None] | None = None,
    on_changed: Callable[[], None] | None = None,
) -> None:
    """Set the password of `target.user` on the live server to `new_password`.

    Logs in with `target.password`, sends `ALTER ROLE ... PASSWORD` with a SCRAM-SHA-256 verifier
    computed by libpq on this machine (the plaintext never reaches the server, its log or
    pg_stat_activity), then proves that a fresh login with the new password works. If it does not,
    or anything else ends the call once the ALTER was sent (Ctrl-C, SIGTERM mapped to
    KeyboardInterrupt), the old password is set back over the still-open first session (the old
    password no longer opens a new one) before the error or the interrupt goes on.

    `before_change` runs once the login succeeded, just before the ALTER is sent (a caller writes
    the new password down there, so that no kill can leave it only on the server); whatever it
    raises ends the call with nothing changed. `on_changed` runs once the new password is
    proven, still inside that guard: a caller that must undo the change later registers its undo
    there (or notes that it must), so that there is no moment at which neither would set the old
    password back. (Should an interrupt land just after it, both do;
    the caller's undo then finds the old password in place.)

    Raises ValueError for an empty password, or one libpq cannot carry (NUL, or not encodable as
    UTF-8), and PasswordChangeError when the login, the change or the proof fails, or when setting
    the old password back after an interrupt fails; its message says which password the role has
    afterwards whenever that is in doubt.
    """
    if not new_password or "\x00" in new_password or not _utf8(new_password):
        raise ValueError(
            "the new PostgreSQL password must be non-empty, without NUL, and valid Unicode"
        )
    import psycopg

    secrets = (target.password, new_password)
    user = f'user "{target.user}" at {target.where}'
    try:
        conn = _connect(target, timeout, secrets)
    except _ConnectFailed as failed:
        raise PasswordChangeError(failed.check, logged_in=False) from None
    with conn:
        role = target.user
        sent = False  # once the ALTER may have reached the server, an interrupt undoes it
        try:
            row = conn.execute("SELECT current_user").fetchone()
            role = str(row[0]) if row else target.user
            if before_change is not None:
                before_change()
            sent = True
            _set_password(conn, role, new_password)
        except psycopg.Error as exc:
            if sent and conn.broken:
                # The server went away with the ALTER in flight: it may have committed it.
                message = (
                    f"The connection to {user} broke while the new password was being set "
                    f"({_detail(exc, secrets)}): the role may have the NEW password now."
                )
                raise PasswordChangeError(
                    _scrubbed(_failed(DbProblem.OTHER, message), secrets), server_has_new=True
                ) from None
            message = (
                f"Changing the password of {user} failed ({_detail(exc, secrets)}); "
                "the old password is unchanged."
            )
            raise PasswordChangeError(
                _scrubbed(_failed(DbProblem.OTHER, message), secrets)
            ) from None
        except BaseException:
            # Interrupted, perhaps after the server applied the ALTER: setting the old password
            # again is harmless if it did not.
            if sent:
                _set_back_after_interrupt(conn, role, target.password, user, secrets)
            raise

        try:
            _connect(replace(target, password=new_password), timeout, secrets).close()
            if on_changed is not None:
                on_changed()
        except _ConnectFailed as failed:
            proof = failed
        except BaseException:
            _set_back_after_interrupt(conn, role, target.password, user, secrets)
            raise
        else:
            return

        try:
            _set_password(conn, role, target.password)
        except psycopg.Error as exc:
            message = (
                f"The password of {user} was changed but a fresh login with the new one failed "
                f"({proof.detail}), and setting the old one back failed too "
                f"({_detail(exc, secrets)}): the role most likely has the NEW password now."
            )
            raise PasswordChangeError(
                _scrubbed(replace(proof.check, message=message), secrets), server_has_new=True
            ) from None
        else:
            message = (
                f"A fresh login as {user} with the new password failed ({proof.detail}), so the "
                "old password was set back and nothing changed."
            )
        raise PasswordChangeError(_scrubbed(replace(proof.check, message=message), secrets))


def _set_back_after_interrupt(
    conn: Connection[TupleRow], role: str, password: str, user: str, secrets: tuple[str, ...]
) -> None:
    """The old password back after an interrupt; PasswordChangeError (from the interrupt) if the
    server refuses, since the person must then learn that the role has the NEW password."""
    import psycopg

    try:
        _set_password(conn, role, password)
    except psycopg.Error as exc:
        message = (
            f"Interrupted after the password of {user} was changed, and setting the old one "
            f"back failed ({_detail(exc, secrets)}): the role most likely has the NEW password "
            "now."
        )
        raise PasswordChangeError(
            _scrubbed(_failed(DbProblem.OTHER, message), secrets), server_has_new=True
        ) from None


def connect(target: DbTarget, timeout: int = DEFAULT_DB_TIMEOUT) -> Connection[TupleRow]:
    """An autocommit connection to `target`, bounded like `check_database`'s (DNS included).

    Raises ConnectFailed, whose `check` is the classified failure with its one-sentence message
    (the password scrubbed), for the caller to report.
    """
    return _connect(target, timeout, (target.password,))


# --- connecting --------------------------------------------------------------------------------


class _ConnectFailed(Exception):
    """`check` is the classified failure, `detail` libpq's reason alone (both scrubbed)."""

    def __init__(self, check: DbCheck, detail: str) -> None:
        super().__init__(check.message)
        self.check = check
        self.detail = detail


# The public name of the failure `connect` raises.
ConnectFailed = _ConnectFailed


def _connect(target: DbTarget, timeout: int, secrets: tuple[str, ...]) -> Connection[TupleRow]:
    """A connection (autocommit) or _ConnectFailed carrying the classified failure.

    The host name is resolved here, in a thread bounded by the deadline, because getaddrinfo
    blocks for as long as the system resolver likes and neither libpq nor psycopg bounds it.
    Each address is then tried with libpq's `hostaddr` (and the name kept in `host`, which
    verify-full checks the certificate against), sharing one deadline.
    """
    import psycopg

    timeout = max(MIN_TIMEOUT, int(timeout))
    deadline = time.monotonic() + timeout
    try:
        addresses = _resolve(target.host, target.port, timeout)
    except _ResolveFailed as exc:
        detail = _scrub(str(exc), secrets)
        dns = _classified(DbProblem.DNS, target, timeout, detail)
        raise _ConnectFailed(_scrubbed(dns, secrets), detail) from None

    failure: DbCheck | None = None
    detail = ""
    for index, address in enumerate(addresses):
        remaining = deadline - time.monotonic()
        if index > 0 and remaining < 1:
            break
        try:
            return psycopg.connect(
                host=target.host,
                hostaddr=address,  # None (like every None here) leaves the parameter unset
                port=target.port,
                dbname=target.dbname,
                user=target.user,
                password=target.password,
                sslmode=target.sslmode,
                sslrootcert=target.sslrootcert or None,
                connect_timeout=max(MIN_TIMEOUT, math.ceil(remaining)),
                # A password login never uses GSSAPI encryption; skipping the attempt avoids a
                # Kerberos credential lookup (and its delay) where libpq has GSSAPI built in.
                gssencmode="disable",
                application_name=APPLICATION_NAME,
                autocommit=True,
                # Server-side prepared statements break behind pgbouncer in transaction mode.
                prepare_threshold=None,
            )
        except psycopg.Error as exc:
            problem = _classify(exc)
            detail = _detail(exc, secrets)
            failure = _classified(problem, target, timeout, detail)
            if problem not in _TRY_NEXT_ADDRESS:
                break
        except ValueError as exc:  # e.g. a NUL character in a parameter
            detail = _scrub(str(exc), secrets)
            failure = _classified(DbProblem.OTHER, target, timeout, detail)
            break
    assert failure is not None
    raise _ConnectFailed(_scrubbed(failure, secrets), detail)


# An address that did not answer says nothing about the host's other addresses; a server that
# answered (wrong password, missing database, ...) gives the same answer on all of them.
_TRY_NEXT_ADDRESS = frozenset({DbProblem.REFUSED, DbProblem.TIMEOUT, DbProblem.OTHER})


class _ResolveFailed(Exception):
    pass


def _resolve(host: str, port: int, seconds: float) -> list[str | None]:
    """The addresses to try in order; [None] means "let libpq handle host" (a socket or a list)."""
    if host.startswith("/") or "," in host or not host:
        return [None]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]

    outcome: list[list[str] | OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
            outcome.append([str(info[4][0]) for info in infos])
        except OSError as exc:
            outcome.append(exc)

    # A daemon thread: if the resolver never returns, the process can still exit.
    thread = threading.Thread(target=lookup, name="wizard-resolve", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise _ResolveFailed(f"no answer from the resolver within {seconds:g} s")
    result = outcome[0]
    if isinstance(result, OSError):
        reason = result.strerror if result.strerror else str(result)
        raise _ResolveFailed(reason)
    addresses: list[str | None] = list(dict.fromkeys(result))  # in order, without repeats
    if not addresses:
        raise _ResolveFailed("no addresses")
    return addresses


# --- once connected ------------------------------------------------------------------------------


def _inspect(conn: Connection[TupleRow], target: DbTarget) -> DbCheck:
    import psycopg

    number = conn.info.server_version
    version = format_server_version(number)
    try:
        row = conn.execute(
            "SELECT current_schema(), has_schema_privilege(current_schema(), 'CREATE')"
        ).fetchone()
    except psycopg.Error as exc:
        detail = _detail(exc, (target.password,))
        return DbCheck(
            ok=False,
            problem=DbProblem.OTHER,
            message=(
                f"Connected to PostgreSQL {version} at {target.where} as user "
                f'"{target.user}", but checking its rights failed ({detail}).'
            ),
            server_version=version,
            can_create=None,
        )
    schema = row[0] if row else None
    # has_schema_privilege(NULL, ...) is NULL: no schema on the search_path exists.
    can_create = bool(row and row[1])
    return judge_server(target, number, schema if isinstance(schema, str) else None, can_create)


def format_server_version(number: int) -> str:
    """server_version_num as people write it: 150018 -> "15.18", 90624 -> "9.6.24"."""
    if number >= 100000:
        return f"{number // 10000}.{number % 10000}"
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def judge_server(target: DbTarget, number: int, schema: str | None, can_create: bool) -> DbCheck:
    """The verdict on a server we logged in to: version first, then the right to create tables."""
    version = format_server_version(number)
    where = f'PostgreSQL {version} at {target.where}, database "{target.dbname}"'
    if number < MIN_SERVER_VERSION_NUM:
        problem: DbProblem | None = DbProblem.TOO_OLD
        message = (
            f"{where} is too old: the stack needs PostgreSQL {MIN_POSTGRES_VERSION} or newer; "
            "upgrade the server."
        )
    elif schema is None:
        problem = DbProblem.NO_CREATE
        message = (
            f'{where}: no schema on the search_path of user "{target.user}" exists, so it has '
            "nowhere to create tables; create one or fix the role's search_path."
        )
    elif not can_create:
        problem = DbProblem.NO_CREATE
        message = (
            f'{where}: user "{target.user}" can log in but cannot create tables in schema '
            f'"{schema}"; as its owner run GRANT CREATE ON SCHEMA "{schema}" TO "{target.user}".'
        )
    else:
        problem = None
        message = f'Connected to {where} as user "{target.user}", who can create tables.'
    return DbCheck(
        ok=problem is None,
        problem=problem,
        message=message,
        server_version=version,
        can_create=can_create and schema is not None,
    )


# --- classifying connection failures ----------------------------------------------------------


def _classify(exc: Exception) -> DbProblem:
    """The problem behind a connection-phase error.

    Errors before the session exists carry no SQLSTATE, so the class and libpq's (English)
    message text are all there is. The order matters: "does not exist" is also said of a missing
    root certificate file, and the pg_hba.conf rejections mention encryption.
    """
    import psycopg

    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return DbProblem.TIMEOUT
    text = str(exc).lower()
    if "failed to resolve host" in text or "could not translate host name" in text:
        return DbProblem.DNS
    if "pg_hba.conf" in text:
        # PostgreSQL 14+ says "no encryption", older versions "SSL off".
        if "no encryption" in text or "ssl off" in text:
            return DbProblem.SSL_REQUIRED
        return DbProblem.OTHER
    if any(
        phrase in text
        for phrase in (
            "the database system is starting up",
            "the database system is not yet accepting connections",
            "the database system is in recovery mode",
            "the database system is shutting down",
        )
    ):
        return DbProblem.STARTING
    if (
        "authentication failed" in text  # password, md5, scram, ident, peer, ldap, ...
        or "no password supplied" in text
        or ('role "' in text and "does not exist" in text)  # said only under trust auth
    ):
        return DbProblem.AUTH
    if 'database "' in text and "does not exist" in text:
        return DbProblem.NO_DATABASE
    if "connection refused" in text:
        return DbProblem.REFUSED
    if "timeout expired" in text or "timed out" in text:
        return DbProblem.TIMEOUT
    if text.startswith("invalid ") or ": invalid " in text:
        return DbProblem.OTHER  # a parameter libpq rejects, such as sslmode=bogus
    if "ssl" in text or "certificate" in text:
        return DbProblem.SSL_FAILED
    return DbProblem.OTHER


def _classified(problem: DbProblem, target: DbTarget, timeout: int, detail: str) -> DbCheck:
    """The one-sentence message for a failed connection; `detail` is already scrubbed."""
    who = f'user "{target.user}" on database "{target.dbname}"'
    at = f"PostgreSQL at {target.where}"
    lower = detail.lower()
    if problem is DbProblem.AUTH:
        if "no password supplied" in lower:
            message = f"{at} asks for a password for {who} but none was given; set the password."
        else:
            message = (
                f"{at} refused {who}: wrong password or no such user; check both "
                "(a bundled server keeps the password it was first started with until it is "
                "rotated)."
            )
    elif problem is DbProblem.NO_DATABASE:
        message = (
            f'{at} has no database "{target.dbname}"; create it (CREATE DATABASE '
            f'"{target.dbname}" OWNER "{target.user}") or correct the database name.'
        )
    elif problem is DbProblem.REFUSED:
        message = (
            f"Nothing is listening at {target.where} (connection refused); start PostgreSQL "
            "or correct the host and port."
        )
    elif problem is DbProblem.TIMEOUT:
        message = (
            f"{at} did not answer within {timeout} s; check the host, the port and any "
            "firewall in between, or allow a longer timeout."
        )
    elif problem is DbProblem.SSL_REQUIRED:
        if target.sslmode == "disable":
            message = (
                f'{at} accepts {who} only over SSL but sslmode is "disable"; set sslmode to '
                '"require" (or "verify-full" with the server\'s CA certificate).'
            )
        else:
            message = (
                f"{at} accepts {who} only over SSL, which this connection did not use "
                f'(sslmode "{target.sslmode}"); the server must offer SSL, or use sslmode '
                '"require".'
            )
    elif problem is DbProblem.SSL_FAILED:
        message = _ssl_message(target, detail)
    elif problem is DbProblem.DNS:
        message = (
            f'The host name "{target.host}" cannot be resolved ({detail}); check its spelling '
            "or use an IP address."
        )
    elif problem is DbProblem.STARTING:
        message = f"{at} is not ready yet ({detail}); wait a few seconds and try again."
    elif "pg_hba.conf" in lower:
        message = (
            f"{at} does not accept {who} from this address ({detail}); ask its "
            "administrator to allow it in pg_hba.conf."
        )
    else:
        message = f"Connecting as {who} to {at} failed: {detail}."
    return _failed(problem, message)


def _ssl_message(target: DbTarget, detail: str) -> str:
    at = f"PostgreSQL at {target.where}"
    lower = detail.lower()
    ca = f'"{target.sslrootcert}"' if target.sslrootcert else "~/.postgresql/root.crt (the default)"
    if "server does not support ssl" in lower:
        return (
            f'{at} does not offer SSL but sslmode is "{target.sslmode}"; enable SSL on the '
            'server or use sslmode "prefer".'
        )
    if "root certificate file" in lower:
        return (
            f'sslmode "{target.sslmode}" needs a CA certificate but {ca} does not exist or '
            "cannot be read; set sslrootcert to the CA file that issued the server's certificate."
        )
    if "certificate verify failed" in lower:
        return (
            f"The certificate of {at} is not signed by the CA in {ca}; set sslrootcert to the "
            "CA file that issued the server's certificate."
        )
    if "does not match host name" in lower:
        return (
            f'The certificate of {at} is not valid for the name "{target.host}" ({detail}); '
            'connect using a name the certificate lists, or use sslmode "verify-ca".'
        )
    return f'SSL with {at} failed ({detail}); check sslmode "{target.sslmode}" and sslrootcert.'


def _failed(problem: DbProblem, message: str) -> DbCheck:
    return DbCheck(ok=False, problem=problem, message=message, server_version=None, can_create=None)


def _detail(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """libpq's reason in one line, without the "connection to server at ..." preamble."""
    text = _scrub(str(exc), secrets)
    text = text.removeprefix("connection failed: ").removeprefix("connection is bad: ")
    if text.startswith("connection to server at ") and " failed: " in text:
        text = text.split(" failed: ", 1)[1]
    text = text.replace("FATAL:  ", "").replace("ERROR:  ", "")
    # libpq adds hints and DETAIL lines after the first; keep them, on one line.
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "; ".join(_strip_period(line) for line in lines if line)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strip_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def _scrubbed(check: DbCheck, secrets: tuple[str, ...]) -> DbCheck:
    """`check` with every secret masked in its message.

    Applied to whole messages, not only to libpq's part: a secret that is also a path or a name
    the message repeats (absurd, but possible) is masked there too.
    """
    return replace(check, message=_scrub(check.message, secrets))


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace each secret, also as libpq conninfo-escaped and URL-encoded, with "***"."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(secret.replace("\\", "\\\\").replace("'", "\\'"))
            forms.add(quote(secret, safe=""))
    # Longest first, so a form containing another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, SCRUBBED)
    return text


def _set_password(conn: Connection[TupleRow], role: str, password: str) -> None:
    from psycopg import sql

    # The verifier is computed by libpq on this side, so the statement (which the server may log
    # under log_statement=ddl, and shows in pg_stat_activity) never holds the plaintext.
    verifier = conn.pgconn.encrypt_password(
        password.encode("utf-8"), role.encode("utf-8"), b"scram-sha-256"
    )
    conn.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(verifier.decode("ascii"))
        )
    )
