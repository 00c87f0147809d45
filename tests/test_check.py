"""`wizard check` on deployments whose database is not reachable, and its pure parts.

The checks against a running PostgreSQL live in tests/test_db_setup.py; these need no server: a
database port nobody listens on is refused at once.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, run_wizard, start_wizard

from wizard.checks.deployment import url_differences
from wizard.config.model import DatabaseSettings, PostgresMode, SslMode
from wizard.host.targets import target_for_env as env_target

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
    return make_deployment(tmp_path, PASSWORD)


def make_deployment(tmp_path: Path, password: str) -> Path:
    port = free_port()
    root = tmp_path / "deploy"
    (root / "docs").mkdir(parents=True)
    made = run_wizard(
        ["setup", "--non-interactive", "--doc-dir", "docs", "--postgres-host-port", f"{port}"],
        cwd=root,
        env={"WIZARD_POSTGRES_PASSWORD": password},
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


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_env_readable_by_others_fails_saying_chmod_600(deployment: Path, mode: int) -> None:
    env = deployment / ".env"
    env.chmod(mode)

    code, rows, output = checks(deployment)

    assert code == 1
    [row] = rows[".env"]
    assert row == {
        "name": ".env",
        "status": "fail",
        "detail": f"{env} can be read by other users (mode {mode:04o}) and holds secrets; run "
        f"chmod 600 {env}",
    }
    assert PASSWORD not in output
    assert env.stat().st_mode & 0o777 == mode  # check changes nothing


OVERRIDE = "docker-compose.override.yml"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ("x-wizard: {documents: 7}\n", "x-wizard.host.documents: must be a list of"),
        ("x-wizard: {gpu_ids: 5}\n", "x-wizard.gpu_ids: must be a list of GPU indexes"),
        ("x-wizard: [1, 2]\n", "x-wizard: must be a mapping"),
        ("- webui\n- worker\n", "is not a mapping of compose keys"),
        ("services: {webui: [\n", "not valid YAML at line"),
    ],
    ids=["documents-number", "gpu-ids-number", "block-list", "file-list", "invalid-yaml"],
)
def test_hand_edited_override_is_named_by_show_check_and_setup(
    deployment: Path, edit: str, problem: str
) -> None:
    override = deployment / OVERRIDE
    override.write_text(edit)
    before = override.read_bytes(), (deployment / ".env").read_bytes()

    code, rows, output = checks(deployment)

    assert code == 1
    assert "Traceback" not in output
    assert list(rows) == [".env", OVERRIDE]
    assert rows[".env"][0]["status"] == "ok"
    [row] = rows[OVERRIDE]
    assert row["status"] == "fail"
    assert row["detail"].startswith(f"{override}: ") and problem in row["detail"]
    for command in (["show"], ["setup", "--skip-port-check"]):
        done = run_wizard(command, cwd=deployment)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        [line] = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert line.startswith(f"error: {override}: ") and problem in line
    assert (override.read_bytes(), (deployment / ".env").read_bytes()) == before


# --- pure parts ---------------------------------------------------------------------------------


def test_database_url_the_wizard_derives_agrees() -> None:
    assert url_differences(settings().url, settings()) == []


def test_database_url_written_with_another_encoding_still_agrees() -> None:
    # The scheme's alias and a needlessly encoded "d".
    url = settings().url.replace("postgresql://docsearch:", "postgres://%64ocsearch:")
    assert url_differences(url, settings()) == []


def test_database_url_with_query_parameters_disagrees_since_asyncpg_refuses_them() -> None:
    differences = url_differences(settings().url + "?sslmode=require", settings())

    assert any("query parameters" in difference for difference in differences), differences


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (lambda u: u.replace(":5433/", ":5432/"), "the port differs from POSTGRES_PORT"),
        (lambda u: u.replace("/docsearch", "/other"), "the database differs from POSTGRES_DB"),
        (lambda u: u.replace("%24%24", "%24"), "the password differs from POSTGRES_PASSWORD"),
        (lambda u: u.replace("db.example.", "db2.example."), "the host differs from POSTGRES_HOST"),
    ],
)
def test_database_url_that_disagrees_names_the_part_but_never_the_password(
    change: Any, phrase: str
) -> None:
    differences = url_differences(change(settings().url), settings())

    assert any(phrase in difference for difference in differences), differences
    assert not any(PASSWORD in difference for difference in differences)


def test_database_url_with_an_unencoded_password_names_the_parts_but_no_piece_of_it(
    tmp_path: Path,
) -> None:
    # Edited by hand with the password pasted as it is: '@' and '/' split the URL in the wrong
    # places, so its "host", "port" and "database" are pieces of the password.
    password = "hunter@3SECRET/xyz9tail"
    root = make_deployment(tmp_path, password)
    env = root / ".env"
    lines = env.read_text().splitlines(keepends=True)
    [index] = [i for i, line in enumerate(lines) if line.startswith("DATABASE_URL=")]
    lines[index] = f"DATABASE_URL=postgresql://docsearch:{password}@postgres:5432/docsearch\n"
    env.write_text("".join(lines))

    code, rows, output = checks(root)

    for piece in ("hunter", "3secret", "xyz9"):
        assert piece not in output.lower()
    assert code == 1
    [url] = rows["DATABASE_URL"]
    assert url["status"] == "fail"
    assert "the password differs from POSTGRES_PASSWORD" in url["detail"]
    assert "percent-encoded" in url["detail"]


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


def test_sigterm_while_check_waits_for_the_database_exits_130_at_once(tmp_path: Path) -> None:
    # A database port whose listener accepts and never answers: the connection arriving shows
    # that the check is waiting, and each try would wait its whole --db-timeout.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        root = tmp_path / "deploy"
        (root / "docs").mkdir(parents=True)
        made = run_wizard(
            ["setup", "--non-interactive", "--doc-dir", "docs", "--skip-port-check",
             "--postgres-host-port", str(port)],
            cwd=root,
            env={"WIZARD_POSTGRES_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        running = start_wizard(["check", "--json", "--wait", "120", "--db-timeout", "60"], cwd=root)
        try:
            listener.settimeout(60)
            connection, _ = listener.accept()
            with connection:
                started = time.monotonic()
                running.send_signal(signal.SIGTERM)
                out, err = running.communicate(timeout=60)
                elapsed = time.monotonic() - started
        finally:
            running.kill()

    assert running.returncode == 130, err
    assert elapsed < 10  # not the 60 s the try would have waited
    assert "interrupted" in err and "Traceback" not in err
    report = json.loads(out)
    assert report["ok"] is False and report["exit_code"] == 130
    assert PASSWORD not in out + err


@pytest.mark.parametrize("command", ["check", "show"])
def test_json_is_one_object_on_stdout_and_nothing_on_stderr(tmp_path: Path, command: str) -> None:
    project = tmp_path / "deploy"
    (project / "docs").mkdir(parents=True)
    made = run_wizard(
        ["setup", "--doc-dir", "docs", "--skip-port-check", "--skip-db-check"], cwd=project
    )
    assert made.returncode == 0, made.stderr
    (project / "docs").rmdir()  # something to warn about (show) or fail (check)

    done = run_wizard([command, "--json"], cwd=project)

    assert done.stderr == ""
    data = json.loads(done.stdout)  # exactly one object
    if command == "show":
        assert done.returncode == 0
        assert any("does not exist" in warning for warning in data["warnings"])
    else:
        assert done.returncode == 1 and data["ok"] is False
