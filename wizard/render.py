"""Config + the project as it is -> the files as they should be. Pure: no I/O.

`.env` is updated in place (only changed keys' lines move); the override is the wizard's own file
and is regenerated whole, with `yaml.safe_dump` (never string pasting).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from wizard import resources
from wizard.compose import BASE_FILE_NAMES
from wizard.envfile import update_env
from wizard.model import CA_TARGET, Config, Deployment, PostgresMode
from wizard.project import ENV_NAME, OVERRIDE_NAME, OWN_OVERRIDE_NAMES, Project, escape
from wizard.writer import PlannedFile

# Every .env key the wizard owns, in the template's order, and the ones that hold secrets.
ENV_KEYS = (
    "COMPOSE_FILE",
    "USE_GPU",
    "LOG_LEVEL",
    "BIND_ADDRESS",
    "POSTGRES_MODE",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_PENDING",
    "POSTGRES_SSLMODE",
    "POSTGRES_SSLROOTCERT",
    "POSTGRES_HOST_PORT",
    "DATABASE_URL",
    "DOCUMENT_PATHS",
    "JWT_SECRET_KEY",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
)
SECRET_ENV_KEYS = frozenset(
    {"POSTGRES_PASSWORD", "POSTGRES_PASSWORD_PENDING", "JWT_SECRET_KEY", "DATABASE_URL"}
)

OVERRIDE_HEADER = """\
# Written by the setup wizard: re-run `make wizard` (or `wizard setup`) to change it; edits made
# here are replaced on the next run. The x-wizard block records the answers compose has no key
# for (compose ignores x- keys). Every literal $ is written as $$, which compose reads as $.
"""


def compose_files(project: Project, config: Config) -> list[str]:
    """COMPOSE_FILE: paths relative to the project directory, in the order compose merges them.

    Files a person added to COMPOSE_FILE by hand (a monitoring stack, say) stay in it, after the
    files the wizard manages and before its override, which comes last so its mounts win.
    """
    files = [project.base_file.name] if project.base_file is not None else []
    if config.database.mode is PostgresMode.BUNDLED:
        files.append(resources.POSTGRES_COMPOSE)
    if project.own_override is not None:
        # compose loaded it before COMPOSE_FILE existed.
        files.append(project.own_override.name)
    managed = {*BASE_FILE_NAMES, resources.POSTGRES_COMPOSE, OVERRIDE_NAME, *OWN_OVERRIDE_NAMES}
    added = [
        name
        for name in split_compose_file(project.env.get("COMPOSE_FILE", ""))
        if name not in managed and name not in files
    ]
    return [*files, *added, OVERRIDE_NAME]


def split_compose_file(value: str) -> list[str]:
    """COMPOSE_FILE's entries (compose's default separator on Linux and macOS is ':'), spelled
    the way the wizard writes them (`./compose.yaml` is `compose.yaml`)."""
    return [os.path.normpath(name.strip()) for name in value.split(":") if name.strip()]


def compose_paths(project: Project, names: list[str]) -> list[Path]:
    """The files behind COMPOSE_FILE names that exist (the bundled PostgreSQL service falls back
    to the copy the wizard ships, which it writes next to .env)."""
    paths = []
    for name in names:
        path = project.root / name
        if name == resources.POSTGRES_COMPOSE and not path.exists():
            path = resources.data_root() / resources.POSTGRES_COMPOSE
        if path.is_file():
            paths.append(path)
    return paths


def env_values(project: Project, config: Config) -> dict[str, str]:
    """Every .env key the wizard owns, as it should be."""
    db = config.database
    return {
        "COMPOSE_FILE": ":".join(compose_files(project, config)),
        "USE_GPU": "true" if config.deployment is Deployment.GPU else "false",
        "LOG_LEVEL": config.log_level.value,
        "BIND_ADDRESS": config.bind_address,
        "POSTGRES_MODE": db.mode.value,
        "POSTGRES_HOST": db.host,
        "POSTGRES_PORT": str(db.port),
        "POSTGRES_DB": db.name,
        "POSTGRES_USER": db.user,
        "POSTGRES_PASSWORD": db.password,
        # Set only by an unfinished rotation, which setup settles before it renders anything.
        "POSTGRES_PASSWORD_PENDING": "",
        "POSTGRES_SSLMODE": db.sslmode.value,
        "POSTGRES_SSLROOTCERT": db.sslrootcert,
        "POSTGRES_HOST_PORT": str(db.host_port),
        "DATABASE_URL": db.url,
        "DOCUMENT_PATHS": ",".join(doc.target for doc in config.documents),
        "JWT_SECRET_KEY": config.jwt_secret,
        "ACCESS_TOKEN_EXPIRE_MINUTES": str(config.token_expiry_minutes),
    }


def render_env(project: Project, config: Config) -> str:
    template = resources.template("env.template")
    current = project.env_text if project.env_text is not None else template
    return update_env(current, env_values(project, config), template)


def render_override(project: Project, config: Config) -> str:
    roles = resources.roles()
    services: dict[str, dict[str, Any]] = {}

    def service(name: str) -> dict[str, Any]:
        return services.setdefault(name, {})

    for name in _present(roles.get("documents", ()), project):
        service(name)["volumes"] = [
            {
                "type": "bind",
                "source": escape(str(doc.source)),
                "target": doc.target,
                "read_only": True,
            }
            for doc in config.documents
        ]
    if config.database.sslrootcert:
        for name in _present(roles.get("database", ()), project):
            service(name).setdefault("volumes", []).append(
                {
                    "type": "bind",
                    "source": escape(config.database.sslrootcert),
                    "target": CA_TARGET,
                    "read_only": True,
                }
            )
    if config.deployment is Deployment.GPU:
        device: dict[str, Any] = {"driver": "nvidia"}
        # compose refuses `count` together with `device_ids`.
        if config.gpu_ids:
            device["device_ids"] = list(config.gpu_ids)
        else:
            device["count"] = "all"
        device["capabilities"] = ["gpu"]
        for name in _present(roles.get("gpu", ()), project):
            service(name)["deploy"] = {"resources": {"reservations": {"devices": [device]}}}

    block: dict[str, Any] = {
        "documents": [
            {"source": escape(str(doc.source)), "target": doc.target} for doc in config.documents
        ],
    }
    if config.gpu_ids:
        block["gpu_ids"] = list(config.gpu_ids)
    data = {"x-wizard": block, "services": services}
    return OVERRIDE_HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _present(names: tuple[str, ...], project: Project) -> list[str]:
    return [name for name in names if name in project.services]


def document_services(project: Project) -> list[str]:
    """The services of the base compose file that get the document mounts (templates/stack.yaml,
    role `documents`); none when there is no base file or it defines none of them."""
    return _present(resources.roles().get("documents", ()), project)


def plan(project: Project, config: Config) -> list[PlannedFile]:
    """Every file the configuration needs, with its content; the writer skips unchanged ones."""
    files = [
        PlannedFile(ENV_NAME, render_env(project, config), mode=0o600, secret=True),
        PlannedFile(OVERRIDE_NAME, render_override(project, config), mode=0o644),
    ]
    postgres_file = project.root / resources.POSTGRES_COMPOSE
    if config.database.mode is PostgresMode.BUNDLED and not postgres_file.exists():
        # The project directory is not the checkout: give it its own copy of the service.
        files.append(PlannedFile(resources.POSTGRES_COMPOSE, resources.postgres_compose(), 0o644))
    return files
