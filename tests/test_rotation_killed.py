"""A password rotation killed with SIGKILL at any moment never locks the stack out.

The wizard runs as a real process against a real PostgreSQL server (tests/pg.py) in external
mode, and is killed with SIGKILL, which no handler sees, at random moments spread over the whole
run. After each kill the next `wizard check` must connect: .env holds the server's password,
either as POSTGRES_PASSWORD or as the pending one it settles.
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from helpers import read_env, run_wizard, start_wizard
from pg import AppDatabase

PENDING = "POSTGRES_PASSWORD_PENDING"
PENDING_SET = re.compile(rb"^POSTGRES_PASSWORD_PENDING=['\"]?[^'\"\s]", re.MULTILINE)
KILLS = 40


def logs_in(app: AppDatabase, password: str) -> bool:
    try:
        psycopg.connect(
            host=app.host, port=app.port, dbname=app.dbname, user=app.user,
            password=password, connect_timeout=5,
        ).close()  # fmt: skip
    except psycopg.OperationalError as exc:
        assert "password authentication failed" in str(exc)
        return False
    return True


def until_pending(project: Path, running: subprocess.Popen[str]) -> None:
    """Return as soon as .env holds a pending password (or the run has ended)."""
    env_file = project / ".env"
    while running.poll() is None:
        if PENDING_SET.search(env_file.read_bytes()):
            return
        time.sleep(0.0002)


def database_row(project: Path) -> dict[str, str]:
    done = run_wizard(["check", "--json", "--db-timeout", "5"], cwd=project)
    rows = {row["name"]: row for row in json.loads(done.stdout)["checks"]}
    return rows["database"]


@pytest.mark.slow
def test_sigkill_at_any_moment_of_a_rotation_leaves_a_env_check_connects_with(
    tmp_path: Path, postgres: AppDatabase
) -> None:
    app = postgres.server.create_app("rot", "rot_db")
    project = tmp_path / "deploy"
    (project / "docs").mkdir(parents=True)
    rotate = ["setup", "--non-interactive", "--doc-dir", "docs", "--skip-port-check"]
    first = run_wizard(
        [*rotate, "--postgres-mode", "external", "--postgres-host", app.host,
         "--postgres-port", str(app.port), "--postgres-db", app.dbname,
         "--postgres-user", app.user],
        cwd=project, env={"WIZARD_POSTGRES_PASSWORD": app.password},
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    rotate.append("--rotate-postgres-password")

    # How long a whole rotation takes here, so that the kills spread over all of it.
    started = time.monotonic()
    whole = run_wizard(rotate, cwd=project)
    duration = time.monotonic() - started
    assert whole.returncode == 0, whole.stderr

    rng = random.Random(15)
    outcomes: list[str] = []
    for kill in range(KILLS):
        running = start_wizard(rotate, cwd=project)
        if kill % 4 == 3:
            # Aimed: the moment the write-ahead is seen in .env (before ALTER ROLE, or after it
            # and before the proof and the last write). A random moment lands there seldom,
            # never at all on a loaded machine whose runs are slower than the one measured.
            until_pending(project, running)
        else:
            # Every other kill aims at the second half of the run, where the rotation itself
            # (the write-ahead, ALTER ROLE, the proof, the write) happens after the start-up.
            low = 0.5 * duration if kill % 2 else 0.0
            time.sleep(rng.uniform(low, duration * 1.1))
        running.send_signal(signal.SIGKILL)
        try:
            running.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            running.kill()
            raise
        env = read_env(project)
        pending = env.get(PENDING) or ""
        current = env["POSTGRES_PASSWORD"] or ""
        # Whatever the moment, .env holds the password the server has.
        held = [p for p in (current, pending) if p and logs_in(app, p)]
        assert held, f"killed after {running.returncode}: .env holds no password the server takes"
        outcomes.append("pending" if pending else "settled")

        row = database_row(project)
        assert row["status"] == "ok", row
        env = read_env(project)
        assert not env.get(PENDING)
        assert logs_in(app, env["POSTGRES_PASSWORD"] or "")
    # The kills landed on both sides of the write-ahead.
    assert "pending" in outcomes, outcomes
    print("after the kills, .env was:", {o: outcomes.count(o) for o in set(outcomes)})
