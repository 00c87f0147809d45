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
from typing import TYPE_CHECKING

from wizard.config.model import DEFAULT_DB_TIMEOUT, MIN_POSTGRES_VERSION
from wizard.host.db_failures import (
    classified,
    classify,
    error_detail,
    scrub,
    scrubbed,
)
from wizard.host.db_values import (
    APPLICATION_NAME,
    MIN_SERVER_VERSION_NUM,
    MIN_TIMEOUT,
    WAIT_FIRST_DELAY,
    WAIT_MAX_DELAY,
    DbCheck,
    DbProblem,
    DbTarget,
)
from wizard.signals import interrupts_blocked

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow

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
        conn = open_session(target, timeout, (target.password,))
    except _ConnectFailed as failed:
        return failed.check
    with conn:
        return scrubbed(_inspect(conn, target), (target.password,))


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


def connect(target: DbTarget, timeout: int = DEFAULT_DB_TIMEOUT) -> Connection[TupleRow]:
    """An autocommit connection to `target`, bounded like `check_database`'s (DNS included).

    Raises ConnectFailed, whose `check` is the classified failure with its one-sentence message
    (the password scrubbed), for the caller to report.
    """
    return open_session(target, timeout, (target.password,))


# --- connecting --------------------------------------------------------------------------------


class _ConnectFailed(Exception):
    """`check` is the classified failure, `detail` libpq's reason alone (both scrubbed)."""

    def __init__(self, check: DbCheck, detail: str) -> None:
        super().__init__(check.message)
        self.check = check
        self.detail = detail


# The public name of the failure `connect` raises.
ConnectFailed = _ConnectFailed


def open_session(target: DbTarget, timeout: int, secrets: tuple[str, ...]) -> Connection[TupleRow]:
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
        detail = scrub(str(exc), secrets)
        dns = classified(DbProblem.DNS, target, timeout, detail)
        raise _ConnectFailed(scrubbed(dns, secrets), detail) from None

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
            problem = classify(exc)
            detail = error_detail(exc, secrets)
            failure = classified(problem, target, timeout, detail)
            if problem not in _TRY_NEXT_ADDRESS:
                break
        except ValueError as exc:  # e.g. a NUL character in a parameter
            detail = scrub(str(exc), secrets)
            failure = classified(DbProblem.OTHER, target, timeout, detail)
            break
    assert failure is not None
    raise _ConnectFailed(scrubbed(failure, secrets), detail)


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
    with interrupts_blocked():
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
        detail = error_detail(exc, (target.password,))
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
