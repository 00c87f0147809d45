"""Starting the bundled PostgreSQL with docker compose, when this host has Docker.

Only `setup --start-db` (or the interactive offer after writing) uses this; the wizard never needs
Docker to configure a stack.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

COMPOSE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class StartResult:
    ok: bool
    message: str  # one sentence: what ran, and on failure the last line compose printed


def compose_command() -> list[str] | None:
    """`docker compose` when the Docker CLI has the compose plugin, else None."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        probe = subprocess.run(
            [docker, "compose", "version"],
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [docker, "compose"] if probe.returncode == 0 else None


def start_postgres(project_dir: Path, command: list[str]) -> StartResult:
    """`docker compose up -d postgres` in the project directory (COMPOSE_FILE comes from .env).

    compose's output is not shown: its errors can quote .env lines, secrets included.
    """
    try:
        done = subprocess.run(
            [*command, "up", "-d", "postgres"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=COMPOSE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return StartResult(False, "`docker compose up -d postgres` did not finish in 5 minutes")
    except OSError as exc:
        return StartResult(False, f"could not run docker: {exc.strerror}")
    if done.returncode != 0:
        return StartResult(
            False,
            f"`docker compose up -d postgres` failed (exit {done.returncode}); run it yourself "
            "in the project directory to see why",
        )
    return StartResult(True, "started the postgres service (docker compose up -d postgres)")
