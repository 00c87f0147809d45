"""Config + the project as it is -> the files as they should be. Pure: no I/O.

`.env` is updated in place (only changed keys' lines move); the override is the wizard's own file
and is regenerated whole, with `yaml.safe_dump` (never string pasting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wizard.config.contract import (
    binds_target,
    depends_on,
    documents_root,
    env_comments,
    gpu_reservations,
    profile,
    references,
    required_variables,
    user_of,
)
from wizard.config.model import CA_TARGET, Config, Deployment, PostgresMode
from wizard.config.settings import SETTINGS
from wizard.files import resources
from wizard.files.compose import (
    BASE_FILE_NAMES,
    RESET,
    dump_yaml,
    load_services,
    override,
    split_top_level,
)
from wizard.files.envfile import update_env
from wizard.files.project import (
    ENV_NAME,
    OVERRIDE_NAME,
    OWN_OVERRIDE_NAMES,
    Project,
    escape,
    split_compose_file,
)
from wizard.files.writer import PlannedFile

# Every .env key the wizard owns, in the template's order, and the ones that hold secrets.
_OWNED_KEYS = (
    "COMPOSE_FILE",
    "USE_GPU",
    "CUDA_VISIBLE_DEVICES",
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
    "POSTGRES_BUNDLED_PASSWORD",
    "DATABASE_URL",
    "DOCUMENT_PATH",
    "DOCUMENT_PATHS",
    "JWT_SECRET_KEY",
    *(secret.key for secret in profile().secrets),
    *(setting.env_key for setting in SETTINGS),
)


def _in_template_order(keys: tuple[str, ...]) -> tuple[str, ...]:
    # Keys the template does not document (a new row's) come after the ones it does.
    template = resources.template("env.template")
    positions = {key: template.find(f"\n{key}=") for key in keys}
    return tuple(sorted(keys, key=lambda key: positions[key] if positions[key] >= 0 else 1 << 30))


ENV_KEYS = _in_template_order(_OWNED_KEYS)
SECRET_ENV_KEYS = frozenset(
    {
        "POSTGRES_PASSWORD",
        "POSTGRES_PASSWORD_PENDING",
        "POSTGRES_BUNDLED_PASSWORD",
        "JWT_SECRET_KEY",
        "DATABASE_URL",
    }
    | {secret.key for secret in profile().secrets}
)
# The compose profile that keeps the base's own PostgreSQL from starting with an external server.
BUNDLED_POSTGRES_PROFILE = "bundled-postgres"

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
    if config.database.mode is PostgresMode.BUNDLED and not base_has_postgres(project):
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


def base_has_postgres(project: Project) -> bool:
    """The stack's own compose file defines the database: its service and its data volume win,
    and docker-compose.postgres.yml stays out (compose would merge the volumes by target and run
    the database on a new, empty one)."""
    return profile().postgres_service in project.base_services


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
        **{secret.key: config.secrets.get(secret.key, "") for secret in profile().secrets},
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
    root = documents_root(project.base_services) or profile().documents_target
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


def render_env(project: Project, config: Config) -> str:
    template = env_template(project.base_services)
    current = project.env_text if project.env_text is not None else template
    return update_env(current, env_values(project, config), template)


def render_override(project: Project, config: Config) -> str:
    """The wizard's override: what the answers change in the stack's own services.

    Every published port of the base is bound to the chosen address (`ports: !override`); the
    documents are bound read-only where the services read them; GPUs are reserved exactly as
    chosen (`!override`, or `!reset` for none); with an external server the base's PostgreSQL
    is kept from starting and nothing waits for it; TLS and settings reach the services in the
    form they accept.
    """
    stack = profile()
    base = project.base_services
    services: dict[str, dict[str, Any]] = {}

    def service(name: str) -> dict[str, Any]:
        return services.setdefault(name, {})

    def environment(name: str) -> dict[str, str]:
        env: dict[str, str] = service(name).setdefault("environment", {})
        return env

    ports = _rebound_ports(project, config)
    for name, entries in ports.items():
        service(name)["ports"] = override(entries)

    root = documents_root(base)
    for name in _present(stack.role("documents"), project):
        volumes: list[dict[str, Any]] = [
            _bind(str(doc.source), doc.target) for doc in config.documents
        ]
        if (
            root
            and binds_target(base[name], root)
            and root not in {doc.target for doc in config.documents}
        ):
            # No directory takes the base's bind: an empty one replaces it (the base would
            # bind ./documents there, and nothing may be mounted inside a read-only bind).
            volumes.insert(0, {"type": "tmpfs", "target": root})
        service(name)["volumes"] = volumes
        if root and user_of(base[name]) is None:
            # Every reader of the documents runs as the UID:GID the wizard checks them against
            # (the stack's webui does; its worker would run as the image's user, 1000).
            service(name)["user"] = "${UID:-1000}:${GID:-1000}"

    db = config.database
    for name in _present(stack.role("database"), project):
        env = environment(name)
        # libpq (Alembic) and asyncpg (the app) both read these; DATABASE_URL carries none.
        env["PGSSLMODE"] = "${POSTGRES_SSLMODE}"
        if db.sslrootcert:
            env["PGSSLROOTCERT"] = CA_TARGET
            service(name).setdefault("volumes", []).append(
                _bind(config.database.sslrootcert, CA_TARGET)
            )
        if db.mode is PostgresMode.EXTERNAL and base_has_postgres(project):
            env["POSTGRES_HOST"] = "${POSTGRES_HOST}"
            env["POSTGRES_PORT"] = "${POSTGRES_PORT}"

    postgres = stack.postgres_service
    if db.mode is PostgresMode.EXTERNAL and base_has_postgres(project):
        service(postgres)["profiles"] = [BUNDLED_POSTGRES_PROFILE]
        for name, body in base.items():
            condition = depends_on(body, postgres)
            if condition is not None:
                service(name)["depends_on"] = {
                    postgres: {"condition": condition, "required": False}
                }

    reserved = gpu_reservations(base)
    gpu_services = _present(stack.role("gpu"), project)
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
            service(name)["deploy"] = _devices(override([device]))
    for name in reserved:
        if config.deployment is not Deployment.GPU or name not in gpu_services:
            service(name)["deploy"] = _devices(RESET)

    values = env_values(project, config)
    for key, forms in stack.settings.items():
        for name, form in forms.items():
            if name in base:
                environment(name)[key] = escape(_in_form(values.get(key, ""), form))

    block: dict[str, Any] = {
        "documents": [
            {"source": escape(str(doc.source)), "target": doc.target} for doc in config.documents
        ],
    }
    if config.gpu_ids:
        block["gpu_ids"] = list(config.gpu_ids)
    data = {"x-wizard": block, "services": {name: services[name] for name in sorted(services)}}
    return OVERRIDE_HEADER + dump_yaml(data)


def _bind(source: str, target: str) -> dict[str, Any]:
    # The long syntax: the short one splits a host path at ':'.
    return {"type": "bind", "source": escape(source), "target": target, "read_only": True}


def _devices(devices: Any) -> dict[str, Any]:
    return {"resources": {"reservations": {"devices": devices}}}


def _in_form(value: str, form: str) -> str:
    if form == "lower":
        return value.lower()
    if form == "upper":
        return value.upper()
    return value


def _rebound_ports(project: Project, config: Config) -> dict[str, list[Any]]:
    """Each base service's `ports`, every entry bound to the chosen address.

    compose concatenates `ports` across files, so the whole list is replaced (`!override`).
    The bundled server's port moves to POSTGRES_HOST_PORT. Entries keep their own variables.
    """
    stack = profile()
    address = config.bind_address
    result: dict[str, list[Any]] = {}
    for name, body in project.base_services.items():
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


def _present(names: Sequence[str], project: Project) -> list[str]:
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
    bundled = config.database.mode is PostgresMode.BUNDLED and not base_has_postgres(project)
    if bundled and not postgres_file.exists():
        # The project directory is not the checkout: give it its own copy of the service.
        files.append(PlannedFile(resources.POSTGRES_COMPOSE, resources.postgres_compose(), 0o644))
    return files


def unset_required_variables(
    project: Project, config: Config, environ: Mapping[str, str]
) -> dict[str, list[str]]:
    """Variable -> services, for each variable the base requires (`${VAR?}`, `${VAR:?}`) that
    neither the wizard, the current .env nor the environment sets: compose would refuse."""
    written = env_values(project, config)

    def is_set(variable: str, empty_ok: bool) -> bool:
        for source in (written, project.env, environ):
            if variable in source and (empty_ok or source[variable] != ""):
                return True
        return False

    return {
        variable: required.services
        for variable, required in sorted(required_variables(project.base_services).items())
        if not is_set(variable, required.empty_ok and variable not in written)
    }


def unset_required(project: Project, config: Config, environ: Mapping[str, str]) -> list[str]:
    """unset_required_variables as problem sentences (exit 2)."""
    problems = []
    for variable, users in unset_required_variables(project, config, environ).items():
        base = project.base_file.name if project.base_file else "the base compose file"
        problems.append(
            f"{variable}: {base} requires it (services {', '.join(users)}) and the wizard does "
            f"not set it; add {variable}=... to {project.root / '.env'} or the environment"
        )
    return problems


def setting_readers(project: Project, config: Config) -> dict[str, tuple[str, ...]]:
    """Each .env key the wizard owns -> the services it reaches once the files are written:
    those whose definition (base, bundled PostgreSQL, the planned override) interpolates it,
    those the stack profile hands it to in their form, and for BIND_ADDRESS those whose ports
    it binds. An empty tuple: a record for the wizard and compose (COMPOSE_FILE, USE_GPU...)."""
    bodies: dict[str, list[Any]] = {}
    sources: list[dict[str, Any]] = [dict(project.base_services)]
    if resources.POSTGRES_COMPOSE in compose_files(project, config):
        path = resources.data_root() / resources.POSTGRES_COMPOSE
        sources.append(load_services(path))
    sources.append(load_services(project.root / OVERRIDE_NAME, render_override(project, config)))
    for services in sources:
        for name, body in services.items():
            bodies.setdefault(name, []).append(body)
    stack = profile()
    # What the override does with a setting rather than passing it on.
    structural: dict[str, set[str]] = {
        "BIND_ADDRESS": set(_rebound_ports(project, config)),
        "DOCUMENT_PATHS": set(document_services(project)) if config.documents else set(),
        "USE_GPU": set(_present(stack.role("gpu"), project))
        | set(gpu_reservations(project.base_services)),
        "POSTGRES_MODE": {
            name
            for name, body in project.base_services.items()
            if name == stack.postgres_service or depends_on(body, stack.postgres_service)
        },
        "POSTGRES_SSLROOTCERT": (
            set(_present(stack.role("database"), project)) if config.database.sslrootcert else set()
        ),
    }
    # Each service's variables, read once: across the base, the bundled file and the override.
    read = {
        name: set().union(*(references(body) for body in parts)) for name, parts in bodies.items()
    }
    result = {}
    for key in ENV_KEYS:
        names = {name for name, found in read.items() if key in found}
        names |= set(stack.settings.get(key, {})) & set(bodies)
        names |= structural.get(key, set())
        result[key] = tuple(sorted(names))
    return result
