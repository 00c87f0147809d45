"""The one place `wizard up` and `wizard down` run the Docker CLI: `docker compose ...` in the
project directory, every call bounded, its output masked.

Compose runs with the project directory as its working directory: it resolves `.env` and the
`COMPOSE_FILE` listed there against it. No secret is ever passed to it, in an argument or in the
environment: compose reads `.env` itself. Whatever it prints can quote a secret (a failing
command line, an interpolated URL), so every line that comes back passes through `mask` first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wizard.signals import interrupts_blocked

# compose >= 2.24 reads the `!override` and `!reset` tags of the wizard's override.
MIN_COMPOSE = (2, 24, 0)
PROBE_TIMEOUT_S = 15.0
# After a Ctrl-C, how long compose gets to stop what it was doing before it is killed.
STOP_GRACE_S = 5.0
KEPT_LINES = 200
MASK = "********"


@dataclass(frozen=True)
class Completed:
    """A finished call: its exit code (None when it ran past its time and was killed) and the
    last lines it printed (stdout and stderr together), masked."""

    code: int | None
    lines: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def last_line(self) -> str:
        return next((line for line in reversed(self.lines) if line.strip()), "")


@dataclass(frozen=True)
class Container:
    """One line of `docker compose ps --format json`."""

    service: str
    name: str
    state: str  # running, exited, created, ...
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck

    @property
    def up(self) -> bool:
        return self.state == "running" and self.health in ("", "healthy")

    def describe(self) -> str:
        return f"{self.state} ({self.health})" if self.health else self.state


class ComposeUnavailable(Exception):
    """No usable `docker compose` here; the message says why and what to do."""


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and its percent-encoded form, as in DATABASE_URL) replaced."""
    for secret in secrets:
        for form in {secret, quote(secret, safe="")}:
            if len(form) >= 4:
                text = text.replace(form, MASK)
    return text


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`2.40.3`, `v2.40.3` or `2.40.3-desktop.1` as (2, 40, 3)."""
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if found is None:
        return None
    return int(found[1]), int(found[2]), int(found[3] or 0)


class ComposeRunner:
    """`docker compose` of this host, run in `project_dir`; `secrets` are masked in its output."""

    def __init__(self, docker: str, project_dir: Path, secrets: Sequence[str]) -> None:
        self.docker = docker
        self.project_dir = project_dir
        self._secrets = tuple(secret for secret in secrets if secret)

    @classmethod
    def find(cls, project_dir: Path, secrets: Sequence[str]) -> ComposeRunner:
        """The runner, once `docker compose version` says 2.24 or newer (ComposeUnavailable)."""
        docker = shutil.which("docker")
        if docker is None:
            raise ComposeUnavailable("there is no `docker` on PATH: install Docker Engine")
        runner = cls(docker, project_dir, secrets)
        done = runner.call(["compose", "version", "--short"], timeout=PROBE_TIMEOUT_S)
        version = parse_version(done.last_line) if done.ok else None
        if done.code is None:
            raise ComposeUnavailable(
                f"`docker compose version` did not answer in {PROBE_TIMEOUT_S:g} s"
            )
        if version is None:
            raise ComposeUnavailable(
                "`docker compose version` failed: install the Docker Compose plugin (2.24 or "
                f"newer); it said: {done.last_line or 'nothing'}"
            )
        if version < MIN_COMPOSE:
            have = ".".join(map(str, version))
            raise ComposeUnavailable(
                f"docker compose {have} is too old: the wizard's override uses `!override` and "
                "`!reset`, which compose reads from 2.24 on; update the Docker Compose plugin"
            )
        return runner

    def mask(self, text: str) -> str:
        return mask(text, self._secrets)

    def compose(
        self, args: Sequence[str], *, timeout: float, echo: Callable[[str], None] | None = None
    ) -> Completed:
        return self.call(["compose", *args], timeout=timeout, echo=echo)

    def call(
        self, args: Sequence[str], *, timeout: float, echo: Callable[[str], None] | None = None
    ) -> Completed:
        """`docker ARGS` in the project directory, killed after `timeout` seconds; each line it
        prints goes, masked, to `echo` as it comes. Ctrl-C stops it (SIGTERM, then SIGKILL
        after STOP_GRACE_S) and is raised again."""
        process = subprocess.Popen(
            [self.docker, *args],
            cwd=self.project_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=os.environ.copy(),
        )
        lines: deque[str] = deque(maxlen=KEPT_LINES)

        def read() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                line = self.mask(raw.rstrip("\n"))
                lines.append(line)
                if echo is not None:
                    echo(line)

        reader = threading.Thread(target=read, daemon=True)
        try:
            with interrupts_blocked():
                reader.start()
            code: int | None = process.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            _stop(process)
            code = None
        except KeyboardInterrupt:
            _stop(process)
            raise
        reader.join(timeout=STOP_GRACE_S)
        return Completed(code, tuple(lines))

    def containers(self, timeout: float = PROBE_TIMEOUT_S) -> list[Container]:
        """`docker compose ps --all --format json`: one JSON object a line (compose >= 2.21)."""
        done = self.compose(["ps", "--all", "--format", "json"], timeout=timeout)
        found = []
        for line in done.lines if done.ok else ():
            try:
                item: Any = json.loads(line)
            except ValueError:
                continue
            for entry in item if isinstance(item, list) else [item]:
                if isinstance(entry, dict):
                    found.append(
                        Container(
                            service=str(entry.get("Service", "")),
                            name=str(entry.get("Name", "")),
                            state=str(entry.get("State", "")),
                            health=str(entry.get("Health", "")),
                        )
                    )
        return found

    def image_exists(self, image: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
        done = self.call(["image", "inspect", "--format", "{{.Id}}", image], timeout=timeout)
        return done.ok

    def log_tail(self, service: str, lines: int = 30) -> list[str]:
        done = self.compose(
            ["logs", "--no-color", "--tail", str(lines), service], timeout=PROBE_TIMEOUT_S
        )
        return list(done.lines)[-lines:]


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
