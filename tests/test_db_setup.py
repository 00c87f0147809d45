"""Step 2 against a real PostgreSQL: external setup, `wizard check`, the retry prompt, --start-db.

Every server is a real throwaway PostgreSQL (tests/pg.py). The CLI runs as the installed console
script in a clean environment (tests/helpers.py); the interactive step runs in-process with real
keystrokes (tests/keys.py). The only stand-ins: a socket that accepts and never answers (a hung
server), and a fake `docker` whose engine "starts the postgres container" by starting a prepared
throwaway server (tests/fakebin/docker-compose-starts-postgres).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from helpers import free_port, read_env, run_wizard, silent_listener, snapshot, start_wizard
from keys import CTRL_C, DOWN, ENTER, Driven, Expect, down, drive, replace, typed
from pg import AppDatabase, PostgresServer

from wizard.commands.setup import run
from wizard.commands.setup_report import Outcome, Request
from wizard.config.answers import Answers, Source
from wizard.errors import InputError, Interrupted
from wizard.ui.console import UI

FAKEBIN = Path(__file__).parent / "fakebin"
COMPOSE_STARTS_POSTGRES = FAKEBIN / "docker-compose-starts-postgres"
WRONG_PASSWORD = "Wrong-Password-Quartz-7781"
# A password a person can type: `$`, quotes, spaces and `#` break naive .env and URL handling.
TYPED_PASSWORD = "typed pa$$word 'quoted' #42 @:/?"
# Wide enough that rich never wraps a table cell or a message the tests look for.
WIDE = {"COLUMNS": "200"}

Factory = Callable[[], PostgresServer]
Run = subprocess.CompletedProcess[str]

_names = iter(range(1_000_000))


def next_line(stderr: str) -> str:
    """The "Next:" line setup printed (after an error, as a line of the error)."""
    [line] = [
        line for line in stderr.splitlines() if line.removeprefix("error: ").startswith("Next: ")
    ]
    return line


def fresh_app(postgres: AppDatabase, password: str | None = None) -> AppDatabase:
    """A role owning a database of its own on the shared server (tests never change `postgres`)."""
    n = next(_names)
    return postgres.server.create_app(f"setup{n}", f"setupdb{n}", password)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty deployment directory holding one document directory, `docs`."""
    root = tmp_path / "deploy"
    (root / "docs").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def app(postgres: AppDatabase) -> AppDatabase:
    """The app's role and database, shared by the tests that only log in with it."""
    return fresh_app(postgres)


@pytest.fixture(scope="module")
def typed_app(postgres: AppDatabase) -> AppDatabase:
    """Like `app`, with a password a person can type at the prompt."""
    return fresh_app(postgres, TYPED_PASSWORD)


def external_args(app: AppDatabase, *extra: str, port: int | None = None) -> list[str]:
    return [
        "setup",
        "--non-interactive",
        "--doc-dir",
        "docs",
        "--postgres-mode",
        "external",
        "--postgres-host",
        app.host,
        "--postgres-port",
        str(port or app.port),
        "--postgres-db",
        app.dbname,
        "--postgres-user",
        app.user,
        *extra,
    ]


def bundled_args(app: AppDatabase, *extra: str) -> list[str]:
    """A bundled deployment whose published port is `app`'s server: what the wizard reaches from
    the host (127.0.0.1:POSTGRES_HOST_PORT) is that server, as it would be the stack's container."""
    return [
        "setup",
        "--non-interactive",
        "--doc-dir",
        "docs",
        "--postgres-host-port",
        str(app.port),
        "--postgres-db",
        app.dbname,
        "--postgres-user",
        app.user,
        *extra,
    ]


def setup(project: Path, args: list[str], password: str, **env: str) -> Run:
    return run_wizard(args, cwd=project, env={"WIZARD_POSTGRES_PASSWORD": password, **WIDE, **env})


def check(project: Path, *args: str, **env: str) -> Run:
    # A Docker that can run the stack (a fake: no engine here), so that a healthy deployment's
    # check has nothing to warn about whatever this machine's docker is.
    docker = {"PATH": f"{COMPOSE_STARTS_POSTGRES}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    return run_wizard(["check", *args], cwd=project, env={**WIDE, **docker, **env})


def assert_no_secret(run: Run, *secrets: str) -> None:
    """No password reaches stdout or stderr, neither as typed nor URL-encoded."""
    for secret in secrets:
        for form in {secret, quote(secret, safe="")}:
            assert form not in run.stdout, "a password reached stdout"
            assert form not in run.stderr, "a password reached stderr"


def assert_nothing_written(before: dict[str, bytes | None], project: Path) -> None:
    after = snapshot(project)
    # setup.run takes the project lock (an empty .wizard.lock) before the checks run; that file
    # is the only trace a failed run leaves (see the report: the checks could run before it).
    assert after.pop(".wizard.lock", b"") == b""
    assert after == before


def set_env(project: Path, key: str, value: str) -> None:
    """Change one .env line by hand, as a person editing the file would."""
    assert "'" not in value and "\\" not in value
    path = project / ".env"
    lines = path.read_text().splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.startswith(f"{key}=")]
    assert len(hits) == 1, f"{key} is not in .env exactly once"
    lines[hits[0]] = f"{key}='{value}'\n"
    path.write_text("".join(lines))


def env_value(project: Path, key: str) -> str:
    value = read_env(project)[key]
    assert value is not None
    return value


def check_rows(run: Run) -> dict[str, list[dict[str, str]]]:
    """`wizard check --json`: the one JSON object on stdout, its checks grouped by name."""
    data = json.loads(run.stdout)
    assert isinstance(data, dict)
    assert set(data) == {"ok", "project_dir", "checks"}
    rows: dict[str, list[dict[str, str]]] = {}
    for row in data["checks"]:
        assert set(row) == {"name", "status", "detail"}
        rows.setdefault(row["name"], []).append(row)
    return rows


def stopped_server(
    factory: Factory, password: str | None = None
) -> tuple[PostgresServer, AppDatabase]:
    """A server with the app's role and database, stopped (its port stays reserved for it)."""
    server = factory()
    server.start()
    app = server.create_app(password=password)
    server.stop()
    return server, app


def start_in(server: PostgresServer, delay: float) -> Callable[[], None]:
    """Start `server` after `delay` seconds in a thread; the returned call joins it and re-raises
    what the start raised."""
    failure: list[BaseException] = []

    def start() -> None:
        time.sleep(delay)
        try:
            server.start()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()

    def join() -> None:
        thread.join(60)
        assert not thread.is_alive(), "the server did not start within 60 s"
        if failure:
            raise failure[0]

    return join


# --- non-interactive external setup -----------------------------------------------------------


def test_external_server_with_the_right_password_is_validated_and_written(
    project: Path, app: AppDatabase
) -> None:
    result = setup(project, external_args(app, "--json"), app.password)

    assert result.returncode == 0, result.stderr
    assert "Database: PostgreSQL 1" in result.stderr
    assert "can create tables" in result.stderr
    assert json.loads(result.stdout)["settings"]["postgres"]["mode"] == "external"
    assert_no_secret(result, app.password)

    env = read_env(project)
    assert env["POSTGRES_MODE"] == "external"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == (app.host, str(app.port))
    assert (env["POSTGRES_DB"], env["POSTGRES_USER"]) == (app.dbname, app.user)
    assert env["POSTGRES_PASSWORD"] == app.password
    assert env["POSTGRES_SSLMODE"] == "prefer"
    url = urlsplit(env["DATABASE_URL"] or "")
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port) == (app.host, app.port)
    assert unquote(url.username or "") == app.user
    assert unquote(url.password or "") == app.password
    assert unquote(url.path) == f"/{app.dbname}"
    assert url.query == ""  # the app's asyncpg refuses ?sslmode=: TLS goes as PGSSLMODE
    # An external server is not part of the stack: no bundled postgres service is listed.
    assert "docker-compose.postgres.yml" not in (env["COMPOSE_FILE"] or "")


def test_wrong_password_exits_1_writes_nothing_and_says_why(
    project: Path, app: AppDatabase
) -> None:
    before = snapshot(project)

    result = setup(project, external_args(app), WRONG_PASSWORD)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f'PostgreSQL at 127.0.0.1:{app.port} refused user "{app.user}"' in result.stderr
    assert "wrong password or no such user" in result.stderr
    assert "Nothing was written" in result.stderr and "--skip-db-check" in result.stderr
    assert_no_secret(result, WRONG_PASSWORD, app.password)
    assert_nothing_written(before, project)


def test_wrong_password_with_json_prints_one_failure_object(
    project: Path, app: AppDatabase
) -> None:
    result = setup(project, external_args(app, "--json"), WRONG_PASSWORD)

    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["exit_code"] == 1
    assert any("wrong password" in problem for problem in data["problems"])
    assert_no_secret(result, WRONG_PASSWORD)


def test_unknown_database_is_named_with_the_fix(project: Path, app: AppDatabase) -> None:
    before = snapshot(project)
    args = external_args(app)
    args[args.index("--postgres-db") + 1] = "no_such_db"

    result = setup(project, args, app.password)

    assert result.returncode == 1
    assert 'has no database "no_such_db"' in result.stderr
    assert 'CREATE DATABASE "no_such_db"' in result.stderr
    assert_no_secret(result, app.password)
    assert_nothing_written(before, project)


def test_closed_port_fails_at_once_without_waiting_for_the_timeout(
    project: Path, app: AppDatabase
) -> None:
    port = free_port()
    before = snapshot(project)

    started = time.monotonic()
    result = setup(project, external_args(app, "--db-timeout", "30", port=port), app.password)
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    assert f"Nothing is listening at 127.0.0.1:{port} (connection refused)" in result.stderr
    # Interpreter start-up included; far below the 30 s a refused port must not wait for.
    assert elapsed < 10
    assert_no_secret(result, app.password)
    assert_nothing_written(before, project)


def test_server_that_never_answers_fails_after_the_db_timeout(
    project: Path, app: AppDatabase
) -> None:
    before = snapshot(project)
    # The same run against a closed port fails at once: its time is the start-up and the rest of
    # the run, which the timeout comes on top of (this machine may be slow and loaded).
    started = time.monotonic()
    refused = setup(project, external_args(app, "--db-timeout", "2", port=free_port()), "Xx1" * 7)
    baseline = time.monotonic() - started
    assert refused.returncode == 1
    with silent_listener() as port:
        started = time.monotonic()
        result = setup(project, external_args(app, "--db-timeout", "2", port=port), app.password)
        elapsed = time.monotonic() - started

    assert result.returncode == 1
    assert f"PostgreSQL at 127.0.0.1:{port} did not answer within 2 s" in result.stderr
    assert "allow a longer timeout" in result.stderr
    # Bounded by --db-timeout (psycopg's own default would be 130 s): about 2 s more than a run
    # that does not wait at all.
    assert elapsed >= 2, elapsed
    assert elapsed - baseline < 3.5, (elapsed, baseline)
    assert_no_secret(result, app.password)
    assert_nothing_written(before, project)


def test_server_requiring_ssl_with_sslmode_disable_says_to_use_ssl(
    project: Path, postgres_factory: Factory
) -> None:
    server = postgres_factory()
    server.require_ssl()
    server.start()
    app = server.create_app()
    before = snapshot(project)

    result = setup(project, external_args(app, "--postgres-sslmode", "disable"), app.password)

    assert result.returncode == 1
    assert f'accepts user "{app.user}" on database "{app.dbname}" only over SSL' in result.stderr
    assert 'sslmode is "disable"; set sslmode to "require"' in result.stderr
    assert_no_secret(result, app.password)
    assert_nothing_written(before, project)

    # The fix the message names works.
    fixed = setup(project, external_args(app, "--postgres-sslmode", "require"), app.password)
    assert fixed.returncode == 0, fixed.stderr
    env = read_env(project)
    assert env["POSTGRES_SSLMODE"] == "require"
    assert urlsplit(env["DATABASE_URL"] or "").query == ""


def test_role_that_cannot_create_tables_fails_naming_the_grant(
    project: Path, postgres: AppDatabase
) -> None:
    app = fresh_app(postgres)
    postgres.server.revoke_create_on_public(app.user, app.dbname)
    before = snapshot(project)

    result = setup(project, external_args(app), app.password)

    assert result.returncode == 1
    assert f'user "{app.user}" can log in but cannot create tables in schema "public"' in (
        result.stderr
    )
    assert f'GRANT CREATE ON SCHEMA "public" TO "{app.user}"' in result.stderr
    assert_no_secret(result, app.password)
    assert_nothing_written(before, project)


def test_skip_db_check_writes_without_connecting_and_says_so(
    project: Path, app: AppDatabase
) -> None:
    with silent_listener() as port:
        started = time.monotonic()
        result = setup(
            project,
            external_args(app, "--skip-db-check", "--db-timeout", "30", port=port),
            WRONG_PASSWORD,
        )
        elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert elapsed < 15  # never waited on the silent server
    assert "Database check skipped (--skip-db-check)" in result.stderr
    assert f"127.0.0.1:{port} was not validated" in result.stderr
    assert_no_secret(result, WRONG_PASSWORD)
    env = read_env(project)
    assert env["POSTGRES_MODE"] == "external"
    assert env["POSTGRES_PORT"] == str(port)
    assert env["POSTGRES_PASSWORD"] == WRONG_PASSWORD


# --- wizard check --------------------------------------------------------------------------------


@pytest.fixture
def external_deployment(project: Path, app: AppDatabase) -> Path:
    result = setup(project, external_args(app), app.password)
    assert result.returncode == 0, result.stderr
    return project


def test_check_passes_for_an_external_deployment_and_prints_a_table(
    external_deployment: Path, app: AppDatabase
) -> None:
    result = check(external_deployment)

    assert result.returncode == 0, result.stderr
    table = result.stdout  # the command's own output: `wizard check > report.txt` keeps it
    assert "Checks" in table
    for name in (".env", "required keys", "settings", "DATABASE_URL", "documents", "database"):
        assert name in table
    assert f"127.0.0.1:{app.port}: PostgreSQL 1" in table
    assert "fail" not in table
    assert_no_secret(result, app.password)


def test_check_warns_that_an_external_server_at_loopback_is_the_container_itself(
    external_deployment: Path, app: AppDatabase
) -> None:
    result = check(external_deployment, "--json")

    assert result.returncode == 0, result.stderr  # a warning, not a failure
    [row] = check_rows(result)["database host"]
    assert row["status"] == "warn"
    assert "127.0.0.1: inside a container that is the container itself" in row["detail"]


@pytest.mark.parametrize("bind_address", ["127.0.0.1", "0.0.0.0"])
def test_check_passes_for_a_bundled_deployment_on_its_published_port(
    project: Path, app: AppDatabase, bind_address: str
) -> None:
    # The port is held by the fixture's server, so setup's own port check would refuse it.
    made = setup(
        project,
        bundled_args(app, "--skip-port-check", "--bind-address", bind_address),
        app.password,
    )
    assert made.returncode == 0, made.stderr
    assert read_env(project)["POSTGRES_MODE"] == "bundled"

    result = check(project, "--json")

    assert result.returncode == 0, result.stderr
    rows = check_rows(result)
    assert json.loads(result.stdout)["ok"] is True
    [database] = rows["database (bundled)"]
    assert database["status"] == "ok"
    # Published on every interface or on loopback only: the wizard reaches it on 127.0.0.1.
    assert database["detail"].startswith(f"127.0.0.1:{app.port}: PostgreSQL 1")
    # The published port is held by the server that answered as this deployment's database.
    [port] = rows["port"]
    assert port["status"] == "ok"
    assert f"{bind_address}:{app.port} (postgres)" in port["detail"]
    assert "answers as this deployment's database" in port["detail"]
    assert_no_secret(result, app.password)


def test_check_json_is_one_object_listing_every_check(
    external_deployment: Path, app: AppDatabase
) -> None:
    result = check(external_deployment, "--json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # exactly one object: json.loads refuses anything after it
    assert data["ok"] is True
    assert data["project_dir"] == str(external_deployment)
    rows = check_rows(result)
    assert {".env", "required keys", "settings", "DATABASE_URL", "documents", "database"} <= set(
        rows
    )
    # The test server listens on 127.0.0.1, which a container cannot reach: a warning row.
    assert [row["status"] for row in rows.pop("database host")] == ["warn"]
    assert all(row["status"] in ("ok", "skip") for group in rows.values() for row in group)
    assert rows["documents"][0]["detail"].startswith(str(external_deployment / "docs"))
    assert_no_secret(result, app.password)


def test_check_fails_once_the_server_is_stopped(project: Path, postgres_factory: Factory) -> None:
    server = postgres_factory()
    server.start()
    app = server.create_app()
    assert setup(project, external_args(app), app.password).returncode == 0
    assert check(project).returncode == 0

    server.stop()
    result = check(project, "--json")

    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    [database] = check_rows(result)["database"]
    assert database["status"] == "fail"
    assert (
        f"Nothing is listening at 127.0.0.1:{app.port} (connection refused)" in (database["detail"])
    )
    assert result.stderr == ""  # --json: the object is all there is, no table beside it
    assert_no_secret(result, app.password)


def test_check_wait_succeeds_when_the_server_comes_up_during_the_wait(
    project: Path, postgres_factory: Factory
) -> None:
    server, app = stopped_server(postgres_factory)
    # Bundled, as after `docker compose up -d`: the server comes up while check waits for it.
    assert setup(project, bundled_args(app), app.password).returncode == 0

    assert check(project).returncode == 1  # down: one try, no waiting

    join = start_in(server, 2.0)
    started = time.monotonic()
    result = check(project, "--wait", "15", "--db-timeout", "2", "--json")
    elapsed = time.monotonic() - started
    join()

    assert result.returncode == 0, result.stderr
    assert 2 <= elapsed < 20, elapsed
    rows = check_rows(result)
    assert rows["database (bundled)"][0]["status"] == "ok"
    assert rows["port"][0]["status"] == "ok"
    assert_no_secret(result, app.password)


def test_check_wait_gives_up_after_the_given_seconds(
    external_deployment: Path, app: AppDatabase
) -> None:
    closed = free_port()
    url = env_value(external_deployment, "DATABASE_URL")
    set_env(external_deployment, "POSTGRES_PORT", str(closed))
    set_env(external_deployment, "DATABASE_URL", url.replace(f":{app.port}/", f":{closed}/"))

    started = time.monotonic()
    result = check(external_deployment, "--wait", "3", "--db-timeout", "2", "--json")
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    assert 3 <= elapsed < 12, elapsed
    rows = check_rows(result)
    assert rows["DATABASE_URL"][0]["status"] == "ok"
    assert "connection refused" in rows["database"][0]["detail"]
    assert_no_secret(result, app.password)


def test_check_wait_ends_at_once_on_a_wrong_password(
    external_deployment: Path, app: AppDatabase
) -> None:
    url = env_value(external_deployment, "DATABASE_URL")
    set_env(external_deployment, "POSTGRES_PASSWORD", WRONG_PASSWORD)
    encoded = quote(app.password, safe="")
    set_env(external_deployment, "DATABASE_URL", url.replace(encoded, WRONG_PASSWORD))

    started = time.monotonic()
    result = check(external_deployment, "--wait", "60", "--json")
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    assert elapsed < 20, elapsed  # waiting cannot cure a wrong password: no retries
    rows = check_rows(result)
    assert rows["DATABASE_URL"][0]["status"] == "ok"
    assert "wrong password or no such user" in rows["database"][0]["detail"]
    assert_no_secret(result, app.password, WRONG_PASSWORD)


def test_check_without_env_says_to_run_setup(project: Path) -> None:
    result = check(project, "--json")

    assert result.returncode == 1
    rows = check_rows(result)
    [env_row] = rows[".env"]
    assert env_row["status"] == "fail"
    assert "run `wizard setup`" in env_row["detail"]
    assert result.stderr == ""  # --json: the object, and no table on stderr
    assert sorted(os.listdir(project)) == ["docs"]


def test_check_names_a_key_missing_from_env_and_still_tries_the_database(
    external_deployment: Path, app: AppDatabase
) -> None:
    path = external_deployment / ".env"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith("JWT_SECRET_KEY=")))

    result = check(external_deployment, "--json")

    assert result.returncode == 1
    rows = check_rows(result)
    assert rows["required keys"][0]["status"] == "fail"
    assert "missing from .env: JWT_SECRET_KEY" in rows["required keys"][0]["detail"]
    assert rows["database"][0]["status"] == "ok"
    assert_no_secret(result, app.password)


def test_check_names_what_in_database_url_disagrees(
    external_deployment: Path, app: AppDatabase
) -> None:
    other = free_port()
    url = env_value(external_deployment, "DATABASE_URL")
    set_env(external_deployment, "DATABASE_URL", url.replace(f":{app.port}/", f":{other}/"))

    result = check(external_deployment, "--json")

    assert result.returncode == 1
    [row] = check_rows(result)["DATABASE_URL"]
    assert row["status"] == "fail"
    assert "(the port differs from POSTGRES_PORT)" in row["detail"]
    assert str(other) not in row["detail"]  # nothing read from the URL, which may hold a password
    assert_no_secret(result, app.password)


def test_check_says_when_database_url_holds_another_password_without_showing_either(
    external_deployment: Path, app: AppDatabase
) -> None:
    url = env_value(external_deployment, "DATABASE_URL")
    encoded = quote(app.password, safe="")
    set_env(
        external_deployment, "DATABASE_URL", url.replace(encoded, quote(WRONG_PASSWORD, safe=""))
    )

    result = check(external_deployment, "--json")

    assert result.returncode == 1
    [row] = check_rows(result)["DATABASE_URL"]
    assert "the password differs from POSTGRES_PASSWORD" in row["detail"]
    assert_no_secret(result, app.password, WRONG_PASSWORD)


def test_check_names_a_secret_that_is_too_short(
    external_deployment: Path, app: AppDatabase
) -> None:
    set_env(external_deployment, "JWT_SECRET_KEY", "short-jwt")

    result = check(external_deployment, "--json")

    assert result.returncode == 1
    rows = check_rows(result)
    assert any(
        row["status"] == "fail" and "JWT_SECRET_KEY: 9 characters is too short" in row["detail"]
        for row in rows["settings"]
    )
    # The other checks still run: the database is fine.
    assert rows["database"][0]["status"] == "ok"
    assert "short-jwt" not in result.stdout + result.stderr
    assert_no_secret(result, app.password)


def test_check_names_a_document_directory_that_is_gone(
    external_deployment: Path, app: AppDatabase
) -> None:
    (external_deployment / "docs").rmdir()

    result = check(external_deployment, "--json")

    assert result.returncode == 1
    rows = check_rows(result)
    assert any(
        row["status"] == "fail"
        and f"{external_deployment / 'docs'} does not exist" in row["detail"]
        for row in rows["settings"]
    )
    assert_no_secret(result, app.password)


@pytest.mark.parametrize("database", ["answers", "refuses"])
def test_check_changes_nothing(project: Path, app: AppDatabase, database: str) -> None:
    port = app.port if database == "answers" else free_port()
    made = setup(project, external_args(app, "--skip-db-check", port=port), app.password)
    assert made.returncode == 0, made.stderr

    def state() -> dict[str, tuple[int, int, int]]:
        return {
            str(path): (info.st_mtime_ns, info.st_size, info.st_mode)
            for path in sorted(project.rglob("*"))
            for info in [path.lstat()]
        }

    before, contents = state(), snapshot(project)
    for args in ([], ["--json"], ["--wait", "1", "--db-timeout", "2"]):
        result = check(project, *args)
        assert result.returncode == (0 if database == "answers" else 1), result.stderr
        assert_no_secret(result, app.password)
    assert state() == before
    assert snapshot(project) == contents


# --- interactive step 2: the external flow ------------------------------------------------------


@pytest.fixture
def no_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No nvidia-smi and no docker on PATH (GPU detection must not depend on this machine), and
    rich wide enough that the review table keeps each cell on one line."""
    bindir = tmp_path / "no-tools-bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("COLUMNS", "200")


def interactive(project: Path, *script: str | Expect, **flags: Any) -> Driven[Outcome]:
    """`wizard setup` at a terminal, as wizard/cli.py builds the request (flags only here)."""
    flags.setdefault("skip_port_check", True)
    inputs = Answers([(Source.FLAG, flags), (Source.ENV, {}), (Source.FILE, {})])
    request = Request(project_dir=project, cwd=project, inputs=inputs, interactive=True)
    return drive(lambda: run(request, UI()), *script, timeout=30)


STEP_1 = ENTER * 2  # CPU (no GPU here), keep the models
EXTERNAL = DOWN + ENTER
STEP_4 = ENTER * 5  # generate the JWT secret, token lifetime, log level, bind address, production
WRITE = ENTER


def external_answers(app: AppDatabase) -> str:
    """Host, port, database, user typed over the defaults; sslmode prefer."""
    return (
        typed(app.host)
        + replace(str(app.port))
        + replace(app.dbname)
        + replace(app.user)
        + ENTER  # sslmode: prefer
    )


ENTER_MY_OWN = DOWN + ENTER  # bundled, first time: [generate, enter my own]


def password_twice(password: str) -> str:
    return typed(password) + typed(password)


def server_password(password: str) -> str:
    """An external server's password is asked once (the connection proves it); no generating."""
    return typed(password)


@pytest.mark.usefixtures("no_tools")
def test_interactive_wrong_password_is_corrected_at_the_retry_prompt(
    project: Path, typed_app: AppDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    app = typed_app
    docs = project / "docs"

    driven = interactive(
        project,
        STEP_1,
        EXTERNAL,
        external_answers(app),
        server_password(WRONG_PASSWORD),
        Expect("What now?"),
        ENTER,  # "Change the connection settings" (the default)
        ENTER * 4,  # host, port, database and user keep what was typed
        ENTER,  # sslmode
        Expect("Keep the current password"),
        ENTER,  # "Enter the server's password": the default once the server refused the one typed
        server_password(TYPED_PASSWORD),
        Expect("Directory with documents"),
        typed(str(docs)) + ENTER,
        STEP_4,
        WRITE,
    )

    err = capsys.readouterr().err
    assert f'PostgreSQL at 127.0.0.1:{app.port} refused user "{app.user}"' in err
    assert "Connected: PostgreSQL 1" in err
    assert "Database check" in err and "connects" in err
    env = read_env(project)
    assert env["POSTGRES_MODE"] == "external"
    assert env["POSTGRES_PORT"] == str(app.port)
    assert env["POSTGRES_PASSWORD"] == TYPED_PASSWORD
    assert unquote(urlsplit(env["DATABASE_URL"] or "").password or "") == TYPED_PASSWORD
    assert not driven.result.plan.resolved.option("skip_db_check")
    for secret in (TYPED_PASSWORD, WRONG_PASSWORD):
        assert secret not in driven.screen
        assert secret not in err


@pytest.mark.usefixtures("no_tools")
def test_interactive_continue_without_validation_is_shown_in_the_review(
    project: Path, app: AppDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = project / "docs"

    driven = interactive(
        project,
        STEP_1,
        EXTERNAL,
        external_answers(app),
        server_password(WRONG_PASSWORD),
        Expect("What now?"),
        down(2) + ENTER,  # "Continue without validation"
        Expect("Directory with documents"),
        typed(str(docs)) + ENTER,
        STEP_4,
        Expect("Write this configuration?"),
        WRITE,
    )

    err = capsys.readouterr().err
    assert "wrong password or no such user" in err
    review = err[err.index("Review") :]
    assert "Database check" in review and "skipped (not validated)" in review
    assert driven.result.plan.resolved.option("skip_db_check")
    env = read_env(project)
    assert env["POSTGRES_MODE"] == "external"
    assert env["POSTGRES_PASSWORD"] == WRONG_PASSWORD  # what the person chose to keep
    assert WRONG_PASSWORD not in driven.screen and WRONG_PASSWORD not in err


@pytest.mark.usefixtures("no_tools")
def test_interactive_try_again_connects_once_the_server_is_up(
    project: Path, postgres_factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    server, app = stopped_server(postgres_factory, TYPED_PASSWORD)
    docs = project / "docs"

    class StartsServerOnFirstProblem(UI):
        """The person starts the server after reading the first failure (before "Try again")."""

        def problem(self, message: str) -> None:
            super().problem(message)
            if not server.running:
                server.start()

    inputs = Answers(
        [(Source.FLAG, {"skip_port_check": True}), (Source.ENV, {}), (Source.FILE, {})]
    )
    request = Request(project_dir=project, cwd=project, inputs=inputs, interactive=True)
    driven = drive(
        lambda: run(request, StartsServerOnFirstProblem()),
        STEP_1,
        EXTERNAL,
        external_answers(app),
        server_password(TYPED_PASSWORD),
        Expect("What now?"),
        DOWN + ENTER,  # "Try again"
        Expect("Directory with documents"),
        typed(str(docs)) + ENTER,
        STEP_4,
        WRITE,
        timeout=30,
    )

    err = capsys.readouterr().err
    assert f"Nothing is listening at 127.0.0.1:{app.port} (connection refused)" in err
    assert "Connected: PostgreSQL 1" in err
    assert read_env(project)["POSTGRES_PASSWORD"] == TYPED_PASSWORD
    assert not driven.result.plan.resolved.option("skip_db_check")


@pytest.mark.usefixtures("no_tools")
def test_interactive_settings_fixed_by_flags_offer_no_change_at_the_retry_prompt(
    project: Path, app: AppDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = {
        "postgres_mode": "external",
        "postgres_host": app.host,
        "postgres_port": str(app.port),
        "postgres_db": app.dbname,
        "postgres_user": app.user,
        "postgres_sslmode": "PREFER",  # as typed on a command line: any case
        "postgres_password": WRONG_PASSWORD,  # as --postgres-password-file delivers it
    }

    driven = interactive(
        project,
        STEP_1,
        Expect("What now?"),
        ENTER,  # "Try again" is first now: the same answer again
        Expect("What now?"),
        DOWN + ENTER,  # "Continue without validation"
        Expect("Directory with documents"),
        typed(str(project / "docs")) + ENTER,
        STEP_4,
        WRITE,
        **flags,
    )

    assert "Change the connection settings" not in driven.screen
    assert "Try again" in driven.screen
    err = capsys.readouterr().err
    assert err.count("wrong password or no such user") == 2
    assert read_env(project)["POSTGRES_SSLMODE"] == "prefer"


@pytest.mark.usefixtures("no_tools")
def test_interactive_port_flag_that_is_not_a_number_is_reported_before_any_question(
    project: Path, app: AppDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = {
        "postgres_mode": "external",
        "postgres_host": app.host,
        "postgres_port": "54x2",
        "postgres_password": app.password,
    }

    with pytest.raises(InputError) as raised:
        interactive(project, **flags)  # no keys: not one prompt is shown

    assert raised.value.problems == [
        "--postgres-port: '54x2' is not a port; use a whole number from 1 to 65535"
    ]
    assert sorted(os.listdir(project)) == ["docs"]
    assert app.password not in capsys.readouterr().err


# --- --start-db -----------------------------------------------------------------------------------


def start_command(server: PostgresServer) -> str:
    """The shell command that starts `server` as its `start()` does (for the fake engine)."""
    argv = server._server_cmd(
        "pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w", "-t", "30",
        "-o", server._options(), "start",
    )  # fmt: skip
    return shlex.join(argv)


def test_start_db_starts_the_bundled_postgres_and_reports_that_it_answers(
    project: Path, postgres_factory: Factory, tmp_path: Path
) -> None:
    server, app = stopped_server(postgres_factory)
    log = tmp_path / "docker.log"
    try:
        result = setup(
            project,
            bundled_args(app, "--start-db"),
            app.password,
            PATH=str(COMPOSE_STARTS_POSTGRES),
            FAKE_DOCKER_UP_CMD=start_command(server),
            FAKE_DOCKER_LOG=str(log),
        )
    finally:
        # Started by the fake engine, not by server.start(): let close() stop it.
        server.running = (server.data / "postmaster.pid").exists()

    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert [call.split(": ", 1)[1] for call in calls] == [
        "compose version",
        "compose up -d postgres",
    ]
    assert calls[-1] == f"{project}: compose up -d postgres"  # where COMPOSE_FILE applies
    assert "Started the postgres service" in result.stderr
    assert (
        "Database: PostgreSQL 1" in result.stderr
        and f"at 127.0.0.1:{app.port} answers, and the app's role can create tables"
        in result.stderr
    )
    assert next_line(result.stderr).endswith(" up --admin USERNAME --admin-email EMAIL")
    assert_no_secret(result, app.password)
    env = read_env(project)
    assert env["POSTGRES_MODE"] == "bundled"
    assert "docker-compose.postgres.yml" in (env["COMPOSE_FILE"] or "")

    # The deployment it started checks out.
    assert check(project).returncode == 0


def test_start_db_without_docker_exits_1_saying_compose_is_missing_and_files_are_written(
    project: Path, app: AppDatabase, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()

    result = setup(project, bundled_args(app, "--start-db", "--skip-port-check"), app.password,
                   PATH=str(empty))  # fmt: skip

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "`docker compose` is not available here (there is no `docker` on PATH)" in (
        result.stderr
    )
    assert "The files were written (.env, docker-compose.override.yml" in result.stderr
    [where] = [
        line for line in result.stderr.splitlines() if line.startswith("error: Where Docker runs: ")
    ]
    assert where.endswith(" up --admin USERNAME --admin-email EMAIL")
    assert_no_secret(result, app.password)
    assert read_env(project)["POSTGRES_PASSWORD"] == app.password
    assert (project / "docker-compose.override.yml").is_file()


def test_start_db_with_a_docker_client_lacking_compose_says_so(
    project: Path, app: AppDatabase, tmp_path: Path
) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no Docker client on this machine")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, timeout=30, check=False
    )
    if probe.returncode == 0:
        pytest.skip("this Docker client has the compose plugin; the test would start containers")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").symlink_to(docker)

    result = setup(project, bundled_args(app, "--start-db", "--skip-port-check"), app.password,
                   PATH=str(bindir))  # fmt: skip

    assert result.returncode == 1
    assert "has no compose plugin" in result.stderr
    assert "The files were written" in result.stderr
    assert_no_secret(result, app.password)


def test_start_db_with_an_external_server_warns_and_starts_nothing(
    project: Path, app: AppDatabase, tmp_path: Path
) -> None:
    log = tmp_path / "docker.log"

    result = setup(
        project,
        external_args(app, "--start-db"),
        app.password,
        PATH=str(COMPOSE_STARTS_POSTGRES),
        FAKE_DOCKER_LOG=str(log),
    )

    assert result.returncode == 0, result.stderr
    assert "--start-db starts the bundled PostgreSQL only" in result.stderr
    assert not log.exists()


def test_start_db_against_a_server_that_kept_an_older_password_says_so(
    project: Path, postgres_factory: Factory
) -> None:
    # The bundled server's volume was initialised with another password: the classic trap.
    server, app = stopped_server(postgres_factory)
    try:
        result = setup(
            project,
            bundled_args(app, "--start-db"),
            WRONG_PASSWORD,
            PATH=str(COMPOSE_STARTS_POSTGRES),
            FAKE_DOCKER_UP_CMD=start_command(server),
        )
    finally:
        server.running = (server.data / "postmaster.pid").exists()

    assert result.returncode == 1
    assert "The files were written (.env" in result.stderr
    assert "PostgreSQL was started, but it does not answer" in result.stderr
    assert "wrong password or no such user" in result.stderr
    assert "keeps the password it was first started with" in result.stderr
    assert_no_secret(result, app.password, WRONG_PASSWORD)
    assert read_env(project)["POSTGRES_PASSWORD"] == WRONG_PASSWORD


def test_start_db_when_compose_cannot_start_the_service_says_the_files_were_written(
    project: Path, app: AppDatabase, tmp_path: Path
) -> None:
    log = tmp_path / "docker.log"
    # FAKE_DOCKER_UP_CMD unset: the engine fails to start the container.
    result = setup(
        project,
        bundled_args(app, "--start-db", "--skip-port-check"),
        app.password,
        PATH=str(COMPOSE_STARTS_POSTGRES),
        FAKE_DOCKER_LOG=str(log),
    )

    assert result.returncode == 1
    assert "The files were written (.env" in result.stderr
    assert "PostgreSQL was not started: `docker compose up -d postgres` failed (exit 1)" in (
        result.stderr
    )
    assert "failed to start container" not in result.stderr  # compose's output is not shown
    assert log.read_text().splitlines()[-1] == f"{project}: compose up -d postgres"
    assert_no_secret(result, app.password)


def test_interactive_bundled_setup_offers_to_start_postgres_and_validates_it(
    project: Path,
    postgres_factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    server = postgres_factory()
    server.start()
    server.create_app("docsearch", "docsearch", TYPED_PASSWORD)
    server.stop()
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", str(COMPOSE_STARTS_POSTGRES))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("FAKE_DOCKER_UP_CMD", start_command(server))
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))

    try:
        driven = interactive(
            project,
            STEP_1,
            ENTER,  # bundled
            replace(str(server.port)),  # host port
            ENTER_MY_OWN,
            password_twice(TYPED_PASSWORD),
            Expect("Directory with documents"),
            typed(str(project / "docs")) + ENTER,
            STEP_4,
            WRITE,
            Expect("Start PostgreSQL now and check the connection?"),
            ENTER,  # yes
        )
    finally:
        server.running = (server.data / "postmaster.pid").exists()

    err = capsys.readouterr().err
    assert "Started the postgres service" in err
    assert f"at 127.0.0.1:{server.port} answers, and the app's role can create tables" in err
    assert driven.result.checks == [
        {"name": "database", "ok": True, "detail": driven.result.checks[0]["detail"]}
    ]
    assert driven.result.next_steps[-1].endswith(" up --admin USERNAME --admin-email EMAIL")
    calls = log.read_text().splitlines()
    assert [call.split(": ", 1)[1] for call in calls] == [
        "compose version",  # step 1 says whether `docker compose up -d` can run here
        "compose version",
        "compose up -d postgres",
    ]
    assert calls[-1] == f"{project}: compose up -d postgres"  # where COMPOSE_FILE applies
    assert TYPED_PASSWORD not in err and TYPED_PASSWORD not in driven.screen


# --- interrupted after the write ------------------------------------------------------------------


def test_interrupt_while_start_db_waits_says_which_files_were_written(
    project: Path, app: AppDatabase
) -> None:
    # The "started" server accepts connections and never answers: the wizard waits for it.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        first = ["setup", "--non-interactive", "--doc-dir", "docs", "--skip-port-check",
                 "--postgres-host-port", str(port)]  # fmt: skip
        installed = setup(project, first, app.password)
        assert installed.returncode == 0, installed.stderr
        # A re-run that changes the log level, so .env is replaced and backed up.
        running = start_wizard(
            ["setup", "--non-interactive", "--skip-port-check", "--log-level", "DEBUG",
             "--start-db", "--json"],
            cwd=project,
            env={**WIDE, "PATH": str(COMPOSE_STARTS_POSTGRES), "FAKE_DOCKER_UP_CMD": "true"},
        )  # fmt: skip
        try:
            listener.settimeout(60)
            connection, _ = listener.accept()  # the files are written; the wait has begun
            with connection:
                running.send_signal(signal.SIGINT)
                out, err = running.communicate(timeout=60)
        finally:
            running.kill()

    assert running.returncode == 130, err
    assert "nothing was written" not in err
    [backup] = sorted(project.glob(".env.bak.*"))
    stamp = backup.name.removeprefix(".env.bak.")
    assert (
        f"interrupted after the files were written (.env); backups of the replaced ones end in "
        f".bak.{stamp}; PostgreSQL was not started or not checked." in err
    )
    assert next_line(err).endswith(" up")  # a re-run: no administrator to create
    report = json.loads(out)
    assert report["ok"] is False and report["exit_code"] == 130
    assert report["written"] == [".env"]
    assert report["backup"] == stamp
    assert read_env(project)["LOG_LEVEL"] == "DEBUG"
    assert_no_secret(Run(running.args, running.returncode, out, err), app.password)


def test_start_db_failure_after_the_write_names_the_files_in_json(
    project: Path, app: AppDatabase, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()

    result = setup(project, bundled_args(app, "--start-db", "--skip-port-check", "--json"),
                   app.password, PATH=str(empty))  # fmt: skip

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["exit_code"] == 1
    assert ".env" in report["written"] and "docker-compose.override.yml" in report["written"]
    assert report["backup"] is None  # a first install replaces nothing
    assert all((project / name).is_file() for name in report["written"])


def test_ctrl_c_at_the_offer_to_start_postgres_says_the_files_were_written(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(COMPOSE_STARTS_POSTGRES))
    monkeypatch.setenv("COLUMNS", "200")

    with pytest.raises(Interrupted) as raised:
        interactive(
            project,
            STEP_1,
            ENTER,  # bundled
            replace(str(free_port())),  # host port
            ENTER,  # generate the password
            Expect("Directory with documents"),
            typed(str(project / "docs")) + ENTER,
            STEP_4,
            WRITE,
            Expect("Start PostgreSQL now and check the connection?"),
            CTRL_C,
        )

    message = str(raised.value)
    assert message.startswith("interrupted after the files were written (.env, ")
    assert "nothing was written" not in message
    assert raised.value.report["written"]
    assert all((project / name).is_file() for name in raised.value.report["written"])
    assert read_env(project)["POSTGRES_MODE"] == "bundled"
