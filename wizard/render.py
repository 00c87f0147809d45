"""Config + the project as it is -> the files as they should be. Pure: no I/O.

`.env` is updated in place (only changed keys' lines move); the override is the wizard's own file
and is regenerated whole, with `yaml.safe_dump` (never string pasting).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from wizard import resources
from wizard.envfile import update_env
from wizard.model import CA_TARGET, Config, Deployment, PostgresMode
from wizard.project import ENV_NAME, OVERRIDE_NAME, Project, escape
from wizard.writer import PlannedFile

OVERRIDE_HEADER = """\
# Written by the setup wizard: re-run `make wizard` (or `wizard setup`) to change it; edits made
# here are replaced on the next run. The x-wizard block records the answers compose has no key
# for (compose ignores x- keys). Every literal $ is written as $$, which compose reads as $.
"""


def compose_files(project: Project, config: Config) -> list[str]:
    """COMPOSE_FILE: paths relative to the project directory, in the order compose merges them."""
    files = [project.base_file.name] if project.base_file is not None else []
    if config.database.mode is PostgresMode.BUNDLED:
        files.append(resources.POSTGRES_COMPOSE)
    if project.own_override is not None:
        # compose loaded it before COMPOSE_FILE existed; the wizard's own override comes last.
        files.append(project.own_override.name)
    files.append(OVERRIDE_NAME)
    return files


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


def changed_keys(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return [key for key, value in after.items() if before.get(key) != value]
