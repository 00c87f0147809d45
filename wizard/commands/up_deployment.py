"""What `wizard up` needs to know about a deployment, read once from its project directory, and
the checks that must pass before anything starts.

Read from the files `setup` wrote (.env, the compose files, templates/stack.yaml), never from
the answers: `up` runs what is on disk, as a plain `docker compose up -d` would.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard.config.envkeys import SECRET_ENV_KEYS
from wizard.config.model import host_address
from wizard.errors import InputError
from wizard.files.project import Project, load_project
from wizard.stack import resources
from wizard.stack.compose import ComposeError, interpolate
from wizard.stack.contract import volume_target
from wizard.stack.profile import Role, profile

if TYPE_CHECKING:
    from wizard.host.compose_runner import ComposeRunner

# Keys a person may add to .env that hold secrets too (INTERNAL_API_KEY, FLOWER_PASSWORD, ...):
# masked in every log line `up` shows.
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN")
# Rows of `wizard check` about the database: before the first start a bundled server is not
# running yet, so they cannot fail the preflight.
_DATABASE_ROWS = ("database", "database (bundled)", "schema", "administrator")


@dataclass(frozen=True)
class Deployment:
    root: Path
    env: Mapping[str, str] = field(repr=False)
    services: tuple[str, ...]  # every service compose starts
    built: Mapping[str, str]  # service with `build:` -> the image compose tags it as
    dependencies: tuple[str, ...]  # started and healthy before the migrations
    data_dirs: tuple[Path, ...]  # writable bind sources: created for the containers' user
    source_dirs: tuple[Path, ...]  # binds of the stack's source: must exist
    web_service: str
    web_url: str | None  # the readiness endpoint on the published port
    bundled: bool
    gpu: bool
    owner: tuple[int, int]  # UID:GID the services run as
    secrets: tuple[str, ...] = field(repr=False)

    @property
    def open_url(self) -> str | None:
        return self.web_url.split("/api/", 1)[0] + "/" if self.web_url else None


def read_deployment(project_dir: Path) -> Deployment:
    """The deployment in `project_dir` (InputError, exit 2, before `wizard setup` ran there)."""
    from wizard.host.documents import container_user

    root = project_dir.resolve()
    project = load_project(root)
    if not project.configured or project.base_file is None:
        raise InputError(
            [f"--project-dir: {root} has no .env and compose file of the stack; run "
             "`wizard setup` there first (in the stack's checkout)"]
        )  # fmt: skip
    env = project.env
    compose_env = {**env, **os.environ}  # compose: the shell's environment wins over .env
    stack = profile()
    bundled = env.get("POSTGRES_MODE", "bundled") != "external"
    base = project.stack.services
    services = [name for name, body in base.items() if not _profiled(body)]
    if bundled and stack.postgres_service not in services:
        services.append(stack.postgres_service)  # from docker-compose.postgres.yml
    if not bundled:
        services = [name for name in services if name != stack.postgres_service]
    name = project_name(root, compose_env)
    built = {
        service: _image(base[service], service, name, compose_env)
        for service in services
        if service in base and isinstance(base[service], dict) and base[service].get("build")
    }
    data_dirs, source_dirs = _bind_sources(root, base, services, compose_env)
    web = resources.stack_profile().get("web") or {}
    web_service = str(web.get("service") or "webui")
    return Deployment(
        root=root,
        env=env,
        services=tuple(services),
        built=built,
        dependencies=tuple(d for d in stack.role(Role.DEPENDENCIES) if d in services),
        data_dirs=data_dirs,
        source_dirs=source_dirs,
        web_service=web_service,
        web_url=_readiness_url(project, web_service, web),
        bundled=bundled,
        gpu=env.get("USE_GPU", "").lower() == "true",
        owner=container_user(compose_env),
        secrets=tuple(
            value for key, value in env.items()
            if value and (key in SECRET_ENV_KEYS or _SECRET_NAME.search(key))
        ),
    )  # fmt: skip


def _profiled(body: Any) -> bool:
    return isinstance(body, dict) and bool(body.get("profiles"))


def project_name(root: Path, env: Mapping[str, str]) -> str:
    """Compose's project name: COMPOSE_PROJECT_NAME, else the directory's name, lower case,
    with only letters, digits, `-` and `_` (the prefix of the images it builds)."""
    raw = env.get("COMPOSE_PROJECT_NAME") or root.name
    return re.sub(r"[^a-z0-9_-]", "", raw.lower()).lstrip("_-")


def _image(body: Mapping[str, Any], service: str, project: str, env: Mapping[str, str]) -> str:
    image = body.get("image")
    if isinstance(image, str) and image:
        try:
            return interpolate(image, env)
        except ComposeError:
            return image
    return f"{project}-{service}"


def _bind_sources(
    root: Path, base: Mapping[str, Any], services: list[str], env: Mapping[str, str]
) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(writable host directories, the stack's source directories) the services bind."""
    source_names = {
        os.path.normpath(str(name)) for name in resources.stack_profile().get("source_binds") or ()
    }
    data: dict[Path, None] = {}
    sources: dict[Path, None] = {}
    for service in services:
        body = base.get(service)
        for entry in body.get("volumes") or [] if isinstance(body, dict) else []:
            bind = _bind(entry, env)
            if bind is None:
                continue
            source, read_only = bind
            path = (root / os.path.expanduser(source)).resolve()
            if os.path.normpath(source) in source_names:
                sources[path] = None
            elif not read_only:
                data[path] = None
    return tuple(data), tuple(sources)


def _bind(entry: Any, env: Mapping[str, str]) -> tuple[str, bool] | None:
    """(host source, read-only) of a bind mount; None for a named volume or tmpfs."""
    if isinstance(entry, dict):
        if entry.get("type") != "bind" or not isinstance(entry.get("source"), str):
            return None
        text, read_only = entry["source"], bool(entry.get("read_only"))
    elif isinstance(entry, str):
        target = volume_target(entry)
        at = entry.find(f":{target}") if target else -1
        if at <= 0:
            return None  # `TARGET` alone: an anonymous volume
        text, mode = entry[:at], entry[at + 1 + len(str(target)) :]
        read_only = "ro" in mode.lstrip(":").split(",")
    else:
        return None
    try:
        source = interpolate(text, env)
    except ComposeError:
        return None
    return (source, read_only) if source.startswith((".", "/", "~")) else None


def _readiness_url(project: Project, service: str, web: Mapping[str, Any]) -> str | None:
    from wizard.plan.ports import current_ports

    target = int(web.get("target") or 8080)
    path = str(web.get("readiness") or "/api/health/readyz")
    for port in current_ports(project):
        if port.service == service and port.target == target and port.protocol == "tcp":
            host = host_address(port.host_ip)
            host = f"[{host}]" if ":" in host else host
            return f"http://{host}:{port.port}{path}"
    return None


def preflight_problems(
    deployment: Deployment, db_timeout: int
) -> tuple[list[str], ComposeRunner | None]:
    """What stands in the way of a start, one sentence each, and the compose runner (None when
    there is no usable `docker compose`)."""
    from wizard.checks.resources import MEMORY_ROW
    from wizard.commands.check import run_checks
    from wizard.host.compose_runner import ComposeRunner, ComposeUnavailable
    from wizard.result import Status

    try:
        runner = ComposeRunner.find(deployment.root, deployment.secrets)
    except ComposeUnavailable as exc:
        return [str(exc)], None
    problems = []
    info = runner.call(["info", "--format", "{{json .Runtimes}}"], timeout=15.0)
    if not info.ok:
        problems.append(
            f"the Docker daemon does not answer (`docker info`: {info.last_line or 'no answer'})"
            "; start it, or add your user to the docker group"
        )
    elif deployment.gpu:
        from wizard.host.gpu import detect_gpus

        gpus = detect_gpus()
        if gpus.problem or not gpus.available:
            problems.append(f"GPU deployment: {gpus.problem or 'no NVIDIA GPU found'}")
    report = run_checks(deployment.root, db_timeout=db_timeout)
    for row in report.results:
        # Less memory than the services reserve is a warning for `check`, a failure here:
        # Docker would not start them all.
        short = row.name == MEMORY_ROW and row.status is Status.WARN
        failed = row.status is Status.FAIL and not (
            deployment.bundled and row.name in _DATABASE_ROWS
        )
        if failed or short:
            problems.append(f"{row.name}: {row.detail}")
    return problems, runner
