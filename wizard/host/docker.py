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
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Compose:
    """How to run compose here: `command`, or None and `missing` saying why not (one phrase)."""

    command: tuple[str, ...] | None
    missing: str = ""


@dataclass(frozen=True)
class StartResult:
    ok: bool
    message: str  # one sentence: what ran, and on failure why


def find_compose() -> Compose:
    """`docker compose` when the Docker CLI on PATH has the compose plugin."""
    docker = shutil.which("docker")
    if docker is None:
        return Compose(None, "there is no `docker` on PATH")
    try:
        probe = subprocess.run(
            [docker, "compose", "version"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return Compose(None, f"`docker compose version` did not answer in {PROBE_TIMEOUT_S:g} s")
    except OSError as exc:
        return Compose(None, f"`{docker}` cannot be run ({exc.strerror})")
    if probe.returncode != 0:
        return Compose(None, f"`{docker}` has no compose plugin (`docker compose version` failed)")
    return Compose((docker, "compose"))


def start_postgres(project_dir: Path, command: list[str] | tuple[str, ...]) -> StartResult:
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
    return StartResult(True, "Started the postgres service (docker compose up -d postgres).")
