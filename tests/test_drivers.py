"""The stack's own drivers accept the DATABASE_URL compose gives the web UI, on a real server.

The web UI turns DATABASE_URL into `postgresql+asyncpg://` for SQLAlchemy; Alembic reads it with
libpq (psycopg here). Both run in a child process whose environment is exactly the PG* part of
what compose hands the webui container (PGSSLMODE, PGSSLROOTCERT), so a setting that reaches
the container only as a URL parameter, or not at all, fails here as it would there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, clean_env, compose_config, run_wizard
from pg import AppDatabase

pytestmark = pytest.mark.slow

CONNECT = """
import asyncio, json, sys
import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

url = sys.argv[1]
with psycopg.connect(url, connect_timeout=5) as conn:
    libpq = conn.execute("select current_user").fetchone()[0]

async def main():
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("select current_user"))).scalar()
    finally:
        await engine.dispose()

print(json.dumps({"psycopg": libpq, "asyncpg": asyncio.run(main())}))
"""


def connect_as_webui(url: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    pg_env = {key: value for key, value in environment.items() if key.startswith("PG")}
    return subprocess.run(
        [sys.executable, "-c", CONNECT, url],
        env=clean_env(pg_env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def external_stack(tmp_path: Path, postgres: AppDatabase) -> Path:
    project = tmp_path / "semantik"
    (project / "docs").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "stack" / "docker-compose.yml", project / "docker-compose.yml")
    run = run_wizard(
        [
            "setup",
            "--non-interactive",
            "--skip-port-check",
            "--doc-dir",
            "docs",
            "--postgres-mode",
            "external",
            "--postgres-host",
            postgres.host,
            "--postgres-port",
            str(postgres.port),
            "--postgres-db",
            postgres.dbname,
            "--postgres-user",
            postgres.user,
        ],
        cwd=project,
        env={"WIZARD_POSTGRES_PASSWORD": postgres.password},
    )
    assert run.returncode == 0, run.stderr
    return project


def test_sqlalchemy_asyncpg_and_psycopg_accept_the_url_compose_gives_webui(
    external_stack: Path, postgres: AppDatabase
) -> None:
    environment = compose_config(external_stack)["services"]["webui"]["environment"]
    url = environment["DATABASE_URL"]

    run = connect_as_webui(url, environment)

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"psycopg": postgres.user, "asyncpg": postgres.user}
    assert environment["PGSSLMODE"] == "prefer"


def test_the_old_sslmode_parameter_is_what_asyncpg_refuses(
    external_stack: Path, postgres: AppDatabase
) -> None:
    # Why DATABASE_URL carries no query parameters: the same URL with `?sslmode=` (as the
    # wizard wrote it before) breaks the app's driver at its first query.
    environment = compose_config(external_stack)["services"]["webui"]["environment"]

    run = connect_as_webui(environment["DATABASE_URL"] + "?sslmode=prefer", environment)

    assert run.returncode != 0
    assert "sslmode" in run.stderr and "TypeError" in run.stderr
