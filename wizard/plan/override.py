"""The wizard's override: what the answers change in the stack's own services. Pure: no I/O.

Every published port of the base is bound to the chosen address (`ports: !override`); the
documents are bound read-only where the services read them; GPUs are reserved exactly as chosen
(`!override`, or `!reset` for none); with an external server the base's PostgreSQL is kept from
starting and nothing waits for it; TLS and settings reach the services in the form they accept.
Written with `yaml.safe_dump` (never string pasting), every literal `$` as `$$`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wizard.config.envkeys import OWNED
from wizard.config.model import CA_TARGET, Config, Deployment, PostgresMode
from wizard.files.project import Project, escape
from wizard.stack.compose import RESET, dump_yaml, override
from wizard.stack.contract import Stack, binds_target, depends_on, user_of
from wizard.stack.ports import split_top_level
from wizard.stack.profile import Role, ValueForm

# How often compose probes a dependency's health while it starts (compose >= 2.20.2).
START_INTERVAL = "2s"

# The compose profile that keeps the base's own PostgreSQL from starting with an external server.
BUNDLED_POSTGRES_PROFILE = "bundled-postgres"

OVERRIDE_HEADER = """\
# Written by the setup wizard: re-run `make wizard` (or `wizard setup`) to change it; edits made
# here are replaced on the next run. The x-wizard block records the answers compose has no key
# for (compose ignores x- keys). Every literal $ is written as $$, which compose reads as $.
"""


class _Services:
    """The override's `services:` as it is built, one service's entry at a time."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str) -> dict[str, Any]:
        return self.entries.setdefault(name, {})

    def environment(self, name: str) -> dict[str, str]:
        env: dict[str, str] = self(name).setdefault("environment", {})
        return env


def render_override(project: Project, config: Config, values: Mapping[str, str]) -> str:
    """The override's text for `config`; `values` are the .env values it hands on."""
    services = _Services()
    for name, entries in rebound_ports(project, config).items():
        services(name)["ports"] = override(entries)
    _documents(project.stack, config, services)
    _database(project.stack, config, services)
    _gpus(project.stack, config, services)
    for name in project.stack.present(Role.DEPENDENCIES):
        if isinstance(project.stack.services[name].get("healthcheck"), dict):
            # `wizard up` waits for these: probed every START_INTERVAL while they start (the
            # base's 30 s interval would make each wait half a minute), as usual once healthy.
            services(name)["healthcheck"] = {"start_interval": START_INTERVAL}
    _settings(project.stack, values, services)
    block: dict[str, Any] = {
        "documents": [
            {"source": escape(str(doc.source)), "target": doc.target} for doc in config.documents
        ],
    }
    if config.gpu_ids:
        block["gpu_ids"] = list(config.gpu_ids)
    built = services.entries
    data = {"x-wizard": block, "services": {name: built[name] for name in sorted(built)}}
    return OVERRIDE_HEADER + dump_yaml(data)


def _settings(stack: Stack, values: Mapping[str, str], services: _Services) -> None:
    """Each setting to the services the profile says read it, in their form. As-is by
    reference (`${KEY}`: a secret stays in .env only); a key .env leaves empty goes nowhere."""
    for key in OWNED:
        value = values.get(key.name, "")
        if not value:
            continue
        for name, form in key.forms.items():
            if name in stack.services:
                as_is = form is ValueForm.AS_IS
                written = f"${{{key.name}}}" if as_is else escape(form.apply(value))
                services.environment(name)[key.name] = written


def _documents(stack: Stack, config: Config, services: _Services) -> None:
    """The document directories, read-only, in every service that reads them."""
    root = stack.documents_root
    for name in stack.present(Role.DOCUMENTS):
        volumes: list[dict[str, Any]] = [
            _bind(str(doc.source), doc.target) for doc in config.documents
        ]
        body = stack.services[name]
        if root and binds_target(body, root) and root not in {d.target for d in config.documents}:
            # No directory takes the base's bind: an empty one replaces it (the base would
            # bind ./documents there, and nothing may be mounted inside a read-only bind).
            volumes.insert(0, {"type": "tmpfs", "target": root})
        services(name)["volumes"] = volumes
        if root and user_of(body) is None:
            # Every reader of the documents runs as the UID:GID the wizard checks them against
            # (the stack's webui does; its worker would run as the image's user, 1000).
            services(name)["user"] = "${UID:-1000}:${GID:-1000}"


def _database(stack: Stack, config: Config, services: _Services) -> None:
    """TLS for every service that connects; with an external server, the base's own PostgreSQL
    kept from starting (a profile) and nothing waiting for it."""
    db = config.database
    external = db.mode is PostgresMode.EXTERNAL and stack.has_postgres
    for name in stack.present(Role.DATABASE):
        env = services.environment(name)
        # libpq (Alembic) and asyncpg (the app) both read these; DATABASE_URL carries none.
        env["PGSSLMODE"] = "${POSTGRES_SSLMODE}"
        if db.sslrootcert:
            env["PGSSLROOTCERT"] = CA_TARGET
            services(name).setdefault("volumes", []).append(_bind(db.sslrootcert, CA_TARGET))
        if external:
            env["POSTGRES_HOST"] = "${POSTGRES_HOST}"
            env["POSTGRES_PORT"] = "${POSTGRES_PORT}"
    if not external:
        return
    postgres = stack.profile.postgres_service
    services(postgres)["profiles"] = [BUNDLED_POSTGRES_PROFILE]
    for name, body in stack.services.items():
        condition = depends_on(body, postgres)
        if condition is not None:
            services(name)["depends_on"] = {postgres: {"condition": condition, "required": False}}


def _gpus(stack: Stack, config: Config, services: _Services) -> None:
    """Exactly the chosen devices on the services that run models; none anywhere else."""
    gpu_services = stack.present(Role.GPU)
    if config.deployment is Deployment.GPU:
        device: dict[str, Any] = {"driver": "nvidia"}
        # compose refuses `count` together with `device_ids`.
        if config.gpu_ids:
            device["device_ids"] = list(config.gpu_ids)
        else:
            device["count"] = "all"
        device["capabilities"] = ["gpu"]
        for name in gpu_services:
            # !override: compose concatenates device lists, and the base's own `count: 1`
            # would stay beside the chosen devices.
            services(name)["deploy"] = _devices(override([device]))
    for name in stack.gpu_reserved:
        if config.deployment is not Deployment.GPU or name not in gpu_services:
            services(name)["deploy"] = _devices(RESET)


def _bind(source: str, target: str) -> dict[str, Any]:
    # The long syntax: the short one splits a host path at ':'.
    return {"type": "bind", "source": escape(source), "target": target, "read_only": True}


def _devices(devices: Any) -> dict[str, Any]:
    return {"resources": {"reservations": {"devices": devices}}}


def rebound_ports(project: Project, config: Config) -> dict[str, list[Any]]:
    """Each base service's `ports`, every entry bound to the chosen address.

    compose concatenates `ports` across files, so the whole list is replaced (`!override`).
    The bundled server's port moves to POSTGRES_HOST_PORT. Entries keep their own variables.
    """
    stack = project.stack.profile
    address = config.bind_address
    result: dict[str, list[Any]] = {}
    for name, body in project.stack.services.items():
        entries = body.get("ports") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not entries:
            continue
        rebound: list[Any] = []
        for entry in entries:
            if isinstance(entry, dict):
                item = {**entry, "host_ip": address}
                if name == stack.postgres_service and str(entry.get("target")) == str(
                    stack.postgres_target
                ):
                    item["published"] = f"${{POSTGRES_HOST_PORT:-{stack.postgres_target}}}"
                rebound.append(item)
                continue
            parts = split_top_level(str(entry))
            container = parts[-1]
            host = parts[-2] if len(parts) >= 2 else ""
            if name == stack.postgres_service and container.split("/")[0] == str(
                stack.postgres_target
            ):
                # By its variable, as docker-compose.postgres.yml does: .env's
                # POSTGRES_HOST_PORT stays the one place that moves it.
                host = f"${{POSTGRES_HOST_PORT:-{stack.postgres_target}}}"
            ip = f"[{address}]" if ":" in address else address
            rebound.append(f"{ip}:{host}:{container}")
        result[name] = rebound
    return result
