"""`wizard up` and `wizard down` against a pretend Docker engine (tests/fake_engine.py, the one
stand-in: there is no engine here) and real everything else: the files written by a real
`wizard setup`, the real `docker-compose` reading them, the stack's tables created on a real
PostgreSQL by the "migration", the administrator created there by the wizard, and the web UI's
readiness answered over HTTP on the published port.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from accounts_db import SCHEMA, accounts_database, connect
from helpers import (
    REPO,
    WIZARD,
    compose_binary,
    compose_config,
    free_port,
    problem_lines,
    read_env,
    run_wizard,
    start_wizard,
)
from keys import PtyTerminal
from pg import AppDatabase

STACK = REPO / "tests" / "stack" / "build" / "docker-compose.yml"
FAKEBIN = REPO / "tests" / "fakebin" / "docker-engine"
ADMIN = ["--admin", "admin", "--admin-email", "admin@example.org"]
BUILT = ("vecpipe", "webui", "worker")


@dataclass
class Stack:
    root: Path
    app: AppDatabase
    web_port: int
    engine: Path

    def wish(self, **config: Any) -> None:
        (self.engine / "config.json").write_text(json.dumps(config))

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": f"{FAKEBIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "FAKE_DOCKER_DIR": str(self.engine),
            "FAKE_DOCKER_PYTHON": sys.executable,
            "FAKE_COMPOSE_BIN": str(compose_binary()),
            **(extra or {}),
        }

    def up(self, *args: str, extra: dict[str, str] | None = None, input: str | None = None) -> Any:
        return run_wizard(
            ["up", *args], cwd=self.root, env=self.env(extra), input=input, timeout=120
        )

    def calls(self) -> list[dict[str, Any]]:
        log = self.engine / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def commands(self) -> list[str]:
        """Each call as its command line, the wait's seconds as N."""
        return [
            " ".join("N" if arg.isdigit() else arg for arg in call["argv"]) for call in self.calls()
        ]

    def events(self) -> list[dict[str, Any]]:
        state = self.engine / "state.json"
        return json.loads(state.read_text())["events"] if state.exists() else []


@pytest.fixture
def stack(tmp_path: Path, postgres: AppDatabase) -> Iterator[Stack]:
    """The stack's checkout after `wizard setup`: its bundled PostgreSQL is the test's real
    server (published on POSTGRES_HOST_PORT, with the deployment's role, database and password),
    no image is built yet, and the web UI is published on a free port."""
    app = accounts_database(postgres, schema=False)
    root = tmp_path / "semantik"
    root.mkdir()
    shutil.copy(STACK, root / "docker-compose.yml")
    (root / "packages").mkdir()
    (root / "docs").mkdir()
    setup = run_wizard(
        ["setup", "--non-interactive", "--doc-dir", "docs", "--postgres-host-port",
         str(app.port), "--postgres-db", app.dbname, "--postgres-user", app.user,
         "--skip-db-check", "--skip-port-check"],
        cwd=root, env={"WIZARD_POSTGRES_PASSWORD": app.password},
    )  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    web_port = free_port()
    with (root / ".env").open("a") as env:
        env.write(f"WEBUI_HOST_PORT={web_port}\n")
    engine = tmp_path / "engine"
    engine.mkdir()
    made = Stack(root, app, web_port, engine)
    made.wish()
    try:
        yield made
    finally:
        pids = engine / "readyz.pids"
        for pid in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)


def admins(app: AppDatabase) -> list[tuple[str, str, bool]]:
    with connect(app) as conn:
        rows = conn.execute(
            "SELECT username, hashed_password, is_superuser FROM users ORDER BY id"
        ).fetchall()
    return [(str(r[0]), str(r[1]), bool(r[2])) for r in rows]


def test_first_up_runs_the_phases_in_order_and_the_web_ui_starts_after_the_administrator(
    stack: Stack,
) -> None:
    run = stack.up(*ADMIN, "--generate-password", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] is True
    assert report["url"] == f"http://127.0.0.1:{stack.web_port}/"
    assert report["administrator"] == "admin"
    assert [p["phase"] for p in report["phases"]] == [
        "preflight", "host directories", "images", "dependencies", "schema", "administrator",
        "stack",
    ]  # fmt: skip
    # The order that leaves no registration window.
    started = [c for c in stack.commands() if c.split()[1] in ("build", "up", "run")]
    assert started == [
        "compose build vecpipe webui worker",
        "compose up -d --wait --wait-timeout N postgres redis qdrant",
        "compose run --rm --no-deps --entrypoint alembic webui upgrade head",
        "compose up -d --wait --wait-timeout N",
    ]
    assert stack.events() == [{"webui_started": True, "admins": 1}]
    assert all(call["cwd"] == str(stack.root) for call in stack.calls())
    # The administrator, as the web UI reads it, with the password printed once.
    password = report["password"]
    [(name, hashed, superuser)] = admins(stack.app)
    assert name == "admin" and superuser
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    # A fresh web UI reports embedding unhealthy while ready: not a failure.
    assert report["readiness"]["ready"] is True
    assert report["readiness"]["services"]["embedding"] == "unhealthy"
    # The password never reached a child process.
    for call in stack.calls():
        assert not any(password in arg for arg in call["argv"])
        assert not any(password in value for value in call["env"].values())
    assert password not in run.stderr
    # The bind sources exist for the containers' user (1000:1000 unless .env says otherwise).
    for name in ("data", "logs", "models"):
        info = (stack.root / name).stat()
        assert (info.st_uid, info.st_gid) == ((1000, 1000) if os.geteuid() == 0 else
                                              (os.getuid(), os.getgid()))  # fmt: skip


def test_the_override_makes_the_dependencies_health_waits_short(stack: Stack) -> None:
    services = compose_config(stack.root)["services"]
    for name in ("postgres", "redis", "qdrant"):
        health = services[name]["healthcheck"]
        assert health["start_interval"] == "2s"
        assert health["interval"] == "30s"  # the base's own, once healthy
    assert "start_interval" not in services["webui"]["healthcheck"]


def test_a_second_up_only_verifies(stack: Stack) -> None:
    first = stack.up(*ADMIN, "--generate-password")
    assert first.returncode == 0, first.stderr
    before = len(stack.calls())

    again = stack.up("--json")  # no terminal, no --admin: an administrator exists

    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert "password" not in report
    assert report["administrator"] == "admin"
    later = [c for c in stack.commands()[before:] if c.split()[1] in ("build", "up", "run")]
    assert later == []
    assert "admin exists already: nothing created" in again.stderr
    assert len(admins(stack.app)) == 1


def test_text_output_prints_the_generated_password_alone_on_stdout(stack: Stack) -> None:
    run = stack.up(*ADMIN, "--generate-password")
    assert run.returncode == 0, run.stderr
    password = run.stdout.splitlines()[0]
    assert bcrypt.checkpw(password.encode(), admins(stack.app)[0][1].encode())
    assert f"open http://127.0.0.1:{stack.web_port}/" in run.stderr


def test_without_a_terminal_and_without_admin_nothing_starts(stack: Stack) -> None:
    run = stack.up()
    assert run.returncode == 2
    assert problem_lines(run.stderr)[0].startswith("error: --admin: no active administrator")
    assert stack.calls() == []


def test_no_build_with_a_missing_image_names_it(stack: Stack) -> None:
    stack.wish(images=["semantik-vecpipe"])
    run = stack.up(*ADMIN, "--generate-password", "--no-build")
    assert run.returncode == 1
    assert "images failed: missing images: webui (semantik-webui), worker (semantik-worker)" in (
        run.stderr
    )
    assert not any(c.startswith(("compose build", "compose up")) for c in stack.commands())


def _masked(stack: Stack, run: Any) -> None:
    for key in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET_KEY"):
        secret = read_env(stack.root)[key]
        assert secret and secret not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("wish", "phase", "says"),
    [
        ({"daemon": "down"}, "preflight", "the Docker daemon does not answer"),
        ({"version": "2.20.3"}, "preflight", "docker compose 2.20.3 is too old"),
        ({"build": "fail"}, "images (vecpipe)", "`docker compose build` failed (exit 1)"),
        ({"health": {"redis": "unhealthy"}}, "dependencies (redis)",
         "container semantik-redis-1 is unhealthy"),
        ({"migration": "fail"}, "schema (webui)", "the migrations failed"),
        ({"health": {"worker": "exits"}}, "stack (worker)", "container semantik-worker-1 exited"),
    ],
)  # fmt: skip
def test_a_failed_phase_is_named_with_its_log_tail_masked(
    stack: Stack, wish: dict[str, Any], phase: str, says: str
) -> None:
    stack.wish(images=[], **wish)
    run = stack.up(*ADMIN, "--generate-password")
    assert run.returncode == 1
    assert f"✗ {phase} failed: " in run.stderr
    assert says in run.stderr
    assert "run `wizard up` again" in run.stderr
    _masked(stack, run)
    if phase.startswith(("dependencies", "stack", "schema")):
        assert "  | " in run.stderr and "********" in run.stderr
    if phase == "preflight":
        assert not any(c.startswith(("compose build", "compose up")) for c in stack.commands())
    if phase.startswith("dependencies"):
        assert not any(c.startswith("compose run") for c in stack.commands())


def test_json_failure_carries_the_phase_service_and_log(stack: Stack) -> None:
    stack.wish(health={"redis": "unhealthy"})
    run = stack.up(*ADMIN, "--generate-password", "--json")
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert (report["ok"], report["phase"], report["service"]) == (False, "dependencies", "redis")
    assert report["log_tail"][-1] == "semantik-redis-1  | failed"
    assert any("********" in line for line in report["log_tail"])


def test_less_memory_than_the_services_reserve_stops_at_preflight(stack: Stack) -> None:
    # The person's own override (part of the contract) reserves more than any host has.
    (stack.root / "compose.override.yaml").write_text(
        "services:\n  qdrant:\n    deploy:\n      resources:\n        reservations:\n"
        "          memory: 100000G\n"
    )
    run = stack.up(*ADMIN, "--generate-password")
    assert run.returncode == 1, run.stderr
    assert "preflight failed" in run.stderr
    assert "host memory: memory: this host has" in run.stderr
    assert not any(c.startswith(("compose build", "compose up")) for c in stack.commands())


def test_a_missing_source_directory_stops_before_anything_starts(stack: Stack) -> None:
    (stack.root / "packages").rmdir()
    run = stack.up(*ADMIN, "--generate-password")
    assert run.returncode == 1
    assert "host directories failed" in run.stderr
    assert "packages is missing" in run.stderr
    assert not any(c.startswith(("compose build", "compose up")) for c in stack.commands())


def test_a_failed_administrator_is_named_and_the_web_ui_never_starts(stack: Stack) -> None:
    # The tables exist, and the name is taken by a user who is no administrator.
    with connect(stack.app, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
        conn.execute(
            "INSERT INTO users (username, email, hashed_password, is_active, is_superuser, "
            "created_at) VALUES ('admin', 'someone@example.org', 'x', true, false, now())"
        )
    run = stack.up(*ADMIN, "--generate-password")
    assert run.returncode == 1
    assert "administrator failed" in run.stderr
    assert stack.events() == []


def test_a_web_ui_that_is_not_ready_by_the_deadline_fails_naming_the_dependency(
    stack: Stack,
) -> None:
    stack.wish(readyz="dependency-down")
    run = stack.up(*ADMIN, "--generate-password", "--timeout", "12")
    assert run.returncode == 1
    assert "stack (webui) failed: the web UI is not ready by the deadline" in run.stderr
    assert "qdrant unhealthy" in run.stderr


def test_the_password_from_the_environment_never_reaches_docker(stack: Stack) -> None:
    secret = "Adm1n-pass-from-env"
    run = stack.up(*ADMIN, extra={"WIZARD_ADMIN_PASSWORD": secret})
    assert run.returncode == 0, run.stderr
    assert bcrypt.checkpw(secret.encode(), admins(stack.app)[0][1].encode())
    for call in stack.calls():
        assert "WIZARD_ADMIN_PASSWORD" not in call["env"]
        assert not any(secret in value for value in call["env"].values())
        assert not any(secret in arg for arg in call["argv"])
    assert secret not in run.stdout + run.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_a_wait_exits_130_saying_up_resumes(stack: Stack, signum: int) -> None:
    stack.wish(health={"redis": "hang"})
    process = start_wizard(["up", *ADMIN, "--generate-password"], cwd=stack.root,
                           env=stack.env())  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(c.startswith("compose up") for c in stack.commands()):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "interrupted in the dependencies phase while `docker compose up -d --wait" in stderr
    assert "`wizard up` goes on where this stopped" in stderr
    assert "Traceback" not in stderr
    # The wait it interrupted was stopped, not left behind.
    [waiting] = [c for c in stack.calls() if c["argv"][:2] == ["compose", "up"]]
    with pytest.raises(ProcessLookupError):
        os.kill(waiting["pid"], 0)


def test_down_stops_the_stack_and_keeps_the_volumes(stack: Stack) -> None:
    run = run_wizard(["down"], cwd=stack.root, env=stack.env())
    assert run.returncode == 0, run.stderr
    assert stack.commands()[-1] == "compose down"
    assert "volumes keep the data" in run.stderr


def test_a_second_up_with_admin_flags_creates_nothing_and_prints_no_password(stack: Stack) -> None:
    first = stack.up(*ADMIN, "--generate-password", "--json")
    assert first.returncode == 0, first.stderr
    again = stack.up("--admin", "other", "--admin-email", "other@example.org",
                     "--generate-password", "--json")  # fmt: skip
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert "password" not in report and report["administrator"] == "admin"
    assert [name for name, _, _ in admins(stack.app)] == ["admin"]


def test_a_gpu_deployment_without_the_nvidia_runtime_stops_at_preflight(stack: Stack) -> None:
    setup = run_wizard(["setup", "--non-interactive", "--deployment", "gpu", "--skip-db-check",
                        "--skip-port-check"], cwd=stack.root)  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    run = stack.up(*ADMIN, "--generate-password")
    assert run.returncode == 1
    assert "✗ preflight failed: GPU deployment: " in run.stderr
    assert not any(c.startswith(("compose build", "compose up")) for c in stack.commands())


PASSWORD = "Adm1n typed at a terminal"


def test_at_a_terminal_without_admin_it_asks_and_never_shows_the_password(
    stack: Stack, tmp_path: Path
) -> None:
    terminal = PtyTerminal(
        {**stack.env(), "HOME": str(tmp_path), "LC_ALL": "C.UTF-8", "PROMPT_TOOLKIT_NO_CPR": "1"}
    )
    try:
        terminal.start([str(WIZARD), "up"], cwd=stack.root)
        terminal.expect("? Administrator's username")
        terminal.type("admin\r")
        terminal.expect("? Administrator's email")
        terminal.type("admin@example.org\r")
        terminal.expect("Type one")
        terminal.press("Down", "Enter")
        terminal.expect("? Administrator's password (hidden)")
        terminal.type(PASSWORD + "\r")
        terminal.expect("? Password again")
        terminal.type(PASSWORD + "\r")
        assert terminal.exit_status(timeout=60) == 0
        screen = terminal.screen()
    finally:
        terminal.close()
    assert "The stack is ready" in screen
    assert PASSWORD not in screen
    [(name, hashed, superuser)] = admins(stack.app)
    assert name == "admin" and superuser
    assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode())
    assert stack.events() == [{"webui_started": True, "admins": 1}]
