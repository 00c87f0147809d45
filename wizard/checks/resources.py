"""`wizard check`'s "host resources" rows: the host's memory against the memory the services
reserve and may use (the compose files' `deploy.resources`), and the free disk where the model
cache and Docker's data live."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from wizard.config.embedding import cache_path, model_size, model_snapshot
from wizard.config.model import PostgresMode
from wizard.host.capacity import (
    DOCKER_DATA,
    free_space,
    gigabytes,
    host_memory,
    memory_asked,
    writable_by,
)
from wizard.host.documents import container_user
from wizard.plan.model import Plan
from wizard.result import CheckRow, Status

ROW = "host resources"
# Its own row: below the reservations it is a warning here and a failure in `wizard up`'s
# preflight (Docker would not start every service).
MEMORY_ROW = "host memory"
# Docker's images and volumes of the stack take several GB; below this a pull or an index fails.
MIN_DOCKER_FREE = 10 << 30


def resources_rows(plan: Plan) -> list[CheckRow]:
    return [memory_row(plan), *disk_rows(plan)]


def memory_row(plan: Plan) -> CheckRow:
    stack = plan.project.stack
    external = plan.config.database.mode is PostgresMode.EXTERNAL
    # A service in a compose profile (the stack's postgres_test; the base's PostgreSQL with an
    # external server) does not start with a plain `up`.
    names = [
        name
        for name, body in stack.services.items()
        if not (isinstance(body, dict) and body.get("profiles"))
        and not (external and name == stack.profile.postgres_service)
    ]
    asked = memory_asked(stack.services, names)
    total = host_memory()
    if total is None:
        return CheckRow(MEMORY_ROW, Status.SKIP, "memory not checked: /proc/meminfo cannot be read")
    limits = f"their limits add up to {gigabytes(asked.limited)}"
    if asked.unlimited:
        limits += f" (no limit: {', '.join(asked.unlimited)})"
    if asked.reserved > total:
        return CheckRow(
            MEMORY_ROW,
            Status.WARN,
            f"memory: this host has {gigabytes(total)}, less than the {gigabytes(asked.reserved)} "
            f"the services reserve (deploy.resources.reservations); {limits}. Docker will not "
            "start them all: add memory, or run the stack on a larger host",
        )
    return CheckRow(
        MEMORY_ROW,
        Status.OK,
        f"memory: {gigabytes(total)}; the services reserve {gigabytes(asked.reserved)}, {limits}",
    )


def _cache_writable(cache: Path, env: Mapping[str, str]) -> list[CheckRow]:
    """The services download models into the cache as the containers' UID:GID."""
    uid, gid = container_user(env)
    if writable_by(cache, uid, gid) is not False:
        return []  # writable, or not there yet (setup creates it)
    return [
        CheckRow(
            ROW,
            Status.WARN,
            f"model cache {cache}: the stack's containers run as {uid}:{gid} and cannot write "
            f"there, so no model can be downloaded; run sudo chown -R {uid}:{gid} "
            f"{shlex.quote(str(cache))}",
        )
    ]


def disk_rows(plan: Plan) -> list[CheckRow]:
    values = plan.config.values
    cache = cache_path(str(values.get("model_cache") or "./models"), plan.project.root)
    model = str(values.get("embedding_model") or "")
    rows = []
    free = free_space(cache)
    needed = None if model_snapshot(cache, model) else model_size(model)
    if free is not None:
        if needed is not None and free < needed:
            rows.append(CheckRow(
                ROW,
                Status.WARN,
                f"model cache {cache}: {gigabytes(free)} free, and {model} needs about "
                f"{gigabytes(needed)}; free space there or choose another --model-cache",
            ))  # fmt: skip
        else:
            rows.append(CheckRow(ROW, Status.OK, f"model cache {cache}: {gigabytes(free)} free"))
    rows += _cache_writable(cache, {**plan.project.env, **os.environ})
    docker_free = free_space(DOCKER_DATA)
    if docker_free is not None:
        status = Status.WARN if docker_free < MIN_DOCKER_FREE else Status.OK
        advice = (
            f"; the stack's images and volumes need more than {gigabytes(MIN_DOCKER_FREE)}"
            if status is Status.WARN
            else ""
        )
        rows.append(
            CheckRow(
                ROW, status, f"Docker data ({DOCKER_DATA}): {gigabytes(docker_free)} free{advice}"
            )
        )
    return rows
