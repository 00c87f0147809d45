"""`wizard check` on deployments whose database is not reachable, and its pure parts.

The checks against a running PostgreSQL live in tests/test_db_setup.py; these need no server: a
database port nobody listens on is refused at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, run_wizard

from wizard.check import env_target, url_differences
from wizard.model import DatabaseSettings, PostgresMode, SslMode

PASSWORD = "pa$$ w'rd #1 @:/? 100%"


def settings(**changes: Any) -> DatabaseSettings:
    values: dict[str, Any] = {
        "mode": PostgresMode.EXTERNAL,
        "host": "db.example.test",
        "port": 5433,
        "name": "docsearch",
        "user": "docsearch",
        "password": PASSWORD,
        "sslmode": SslMode.REQUIRE,
    }
    values.update(changes)
    return DatabaseSettings(**values)


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    """A bundled deployment written by setup, its database port closed."""
    root = tmp_path / "deploy"
    (root / "docs").mkdir(parents=True)
    made = run_wizard(
        [
            "setup",
            "--non-interactive",
            "--doc-dir",
            "docs",
            "--postgres-host-port",
            str(free_port()),
        ],
        cwd=root,
        env={"WIZARD_POSTGRES_PASSWORD": PASSWORD},
    )
    assert made.returncode == 0, made.stderr
    return root


def checks(root: Path) -> tuple[int, dict[str, list[dict[str, str]]], str]:
    result = run_wizard(["check", "--json", "--db-timeout", "2"], cwd=root, env={"COLUMNS": "200"})
    data = json.loads(result.stdout)
    rows: dict[str, list[dict[str, str]]] = {}
    for row in data["checks"]:
        rows.setdefault(row["name"], []).append(row)
    assert data["ok"] is (result.returncode == 0)
    return result.returncode, rows, result.stdout + result.stderr


def test_bundled_deployment_whose_database_is_down_fails_only_the_database(
    deployment: Path,
) -> None:
    code, rows, output = checks(deployment)

    assert code == 1
    failed = [name for name, group in rows.items() if any(r["status"] == "fail" for r in group)]
    assert failed == ["database (bundled)"]
    assert "connection refused" in rows["database (bundled)"][0]["detail"]
    assert "start PostgreSQL" in rows["database (bundled)"][0]["detail"]
    assert rows["port"][0]["status"] == "ok"  # free: nothing else took it
    assert PASSWORD not in output


def test_unreadable_env_fails_naming_the_line_and_checks_nothing_else(deployment: Path) -> None:
    env = deployment / ".env"
    env.write_text(env.read_text() + "NOT A VALID LINE\n")

    code, rows, _ = checks(deployment)

    assert code == 1
    assert list(rows) == [".env"]
    assert "line" in rows[".env"][0]["detail"]


def test_env_without_postgres_keys_names_them_and_skips_the_database(deployment: Path) -> None:
    env = deployment / ".env"
    kept = [line for line in env.read_text().splitlines(keepends=True) if "POSTGRES" not in line]
    env.write_text("".join(kept))

    code, rows, _ = checks(deployment)

    assert code == 1
    assert "POSTGRES_PASSWORD" in rows["required keys"][0]["detail"]
    [database] = rows["database (bundled)"] if "database (bundled)" in rows else rows["database"]
    assert database["status"] == "skip"
    assert "POSTGRES_MODE" in database["detail"]


# --- pure parts ---------------------------------------------------------------------------------


def test_database_url_the_wizard_derives_agrees() -> None:
    assert url_differences(settings().url, settings()) == []


def test_database_url_written_with_another_encoding_still_agrees() -> None:
    # The scheme's alias, a needlessly encoded "d", and a parameter the wizard does not set.
    url = settings().url.replace("postgresql://docsearch:", "postgres://%64ocsearch:")
    assert url_differences(url + "&application_name=app", settings()) == []


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (lambda u: u.replace(":5433/", ":5432/"), "port 5432, POSTGRES_PORT says 5433"),
        (lambda u: u.replace("/docsearch?", "/other?"), "database 'other', POSTGRES_DB says"),
        (lambda u: u.replace("sslmode=require", "sslmode=disable"), "sslmode 'disable'"),
        (lambda u: u.replace("%24%24", "%24"), "the password differs from POSTGRES_PASSWORD"),
        (lambda u: u.replace("db.example.test", "db2.example.test"), "host 'db2.example.test'"),
    ],
)
def test_database_url_that_disagrees_names_the_part_but_never_the_password(
    change: Any, phrase: str
) -> None:
    differences = url_differences(change(settings().url), settings())

    assert any(phrase in difference for difference in differences), differences
    assert not any(PASSWORD in difference for difference in differences)


@pytest.mark.parametrize(("bind", "host"), [("0.0.0.0", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")])
def test_bundled_database_is_reached_on_the_published_port(bind: str, host: str) -> None:
    env = {
        "POSTGRES_MODE": "bundled",
        "POSTGRES_HOST": "postgres",
        "POSTGRES_PORT": "5432",
        "POSTGRES_HOST_PORT": "15432",
        "POSTGRES_DB": "docsearch",
        "POSTGRES_USER": "docsearch",
        "POSTGRES_PASSWORD": PASSWORD,
        "BIND_ADDRESS": bind,
    }

    target, reason = env_target(env)

    assert reason == ""
    assert target is not None
    assert (target.host, target.port, target.password) == (host, 15432, PASSWORD)
