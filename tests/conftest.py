"""Shared fixtures. PostgreSQL: a real throwaway server (see tests/pg.py), never a mock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pg import AppDatabase, PostgresServer, PostgresUnavailable

SERVER_FIXTURES = {"postgres", "postgres_factory", "ssl_postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that needs a real PostgreSQL server is slow by definition (pyproject's marker).
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _new_server() -> PostgresServer:
    try:
        return PostgresServer()
    except PostgresUnavailable as exc:
        # Fail, not skip: the test extra brings the server binaries, so a missing binary is a
        # broken environment and skipping would let the database tests pass vacuously.
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[AppDatabase]:
    """A running server shared by the session, with role and database `docsearch` (the role owns
    the database) and a random 40+ character password. Tests must not stop it or change that
    role; create other roles and databases on `postgres.server` instead."""
    server = _new_server()
    try:
        server.start()
        yield server.create_app("docsearch", "docsearch")
    finally:
        server.close()


@pytest.fixture
def postgres_factory() -> Iterator[Callable[[], PostgresServer]]:
    """Makes servers (initialised, not started) that the test may stop, start and reconfigure at
    will; all are stopped and removed when the test ends."""
    servers: list[PostgresServer] = []

    def make() -> PostgresServer:
        server = _new_server()
        servers.append(server)
        server.initdb()
        return server

    yield make
    for server in servers:
        server.close()


# --- the stack's account tables (tests/accounts_schema.sql), for the accounts tests -----------


@pytest.fixture(scope="module")
def db(postgres: AppDatabase) -> AppDatabase:
    """A database holding the account tables, one per test module."""
    from accounts_db import accounts_database

    return accounts_database(postgres)


@pytest.fixture
def conn(db: AppDatabase) -> Iterator[Any]:
    """An autocommit connection to `db`, its tables emptied first."""
    from accounts_db import connect, empty

    empty(db)
    with connect(db, autocommit=True) as connection:
        yield connection


@pytest.fixture
def repos(conn: Any) -> Any:
    """The repositories over `conn` (wizard.accounts.unit.Repositories)."""
    from wizard.accounts.unit import Repositories

    return Repositories.over(conn)
