"""Whether `docker compose up -d` can run what the wizard wrote: `wizard check`'s docker row.

Docker itself cannot run here: the Docker CLI is a fake on PATH (tests/fakebin) that prints what
the real client prints; everything else is the real wizard.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO, free_port, run_wizard

FAKEBIN = REPO / "tests" / "fakebin"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "deploy"
    (root / "docs").mkdir(parents=True)
    done = run_wizard(
        ["setup", "--non-interactive", "--doc-dir", "docs", "--skip-db-check",
         "--skip-port-check", "--postgres-host-port", str(free_port())],
        cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


def docker_row(project: Path, fake: str | None, tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "no-docker"
    empty.mkdir(exist_ok=True)
    path = str(FAKEBIN / fake) if fake else str(empty)
    done = run_wizard(["check", "--json", "--db-timeout", "2"], cwd=project, env={"PATH": path})
    [row] = [row for row in json.loads(done.stdout)["checks"] if row["name"] == "docker"]
    return row


@pytest.mark.parametrize(
    ("fake", "status", "detail"),
    [
        (
            "docker-compose-starts-postgres",
            "ok",
            "docker compose 2.40.3, and the daemon answers",
        ),
        (
            "docker-daemon-down",
            "warn",
            "docker compose 2.40.3, but the Docker daemon exits 1 (Cannot connect to the Docker "
            "daemon at unix:///var/run/docker.sock. Is the docker daemon running?): start it "
            "before `docker compose up -d`",
        ),
        (
            "docker-compose-old",
            "fail",
            "docker compose 2.20.2 is older than 2.24, which the wizard's override needs "
            "(`!override`, `!reset`): upgrade the compose plugin",
        ),
        (None, "warn", "there is no `docker` on PATH: install Docker here, or run"),
    ],
)
def test_check_says_whether_docker_compose_can_run_the_configuration(
    project: Path, tmp_path: Path, fake: str | None, status: str, detail: str
) -> None:
    row = docker_row(project, fake, tmp_path)

    assert row["status"] == status
    assert row["detail"].startswith(detail)
