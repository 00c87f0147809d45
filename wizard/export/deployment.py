"""The deployment as compose runs it, read once from a configured project directory.

This is the one place the export learns about the deployment: `.env`, the compose files that
`COMPOSE_FILE` lists (the stack's own, the bundled PostgreSQL file, the wizard's override) merged
and interpolated as compose does, and the override's `x-wizard` answers. When setup's Plan exists
this function is the one to swap for it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.config.envkeys import SECRET_ENV_KEYS
from wizard.config.model import DocumentDir
from wizard.errors import InputError
from wizard.files.project import ENV_NAME, load_project
from wizard.plan.render import compose_paths
from wizard.stack.compose import (
    OVERRIDE_NAME,
    ComposeError,
    interpolate,
    load_services,
    merge_services,
)
from wizard.stack.contract import split_compose_file, volume_target
from wizard.stack.profile import profile

VERSION_NAME = "VERSION"


@dataclass(frozen=True)
class Volume:
    """One entry of a service's `volumes`: kind is "volume", "bind" or "tmpfs"."""

    kind: str
    source: str
    target: str
    read_only: bool


@dataclass(frozen=True)
class Service:
    """One compose service as the merged files define it. `environment` is interpolated (what
    the container gets); `command` and `healthcheck` are kept as written, so a reference to a
    secret can be read from the environment rather than pasted."""

    name: str
    image: str
    build: Mapping[str, Any] | None
    command: tuple[str, ...] | None
    environment: Mapping[str, str] = field(repr=False)
    user: str | None
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    no_new_privileges: bool
    healthcheck: Mapping[str, Any] | None
    limits: Mapping[str, str]  # "cpus", "memory" as compose writes them
    reservations: Mapping[str, str]
    volumes: tuple[Volume, ...]
    ports: tuple[int, ...]  # container ports it publishes
    shm_size: str | None = None  # compose's size of /dev/shm


@dataclass(frozen=True)
class Deployment:
    root: Path
    env: Mapping[str, str] = field(repr=False)  # .env as written
    services: Mapping[str, Service]  # those compose starts (no inactive profile)
    postgres_image: str | None  # the stack's database image, started or not
    secret_keys: frozenset[str]  # the .env keys whose values are secrets
    use_gpu: bool
    gpu_ids: tuple[str, ...]
    documents: tuple[DocumentDir, ...]
    documents_root: str | None
    external_database: bool
    ca_certificate: str | None  # the external server's CA certificate (PEM text)
    version: str | None  # the stack's VERSION file

    @property
    def secrets(self) -> dict[str, str]:
        """Every non-empty secret of .env, by key."""
        return {key: self.env[key] for key in sorted(self.secret_keys) if self.env.get(key)}

    def interpolate(self, text: str) -> str:
        """`text` as compose reads it with this .env. Raises InputError naming a missing one."""
        try:
            return interpolate(text, self.env)
        except ComposeError as exc:
            raise InputError([str(exc)]) from None


def load_deployment(project_dir: Path) -> Deployment:
    """Read a directory `wizard setup` configured. InputError (exit 2) when it has no .env, a
    compose file cannot be read, or a variable the files require is missing."""
    env_path = project_dir / ENV_NAME
    if project_dir.is_dir() and not env_path.is_file():
        raise InputError(
            [f"--project-dir: {project_dir} has no {ENV_NAME}; run `wizard setup` there first"]
        )
    project = load_project(project_dir)
    env = dict(project.env)
    names = split_compose_file(env.get("COMPOSE_FILE", ""))
    if not names:
        names = [*([project.base_file.name] if project.base_file else []), OVERRIDE_NAME]
    merged: dict[str, dict[str, Any]] = {}
    try:
        for path in compose_paths(project, names):
            # environment and volumes as mappings: merged by key, as compose merges them.
            later = {name: _normalised(body) for name, body in load_services(path).items()}
            merged = merge_services(merged, later)
    except ComposeError as exc:
        raise InputError([str(exc)]) from None

    def expand(text: str) -> str:
        try:
            return interpolate(text, env)
        except ComposeError as exc:
            raise InputError([str(exc)]) from None

    services = {
        name: _service(name, body, expand)
        for name, body in sorted(merged.items())
        if not body.get("profiles")
    }
    postgres = merged.get(profile().postgres_service, {})
    ca_path = env.get("POSTGRES_SSLROOTCERT", "")
    return Deployment(
        root=project_dir,
        env=env,
        services=services,
        postgres_image=expand(str(postgres["image"])) if postgres.get("image") else None,
        secret_keys=SECRET_ENV_KEYS,
        use_gpu=env.get("USE_GPU", "").lower() == "true",
        gpu_ids=project.gpu_ids,
        documents=project.documents,
        documents_root=project.stack.documents_root,
        external_database=env.get("POSTGRES_MODE") == "external",
        ca_certificate=_read_ca(project_dir, ca_path) if ca_path else None,
        version=_read_version(project_dir),
    )


def _read_ca(root: Path, path: str) -> str:
    try:
        return (root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            [f"POSTGRES_SSLROOTCERT: cannot read {path} ({exc}); fix it with `wizard setup`"]
        ) from None


def _read_version(root: Path) -> str | None:
    try:
        return (root / VERSION_NAME).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _normalised(body: Mapping[str, Any]) -> dict[str, Any]:
    """A service with `environment` as a mapping and `volumes` keyed by target, as compose merges
    them across files."""
    result = dict(body)
    environment = body.get("environment")
    if isinstance(environment, list):
        pairs = (str(item).partition("=") for item in environment)
        result["environment"] = {key: (value if sep else None) for key, sep, value in pairs}
    volumes = body.get("volumes")
    if isinstance(volumes, list):
        result["volumes"] = {volume_target(item): item for item in volumes}
    return result


def _volume(entry: Any, expand: Any) -> Volume:
    if isinstance(entry, Mapping):
        kind = str(entry.get("type", "volume"))
        source = expand(str(entry.get("source", "")))
        return Volume(kind, source, str(entry.get("target")), bool(entry.get("read_only")))
    # The short syntax: interpolated first (`${HF_CACHE_DIR:-./models}:/app/...`).
    parts = expand(str(entry)).split(":")
    if len(parts) == 1:
        return Volume("volume", "", parts[0], False)
    source, target = parts[0], parts[1]
    read_only = len(parts) > 2 and "ro" in parts[2].split(",")
    kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    return Volume(kind, source, target, read_only)


def _service(name: str, body: Mapping[str, Any], expand: Any) -> Service:
    deploy = body.get("deploy") or {}
    resources = deploy.get("resources") or {}
    environment = {
        key: expand(str(value)) for key, value in (body.get("environment") or {}).items()
        if value is not None
    }  # fmt: skip
    command = body.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    user = body.get("user")
    return Service(
        name=name,
        image=expand(str(body.get("image") or "")),
        build=body.get("build") if isinstance(body.get("build"), dict) else None,
        command=tuple(str(part) for part in command) if command else None,
        environment=environment,
        user=expand(str(user)) if user is not None else None,
        cap_add=tuple(str(cap) for cap in body.get("cap_add") or []),
        cap_drop=tuple(str(cap) for cap in body.get("cap_drop") or []),
        no_new_privileges=any(
            str(option).replace("=", ":") in ("no-new-privileges:true", "no-new-privileges")
            for option in body.get("security_opt") or []
        ),
        healthcheck=body.get("healthcheck") or None,
        limits=_amounts(resources.get("limits"), expand),
        reservations=_amounts(resources.get("reservations"), expand),
        volumes=tuple(_volume(entry, expand) for entry in (body.get("volumes") or {}).values()),
        ports=_container_ports(body.get("ports") or [], expand),
        shm_size=expand(str(body["shm_size"])) if body.get("shm_size") else None,
    )


def _amounts(section: Any, expand: Any) -> dict[str, str]:
    if not isinstance(section, Mapping):
        return {}
    return {key: expand(str(section[key])) for key in ("cpus", "memory") if key in section}


def _container_ports(entries: list[Any], expand: Any) -> tuple[int, ...]:
    found: list[int] = []
    for entry in entries:
        if isinstance(entry, Mapping):
            text = str(entry.get("target", ""))
        else:
            text = expand(str(entry)).rsplit(":", 1)[-1]
        number = text.split("/")[0].split("-")[0]
        if number.isdigit() and int(number) not in found:
            found.append(int(number))
    return tuple(found)
