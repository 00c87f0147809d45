"""Database checks and password rotation against real PostgreSQL servers (tests/pg.py).

The only stand-ins: a socket that accepts and never answers (a server hung on the network), a
getaddrinfo that never returns (a resolver stuck on a dead name server), and, for server versions
that cannot run here, error texts recorded from real servers fed to the classifier.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from helpers import silent_listener
from pg import AppDatabase, PostgresServer, free_port, make_self_signed_cert

from wizard.host.database import (
    check_database,
    judge_server,
    wait_for_database,
)
from wizard.host.db_failures import classify
from wizard.host.db_password import change_password
from wizard.host.db_values import DbCheck, DbProblem, DbTarget, PasswordChangeError

DISTINCTIVE = "Zebra-Quartz-Lantern-7781-'\\ $"
DISTINCTIVE_NEW = 'Orchid-Basalt-Meteor-4412-"@:'

Factory = Callable[[], PostgresServer]


def target_for(app: AppDatabase, **changes: str | int) -> DbTarget:
    target = DbTarget(
        host=app.host, port=app.port, dbname=app.dbname, user=app.user, password=app.password
    )
    return replace(target, **changes)  # type: ignore[arg-type]


_names = iter(range(1_000_000))


def fresh_app(postgres: AppDatabase, password: str | None = None) -> AppDatabase:
    """A role and database of its own on the shared server, for tests that change them."""
    n = next(_names)
    return postgres.server.create_app(f"app{n}", f"db{n}", password)


def assert_no_secret(check: DbCheck, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in check.message
        assert secret not in repr(check)


@pytest.fixture(scope="module")
def ssl_postgres() -> Iterator[AppDatabase]:
    """A server that refuses non-SSL connections, with a certificate for db.example.test only."""
    server = PostgresServer()
    try:
        server.require_ssl(san="DNS:db.example.test")
        server.start()
        yield server.create_app()
    finally:
        server.close()


# --- connecting --------------------------------------------------------------------------------


def test_right_password_connects_and_reports_version_and_create_right(
    postgres: AppDatabase,
) -> None:
    check = check_database(target_for(postgres), timeout=2)

    assert check.ok, check.message
    assert check.problem is None
    assert check.can_create is True
    assert check.server_version is not None
    assert int(check.server_version.split(".")[0]) >= 13
    assert check.server_version in check.message


def test_wrong_password_is_reported_as_auth_naming_server_database_and_user(
    postgres: AppDatabase,
) -> None:
    target = target_for(postgres, password=DISTINCTIVE)

    check = check_database(target, timeout=2)

    assert check.problem is DbProblem.AUTH
    assert not check.ok and not check.retryable
    assert f"127.0.0.1:{postgres.port}" in check.message
    assert '"docsearch"' in check.message
    assert check.server_version is None and check.can_create is None


def test_unknown_user_reads_like_a_wrong_password(postgres: AppDatabase) -> None:
    check = check_database(target_for(postgres, user="nobody_here"), timeout=2)

    assert check.problem is DbProblem.AUTH
    assert '"nobody_here"' in check.message


def test_missing_database_is_named(postgres: AppDatabase) -> None:
    check = check_database(target_for(postgres, dbname="no_such_db"), timeout=2)

    assert check.problem is DbProblem.NO_DATABASE
    assert '"no_such_db"' in check.message


def test_closed_port_is_refused_within_a_second(postgres: AppDatabase) -> None:
    port = free_port()

    started = time.monotonic()
    check = check_database(target_for(postgres, port=port), timeout=5)
    elapsed = time.monotonic() - started

    assert check.problem is DbProblem.REFUSED
    assert check.retryable
    assert f"127.0.0.1:{port}" in check.message
    assert elapsed < 1.0


def test_server_that_never_answers_times_out_after_the_timeout(postgres: AppDatabase) -> None:
    with silent_listener() as port:
        started = time.monotonic()
        check = check_database(target_for(postgres, port=port), timeout=2)
        elapsed = time.monotonic() - started

    assert check.problem is DbProblem.TIMEOUT
    assert check.retryable
    assert "2 s" in check.message
    assert 1.9 <= elapsed <= 3.5


def test_unresolvable_host_is_reported_as_dns_at_once(postgres: AppDatabase) -> None:
    # .invalid is reserved (RFC 2606) and never resolves, with or without a network.
    started = time.monotonic()
    check = check_database(target_for(postgres, host="nonexistent.invalid"), timeout=2)

    assert check.problem is DbProblem.DNS
    assert '"nonexistent.invalid"' in check.message
    assert not check.retryable
    assert time.monotonic() - started < 3


def test_a_resolver_that_never_answers_does_not_hang_the_check(
    postgres: AppDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A resolver stuck on an unreachable name server; getaddrinfo itself has no timeout.
    release = threading.Event()

    def stuck_getaddrinfo(*args: object, **kwargs: object) -> list[object]:
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", stuck_getaddrinfo)
    started = time.monotonic()
    try:
        check = check_database(target_for(postgres, host="db.example.test"), timeout=2)
    finally:
        release.set()

    assert check.problem is DbProblem.DNS
    assert "within 2 s" in check.message
    assert time.monotonic() - started < 3


def test_role_without_create_on_its_schema_cannot_create_tables(postgres: AppDatabase) -> None:
    app = fresh_app(postgres)
    postgres.server.revoke_create_on_public(app.user, app.dbname)

    check = check_database(target_for(app), timeout=2)

    assert check.problem is DbProblem.NO_CREATE
    assert not check.ok
    assert check.can_create is False
    assert check.server_version is not None
    assert 'GRANT CREATE ON SCHEMA "public"' in check.message


def test_server_older_than_13_is_too_old() -> None:
    # No 12.x server exists here; the verdict on a logged-in server is a pure function.
    target = DbTarget("127.0.0.1", 5432, "docsearch", "docsearch", DISTINCTIVE)
    check = judge_server(target, 120017, "public", True)

    assert check.problem is DbProblem.TOO_OLD
    assert check.server_version == "12.17"
    assert "13 or newer" in check.message


# --- SSL -----------------------------------------------------------------------------------------


def test_ssl_only_server_with_sslmode_disable_asks_for_ssl(ssl_postgres: AppDatabase) -> None:
    check = check_database(target_for(ssl_postgres, sslmode="disable"), timeout=2)

    assert check.problem is DbProblem.SSL_REQUIRED
    assert 'sslmode to "require"' in check.message


def test_server_rejecting_plain_connections_asks_for_ssl(postgres_factory: Factory) -> None:
    server = postgres_factory()
    server.require_ssl(explicit_reject=True)
    server.start()
    app = server.create_app()

    check = check_database(target_for(app, sslmode="disable"), timeout=2)

    assert check.problem is DbProblem.SSL_REQUIRED


def test_verify_ca_with_the_servers_ca_connects_over_ssl(ssl_postgres: AppDatabase) -> None:
    ca = ssl_postgres.server.ca_cert
    assert ca is not None

    check = check_database(
        target_for(ssl_postgres, sslmode="verify-ca", sslrootcert=str(ca)), timeout=2
    )

    assert check.ok, check.message


def test_verify_full_with_the_wrong_ca_fails_ssl(ssl_postgres: AppDatabase, tmp_path: Path) -> None:
    wrong_ca, _ = make_self_signed_cert(tmp_path, "other", common_name="other", san="IP:127.0.0.1")

    check = check_database(
        target_for(ssl_postgres, sslmode="verify-full", sslrootcert=str(wrong_ca)), timeout=2
    )

    assert check.problem is DbProblem.SSL_FAILED
    assert str(wrong_ca) in check.message


def test_verify_full_against_a_certificate_for_another_name_fails_ssl(
    ssl_postgres: AppDatabase,
) -> None:
    ca = ssl_postgres.server.ca_cert
    assert ca is not None

    check = check_database(
        target_for(ssl_postgres, sslmode="verify-full", sslrootcert=str(ca)), timeout=2
    )

    assert check.problem is DbProblem.SSL_FAILED
    assert "verify-ca" in check.message


def test_sslmode_require_against_a_server_without_ssl_fails_ssl(postgres: AppDatabase) -> None:
    check = check_database(target_for(postgres, sslmode="require"), timeout=2)

    assert check.problem is DbProblem.SSL_FAILED
    assert "does not offer SSL" in check.message


# --- waiting -------------------------------------------------------------------------------------


def start_later(server: PostgresServer, delay: float) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        server.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_wait_succeeds_when_the_server_starts_during_the_wait(postgres_factory: Factory) -> None:
    server = postgres_factory()
    server.start()
    app = server.create_app()
    server.stop()

    started = time.monotonic()
    starter = start_later(server, 1.5)
    check = wait_for_database(target_for(app), timeout=2, wait_seconds=20)
    elapsed = time.monotonic() - started
    starter.join()

    assert check.ok, check.message
    assert 1.4 <= elapsed < 10


def test_wait_keeps_trying_while_the_server_is_starting_up(postgres_factory: Factory) -> None:
    server = postgres_factory()
    server.start()
    app = server.create_app()
    server.stop()
    server.start_slowly(2.5)

    # The postmaster opens its port a few milliseconds after pg_ctl returns.
    deadline = time.monotonic() + 2
    check = check_database(target_for(app), timeout=2)
    while check.problem is DbProblem.REFUSED and time.monotonic() < deadline:
        time.sleep(0.02)
        check = check_database(target_for(app), timeout=2)
    assert check.problem is DbProblem.STARTING
    assert check.retryable

    assert wait_for_database(target_for(app), timeout=2, wait_seconds=20).ok


def test_wait_ends_at_once_on_a_wrong_password(postgres: AppDatabase) -> None:
    started = time.monotonic()
    check = wait_for_database(target_for(postgres, password="wrong"), timeout=2, wait_seconds=30)

    assert check.problem is DbProblem.AUTH
    assert time.monotonic() - started < 1


def test_wait_gives_up_when_wait_seconds_have_passed(postgres: AppDatabase) -> None:
    started = time.monotonic()
    check = wait_for_database(target_for(postgres, port=free_port()), timeout=2, wait_seconds=1.5)
    elapsed = time.monotonic() - started

    assert check.problem is DbProblem.REFUSED
    assert 1.5 <= elapsed < 2.5


# --- changing the password -----------------------------------------------------------------------


def test_after_a_password_change_the_new_password_works_and_the_old_one_does_not(
    postgres: AppDatabase,
) -> None:
    app = fresh_app(postgres)
    new = app.password[::-1] + "-new"

    change_password(target_for(app), new, timeout=2)

    assert check_database(target_for(app, password=new), timeout=2).ok
    assert check_database(target_for(app), timeout=2).problem is DbProblem.AUTH


def test_password_change_never_sends_the_new_password_in_plain_text(postgres: AppDatabase) -> None:
    app = fresh_app(postgres, DISTINCTIVE)
    # Make the server log every statement of this role: the strictest audit setup there is.
    postgres.server.psql(f"ALTER ROLE {app.user} SET log_statement = 'all';")

    change_password(target_for(app), DISTINCTIVE_NEW, timeout=2)

    log = postgres.server.log_text()
    assert f'ALTER ROLE "{app.user}" PASSWORD \'SCRAM-SHA-256$' in log
    assert DISTINCTIVE_NEW not in log
    stored = postgres.server.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{app.user}'")
    assert stored.startswith("SCRAM-SHA-256$")


def test_password_change_with_a_wrong_current_password_changes_nothing(
    postgres: AppDatabase,
) -> None:
    app = fresh_app(postgres)

    with pytest.raises(PasswordChangeError) as raised:
        change_password(target_for(app, password=DISTINCTIVE), DISTINCTIVE_NEW, timeout=2)

    assert raised.value.check.problem is DbProblem.AUTH
    assert check_database(target_for(app), timeout=2).ok
    for secret in (DISTINCTIVE, DISTINCTIVE_NEW):
        assert secret not in str(raised.value)


def test_password_change_that_cannot_be_proven_sets_the_old_password_back(
    postgres: AppDatabase,
) -> None:
    app = fresh_app(postgres, DISTINCTIVE)
    # The change's own session takes the role's only slot, so the proof login is turned away.
    postgres.server.psql(f"ALTER ROLE {app.user} CONNECTION LIMIT 1;")

    with pytest.raises(PasswordChangeError) as raised:
        change_password(target_for(app), DISTINCTIVE_NEW, timeout=2)

    message = str(raised.value)
    assert "old password was set back" in message
    assert "too many connections" in message
    assert DISTINCTIVE not in message and DISTINCTIVE_NEW not in message
    # The change's session may still be ending on the server and hold the only slot: lift the
    # limit before proving which password the role has now.
    postgres.server.psql(f"ALTER ROLE {app.user} CONNECTION LIMIT -1;")
    assert check_database(target_for(app), timeout=2).ok
    assert check_database(target_for(app, password=DISTINCTIVE_NEW), timeout=2).problem is (
        DbProblem.AUTH
    )


# --- secrets never leak ----------------------------------------------------------------------


def test_password_never_appears_in_any_message(
    postgres: AppDatabase, ssl_postgres: AppDatabase
) -> None:
    base = target_for(postgres, password=DISTINCTIVE)
    assert DISTINCTIVE not in repr(base)
    ca = ssl_postgres.server.ca_cert
    targets = [
        base,
        replace(base, user="nobody_here"),
        replace(base, dbname="no_such_db"),
        replace(base, port=free_port()),
        replace(base, host="nonexistent.invalid"),
        replace(base, sslmode="require"),
        replace(base, sslmode="verify-full", sslrootcert="/nonexistent/ca.crt"),
        replace(base, sslmode="bogus"),  # libpq quotes the bad value back
        replace(target_for(ssl_postgres, password=DISTINCTIVE), sslmode="disable"),
        replace(
            target_for(ssl_postgres, password=DISTINCTIVE),
            sslmode="verify-full",
            sslrootcert=str(ca),
        ),
    ]
    for target in targets:
        check = check_database(target, timeout=2)
        assert not check.ok
        assert_no_secret(check, DISTINCTIVE)
    with silent_listener() as port:
        assert_no_secret(check_database(replace(base, port=port), timeout=2), DISTINCTIVE)


def test_a_password_echoed_by_libpq_is_masked(ssl_postgres: AppDatabase) -> None:
    # libpq does not echo passwords; if it ever did, the message must not show them. It does echo
    # the root certificate path, so a path equal to the password stands in for such an echo.
    target = target_for(
        ssl_postgres, password=DISTINCTIVE, sslmode="verify-full", sslrootcert=DISTINCTIVE
    )

    check = check_database(target, timeout=2)

    assert check.problem is DbProblem.SSL_FAILED
    assert "***" in check.message
    assert_no_secret(check, DISTINCTIVE)


# --- what other servers and versions say --------------------------------------------------------

RECORDED = [
    # PostgreSQL 15 while its startup process runs (also produced live above).
    ("FATAL:  the database system is starting up", DbProblem.STARTING),
    # 14+ during recovery before a consistent state.
    ("FATAL:  the database system is not yet accepting connections", DbProblem.STARTING),
    ("FATAL:  the database system is shutting down", DbProblem.STARTING),
    # 13 and older name SSL instead of encryption in pg_hba.conf rejections.
    (
        'FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "app", database "app", SSL off',
        DbProblem.SSL_REQUIRED,
    ),
    (
        'FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "app", database "app", '
        "SSL encryption",
        DbProblem.OTHER,
    ),
    ('FATAL:  role "ghost" does not exist', DbProblem.AUTH),  # under trust authentication
    ('FATAL:  Ident authentication failed for user "app"', DbProblem.AUTH),
    (
        'root certificate file "/nonexistent/ca.crt" does not exist',
        DbProblem.SSL_FAILED,
    ),
    ("timeout expired", DbProblem.TIMEOUT),
    ("FATAL:  sorry, too many clients already", DbProblem.OTHER),
]


@pytest.mark.parametrize(("text", "problem"), RECORDED)
def test_messages_of_other_servers_and_versions_are_classified(
    text: str, problem: DbProblem
) -> None:
    prefix = 'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
    assert classify(psycopg.OperationalError(prefix + text)) is problem
