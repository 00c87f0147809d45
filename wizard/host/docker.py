"""Docker on this host: whether `docker compose up -d` can run the configuration, and starting
the bundled PostgreSQL with it.

The wizard never needs Docker to configure a stack; step 1 and `wizard check` say what they
found, and `setup --start-db` (or the interactive offer after writing) starts the database.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

COMPOSE_TIMEOUT_S = 300.0
PROBE_TIMEOUT_S = 10.0
# The wizard's override uses `!override` and `!reset`, which compose reads from 2.24 on.
MIN_COMPOSE = (2, 24)
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")
# What GPU detection asks too (host.gpu): an answer proves the daemon runs.
_DAEMON_ARGS = ("info", "--format", "{{json .Runtimes}}")


class DockerState(StrEnum):
    READY = "ready"
    NO_DOCKER = "no docker"
    NO_COMPOSE = "no compose"
    OLD_COMPOSE = "old compose"
    DAEMON_DOWN = "daemon down"


@dataclass(frozen=True)
class DockerStatus:
    state: DockerState
    message: str  # one sentence: what was found, and what to do about it


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


def docker_status(timeout: float = PROBE_TIMEOUT_S) -> DockerStatus:
    """Whether `docker compose up -d` can run here: the CLI, its compose plugin (2.24 or newer),
    and a daemon that answers. Never raises; a probe that hangs counts as no answer."""
    docker = shutil.which("docker")
    if docker is None:
        return DockerStatus(
            DockerState.NO_DOCKER,
            "there is no `docker` on PATH: install Docker here, or run `docker compose up -d` "
            "where it is installed",
        )
    version = _probe([docker, "compose", "version"], timeout)
    match = _VERSION.search(version.stdout) if version.returncode == 0 else None
    if match is None:
        return DockerStatus(
            DockerState.NO_COMPOSE,
            f"`docker compose version` {_failure(version, timeout)}: install the compose plugin "
            f"({MIN_COMPOSE[0]}.{MIN_COMPOSE[1]} or newer)",
        )
    found = match.group(0).lstrip("v")
    if (int(match.group(1)), int(match.group(2))) < MIN_COMPOSE:
        return DockerStatus(
            DockerState.OLD_COMPOSE,
            f"docker compose {found} is older than {MIN_COMPOSE[0]}.{MIN_COMPOSE[1]}, which "
            "the wizard's override needs (`!override`, `!reset`): upgrade the compose plugin",
        )
    daemon = _probe([docker, *_DAEMON_ARGS], timeout)
    if daemon.returncode != 0:
        return DockerStatus(
            DockerState.DAEMON_DOWN,
            f"docker compose {found}, but the Docker daemon {_failure(daemon, timeout)}: start "
            "it before `docker compose up -d`",
        )
    return DockerStatus(DockerState.READY, f"docker compose {found}, and the daemon answers")


def _probe(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, -1, "", "")
    except OSError as exc:
        return subprocess.CompletedProcess(argv, -2, "", exc.strerror or str(exc))


def _failure(done: subprocess.CompletedProcess[str], timeout: float) -> str:
    if done.returncode == -1:
        return f"did not answer in {timeout:g} s"
    lines = (done.stderr or done.stdout).strip().splitlines()
    return f"exits {done.returncode}" + (f" ({lines[0]})" if lines else "")


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
