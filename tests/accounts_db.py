"""A database holding the stack's account tables (tests/accounts_schema.sql) on the session's
throwaway server, and a deployment directory whose .env points at it."""

from __future__ import annotations

import functools
import itertools
import secrets
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from pg import AppDatabase

SCHEMA = Path(__file__).with_name("accounts_schema.sql")
_names = itertools.count()


def connect(app: AppDatabase, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=app.host,
        port=app.port,
        dbname=app.dbname,
        user=app.user,
        password=app.password,
        connect_timeout=5,
        **kwargs,
    )


def sql(app: AppDatabase, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on its own connection; its rows (none for a statement without)."""
    with connect(app, autocommit=True) as conn:
        cur = conn.execute(query, params)  # type: ignore[call-overload]
        return cur.fetchall() if cur.description else []


def accounts_database(postgres: AppDatabase, *, schema: bool = True) -> AppDatabase:
    """A role owning a new database; with `schema`, the tables created by that role (as the
    stack's Alembic would). The password is hex, so a hand-written .env needs no quoting."""
    n = next(_names)
    app = postgres.server.create_app(f"acct{n}", f"acctdb{n}", secrets.token_hex(20))
    if schema:
        with connect(app, autocommit=True) as conn:
            conn.execute(SCHEMA.read_text())
    return app


def empty(app: AppDatabase) -> None:
    """No rows left in `users` or any table that refers to it (alembic_version stays)."""
    with connect(app, autocommit=True) as conn:
        conn.execute("TRUNCATE users RESTART IDENTITY CASCADE")


def deployment(root: Path, app: AppDatabase) -> Path:
    """A project directory whose .env names `app` as an external server."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".env").write_text(
        "POSTGRES_MODE=external\n"
        f"POSTGRES_HOST={app.host}\n"
        f"POSTGRES_PORT={app.port}\n"
        f"POSTGRES_DB={app.dbname}\n"
        f"POSTGRES_USER={app.user}\n"
        f"POSTGRES_PASSWORD={app.password}\n"
        "POSTGRES_SSLMODE=disable\n"
    )
    return root


# One bcrypt hash for the tests that need users but not their passwords (cost 12 takes 0.25 s).
USER_PASSWORD = "correct horse battery"


@functools.cache
def user_hash() -> str:
    from wizard.accounts.hashing import hash_password

    return hash_password(USER_PASSWORD)


def make_user(repos: Any, name: str, **kwargs: Any) -> int:
    """A user `name` (email name@example.org, password USER_PASSWORD) in its own transaction."""
    with repos.conn.transaction():
        return int(repos.users.create(name, f"{name}@example.org", user_hash(), **kwargs).id)


def run_accounts(
    project: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`wizard ARGS` in `project`, wide enough that no table is folded."""
    from helpers import run_wizard

    return run_wizard(list(args), cwd=project, input=input, env={"COLUMNS": "200"})


def fresh_deployment(tmp_path: Path, app: AppDatabase) -> Path:
    """`deployment` in tmp_path/deploy over an `app` database emptied of accounts."""
    empty(app)
    return deployment(tmp_path / "deploy", app)
