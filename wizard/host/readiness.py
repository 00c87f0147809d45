"""The web UI's readiness endpoint, asked from the host until it says ready or time runs out.

The stack answers `GET /api/health/readyz` with `{"ready": bool, "services": {name: {"status":
..., "message": ...}}}`: 200 when ready, 503 while a dependency is down. A fresh web UI reports
`embedding` unhealthy while ready (it loads no model itself): only `ready` decides.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUEST_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    # dependency -> its status ("healthy", "degraded", "unhealthy"), as the web UI reports them
    services: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # why there is no answer (refused, timed out, not JSON)

    def describe(self) -> str:
        if self.problem:
            return self.problem
        listed = ", ".join(f"{name} {status}" for name, status in self.services.items())
        return ("ready" if self.ready else "not ready") + (f": {listed}" if listed else "")

    def down(self) -> list[str]:
        return [name for name, status in self.services.items() if status == "unhealthy"]


def ask(url: str) -> Readiness:
    """One request, bounded by REQUEST_TIMEOUT_S."""
    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if exc.code != 503:
            return Readiness(False, problem=f"{url} answered HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Readiness(False, problem=f"{url} does not answer ({reason})")
    try:
        data: Any = json.loads(body)
    except ValueError:
        return Readiness(False, problem=f"{url} answered something other than JSON")
    if not isinstance(data, dict):
        return Readiness(False, problem=f"{url} answered JSON without `ready`")
    services = data.get("services") if isinstance(data.get("services"), dict) else {}
    return Readiness(
        data.get("ready") is True,
        {
            str(name): str(info.get("status", "?")) if isinstance(info, dict) else "?"
            for name, info in (services or {}).items()
        },
    )


def wait_ready(
    url: str, remaining: Callable[[], float], sleep: Callable[[float], None] = time.sleep
) -> Readiness:
    """Ask until ready or until `remaining()` reaches 0; the last answer."""
    while True:
        answer = ask(url)
        if answer.ready or remaining() <= 0:
            return answer
        sleep(min(POLL_INTERVAL_S, max(remaining(), 0.0)))
