"""Config + the project as it is -> the text of the files as they should be. Pure: no I/O.

`.env` is updated in place (only changed keys' lines move); the override is the wizard's own file
and is regenerated whole, with `yaml.safe_dump` (never string pasting). `wizard.plan.model`
calls these once per run and keeps what they return in the Plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wizard.config.envkeys import OWNED
from wizard.config.model import Config, Deployment, PostgresMode
from wizard.config.settings import SETTINGS
from wizard.files.project import Project
from wizard.plan.override import rebound_ports
from wizard.stack import resources
from wizard.stack.compose import OVERRIDE_NAME, load_services
from wizard.stack.contract import (
    MANAGED_FILES,
    depends_on,
    env_comments,
    references,
    split_compose_file,
)
from wizard.stack.envfile import update_env
from wizard.stack.profile import Role


def compose_files(project: Project, config: Config) -> list[str]:
    """COMPOSE_FILE: paths relative to the project directory, in the order compose merges them.

    Files a person added to COMPOSE_FILE by hand (a monitoring stack, say) stay in it, after the
    files the wizard manages and before its override, which comes last so its mounts win.
    """
    files = [project.base_file.name] if project.base_file is not None else []
    if config.database.mode is PostgresMode.BUNDLED and not project.stack.has_postgres:
        files.append(resources.POSTGRES_COMPOSE)
    if project.own_override is not None:
        # compose loaded it before COMPOSE_FILE existed.
        files.append(project.own_override.name)
    added = [
        name
        for name in split_compose_file(project.env.get("COMPOSE_FILE", ""))
        if name not in MANAGED_FILES and name not in files
    ]
    return [*files, *added, OVERRIDE_NAME]


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


def env_values(project: Project, config: Config, files: list[str]) -> dict[str, str]:
    """Every .env key the wizard owns, as it should be (`files`: compose_files)."""
    db = config.database
    return {
        "COMPOSE_FILE": ":".join(files),
        "USE_GPU": "true" if config.deployment is Deployment.GPU else "false",
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
        "POSTGRES_BUNDLED_PASSWORD": db.kept_bundled_password,
        "DATABASE_URL": db.url,
        "DOCUMENT_PATH": _document_path(project, config),
        "DOCUMENT_PATHS": ",".join(doc.target for doc in config.documents),
        "JWT_SECRET_KEY": config.jwt_secret,
        "CUDA_VISIBLE_DEVICES": cuda_visible_devices(config),
        **{
            secret.key: config.secrets.get(secret.key, "")
            for secret in project.stack.profile.secrets
        },
        **{setting.env_key: setting.to_env(config.values[setting.key]) for setting in SETTINGS},
        # What the base requires beyond the wizard's own settings, as the person answered it.
        **config.required_env,
    }


def cuda_visible_devices(config: Config) -> str:
    """The GPUs as the container numbers them: a container given devices 2 and 3 sees them as 0
    and 1. With every GPU reserved, the first (the stack's own default); empty on CPU."""
    if config.deployment is not Deployment.GPU:
        return ""
    if config.gpu_ids:
        return ",".join(str(index) for index in range(len(config.gpu_ids)))
    return "0"


def _document_path(project: Project, config: Config) -> str:
    """DOCUMENT_PATH: the host directory the base binds at its document target."""
    root = project.stack.documents_root or project.stack.profile.documents_target
    return next((str(doc.source) for doc in config.documents if doc.target == root), "")


def env_template(services: Mapping[str, Any] | None = None) -> str:
    """templates/env.template, its comments saying what the stack of `services` does
    (contract.env_comments), plus the comment and key of each row of config/settings.py it
    does not document itself (a new setting needs no second edit to be documented)."""
    template = env_comments(resources.template("env.template"), services or {})
    for setting in SETTINGS:
        if f"\n{setting.env_key}=" not in template and setting.comment:
            comment = "".join(f"# {line}\n" for line in setting.comment.splitlines())
            template += f"\n{comment}{setting.env_key}=\n"
    return template


def render_env(project: Project, values: Mapping[str, str]) -> str:
    template = env_template(project.stack.services)
    current = project.env_text if project.env_text is not None else template
    return update_env(current, values, template)


def variables_read(project: Project, files: list[str], override_text: str) -> dict[str, set[str]]:
    """Each service -> the variables its definition interpolates, once the files are written
    (base, bundled PostgreSQL, the planned override)."""
    read: dict[str, set[str]] = {
        name: set(found) for name, found in project.stack.references.items()
    }
    added: list[dict[str, Any]] = []
    if resources.POSTGRES_COMPOSE in files:
        path = resources.data_root() / resources.POSTGRES_COMPOSE
        added.append(load_services(path, resources.postgres_compose()))
    added.append(load_services(project.root / OVERRIDE_NAME, override_text))
    for services in added:
        for name, body in services.items():
            read.setdefault(name, set()).update(references(body))
    return read


def setting_readers(
    project: Project, config: Config, files: list[str], override_text: str
) -> dict[str, tuple[str, ...]]:
    """Each .env key the wizard owns -> the services it reaches once the files are written:
    those whose definition (base, bundled PostgreSQL, the planned override) interpolates it,
    those the stack profile hands it to in their form, and for BIND_ADDRESS those whose ports
    it binds. An empty tuple: a record for the wizard and compose (COMPOSE_FILE, USE_GPU...)."""
    stack = project.stack
    read = variables_read(project, files, override_text)
    postgres = stack.profile.postgres_service
    # What the override does with a setting rather than passing it on.
    structural: dict[str, set[str]] = {
        "BIND_ADDRESS": set(rebound_ports(project, config)),
        "DOCUMENT_PATHS": set(stack.present(Role.DOCUMENTS)) if config.documents else set(),
        "USE_GPU": set(stack.present(Role.GPU)) | set(stack.gpu_reserved),
        "POSTGRES_MODE": {
            name
            for name, body in stack.services.items()
            if name == postgres or depends_on(body, postgres)
        },
        "POSTGRES_SSLROOTCERT": (
            set(stack.present(Role.DATABASE)) if config.database.sslrootcert else set()
        ),
    }
    result = {}
    for key in OWNED:
        names = {name for name, found in read.items() if key.name in found}
        names |= set(key.forms) & set(read)
        names |= structural.get(key.name, set())
        result[key.name] = tuple(sorted(names))
    return result
