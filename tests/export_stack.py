"""A project directory of the stack configured by `wizard setup`, for the export tests.

`tests/stack/docker-compose.yml` stands in for the stack's compose file; what the export reads
beyond it comes from the stack's own docker-compose.yml (jbmiller10/semantik, VERSION 0.8.2):
the app services are built (`build:`, no image), every service has its `deploy.resources`,
security options and healthcheck, and the app shares `./logs` and the `semantik_plugins`
volume. Those facts are layered onto a copy of the stand-in here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from helpers import REPO, run_wizard

STACK = REPO / "tests" / "stack" / "docker-compose.yml"
STACK_VERSION = "0.8.2"

_BUILD = {"context": ".", "dockerfile": "Dockerfile", "target": "runtime"}
_LOCKED = {"security_opt": ["no-new-privileges:true"], "cap_drop": ["ALL"]}
_APP = {**_LOCKED, "cap_add": ["NET_BIND_SERVICE"], "build": _BUILD}


def _resources(cpus: str | None, limit: str | None, reserved: str | None) -> dict[str, Any]:
    limits = {key: value for key, value in (("cpus", cpus), ("memory", limit)) if value}
    resources: dict[str, Any] = {"limits": limits} if limits else {}
    if reserved:
        resources["reservations"] = {"memory": reserved}
    return resources


def _check(test: list[str], start: str) -> dict[str, Any]:
    return {"test": test, "interval": "30s", "timeout": "10s", "retries": 3, "start_period": start}


STACK_FACTS: dict[str, dict[str, Any]] = {
    "qdrant": {
        **_LOCKED,
        "cap_add": ["NET_BIND_SERVICE"],
        "deploy": {"resources": _resources("2", "4G", "2G")},
        "healthcheck": _check(["CMD", "curl", "-f", "http://localhost:6333/health"], "40s"),
    },
    "postgres": {
        **_LOCKED,
        "cap_add": ["CHOWN", "DAC_READ_SEARCH", "FOWNER", "SETGID", "SETUID"],
        "shm_size": "256mb",
        "deploy": {"resources": _resources("2", "2G", "1G")},
        "healthcheck": _check(
            ["CMD-SHELL", "pg_isready -U ${POSTGRES_USER:-semantik} -d ${POSTGRES_DB:-semantik}"],
            "40s",
        ),
    },
    "redis": {
        "security_opt": ["no-new-privileges:true"],
        "deploy": {"resources": _resources("0.5", "512M", "256M")},
        "healthcheck": _check(["CMD", "redis-cli", "-a", "${REDIS_PASSWORD}", "ping"], "30s"),
    },
    "vecpipe": {
        **_APP,
        "volumes": ["./logs:/app/logs", "semantik_plugins:/app/plugins"],
        "healthcheck": _check(
            [
                "CMD",
                "python",
                "-c",
                "import requests; requests.get('http://localhost:8000/health')",
            ],
            "60s",
        ),
    },
    "webui": {
        **_APP,
        "volumes": [
            "./logs:/app/logs",
            "./packages:/app/packages",
            "semantik_plugins:/app/plugins",
        ],
        "deploy": {"resources": _resources("1", "2G", "1G")},
        "healthcheck": _check(
            ["CMD", "curl", "-f", "http://localhost:8080/api/health/readyz"], "60s"
        ),
    },
    "worker": {
        **_APP,
        "volumes": ["./logs:/app/logs", "semantik_plugins:/app/plugins"],
        "healthcheck": _check(
            [
                "CMD",
                "celery",
                "-A",
                "webui.celery_app",
                "inspect",
                "ping",
                "-d",
                "celery@$$HOSTNAME",
            ],
            "60s",
        ),
    },
    "beat": {
        **_APP,
        "volumes": ["./data:/app/data", "./logs:/app/logs"],
        "deploy": {"resources": _resources("0.5", "1G", "512M")},
        "healthcheck": _check(
            [
                "CMD",
                "bash",
                "-lc",
                'test -f /tmp/celerybeat.pid && kill -0 "$(cat /tmp/celerybeat.pid)"',
            ],
            "30s",
        ),
    },
}


def _layer(service: dict[str, Any], facts: dict[str, Any]) -> None:
    for key, value in facts.items():
        if isinstance(value, list) and isinstance(service.get(key), list):
            service[key] = [*service[key], *value]
        else:
            service[key] = value
    if "build" in facts:
        service.pop("image", None)


def stack_project(root: Path) -> Path:
    """A directory holding the stand-in with the stack's facts layered on, a VERSION file and
    two document directories (`docs`, `more`). Not yet configured."""
    root.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(STACK.read_text(encoding="utf-8"))
    for name, facts in STACK_FACTS.items():
        _layer(data["services"][name], facts)
    data["volumes"]["semantik_plugins"] = None
    (root / "docker-compose.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    (root / "VERSION").write_text(STACK_VERSION + "\n")
    for name in ("docs", "more"):
        (root / name).mkdir(exist_ok=True)
    return root


def configure(project: Path, *args: str) -> None:
    run = run_wizard(
        ["setup", "--non-interactive", "--skip-db-check", "--skip-port-check", *args],
        cwd=project,
    )
    assert run.returncode == 0, run.stderr
