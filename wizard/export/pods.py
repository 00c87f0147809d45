"""The pods' parts: each container's environment, volumes, command, probes and limits.

Every container's environment is what compose gives that service, each value taken from one
Secret (a value holding a secret of .env) or one ConfigMap (the rest): a key is the variable's
name, or `SERVICE.NAME` where services get different values. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wizard.config.model import CA_TARGET
from wizard.export.choices import Choices
from wizard.export.deployment import Deployment, Service, Volume
from wizard.export.workloads import (
    Commands,
    memory_quantity,
    probes,
    resources,
    security_context,
)
from wizard.stack import resources as stack_files
from wizard.stack.profile import Role, profile

# compose variables only a Docker host needs: never part of a container's environment there.
HOST_ONLY_ENV = frozenset({"UID", "GID", "DOCUMENT_PATH", "DOCUMENT_PATHS", "HF_CACHE_DIR"})
CA_KEY = "postgres-root.crt"
ADMIN_SQL_KEY = "first-admin.sql"
ADMIN_SQL_DIR = "/etc/semantik-first-admin"
ADMIN_CONTAINER = "first-admin"
# The service whose pod runs the migration and the first administrator before it serves.
WEB_SERVICE = "webui"
MIGRATE_CONTAINER = "migrate"
# The first administrator's init container reads these (psql: \getenv).
ADMIN_USERNAME = "SEMANTIK_ADMIN_USERNAME"
ADMIN_EMAIL = "SEMANTIK_ADMIN_EMAIL"
ADMIN_HASH = "SEMANTIK_ADMIN_PASSWORD_HASH"
ADMIN_SECRET_ENV = frozenset({ADMIN_HASH, "PGPASSWORD"})
FALLBACK_POSTGRES_IMAGE = "postgres:16-alpine"

# One statement, run by psql with ON_ERROR_STOP: the administrator is inserted only while no
# active one exists; the lock keeps two pods starting at once from inserting two. The values
# come from the environment (\getenv) and reach the server as quoted literals (:'var'), never
# through a shell. An unset variable leaves `:'name'` in the SQL: a syntax error, not an insert.
FIRST_ADMIN_SQL = f"""\
\\getenv admin_username {ADMIN_USERNAME}
\\getenv admin_email {ADMIN_EMAIL}
\\getenv admin_hash {ADMIN_HASH}
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('semantik first administrator')) AS locked \\gset
INSERT INTO users (username, email, hashed_password, is_active, is_superuser, created_at,
                   updated_at)
SELECT :'admin_username', :'admin_email', :'admin_hash', true, true, now(), now()
WHERE NOT EXISTS (SELECT 1 FROM users WHERE is_superuser AND is_active IS TRUE);
COMMIT;
"""


def _stack_settings() -> Mapping[str, Any]:
    data = stack_files.stack_profile().get("kubernetes") or {}
    return data if isinstance(data, Mapping) else {}


def _name(stack: str, suffix: str) -> str:
    return f"{stack}-{suffix}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "volume"


class Pods:
    """The containers and pod volumes of each service, and the ConfigMap and Secret data their
    environments refer to (filled in as containers are made)."""

    def __init__(self, deployment: Deployment, choices: Choices) -> None:
        self.d = deployment
        self.c = choices
        self.stack = profile().stack
        self.settings = _stack_settings()
        self.warnings: list[str] = []
        self.config: dict[str, str] = {}
        self.secret: dict[str, str] = {}
        self.claims: dict[str, str] = {}  # shared volume (source) -> claim name
        self.commands = Commands(deployment.interpolate, deployment.secret_keys)

    # --- the environment table ------------------------------------------------------------

    def environments(self) -> dict[str, dict[str, str]]:
        envs = {
            name: {k: v for k, v in service.environment.items() if k not in HOST_ONLY_ENV}
            for name, service in self.d.services.items()
        }
        admin = self.c.administrator
        if admin is not None and WEB_SERVICE in envs:
            env = self.d.env
            envs[ADMIN_CONTAINER] = {
                "PGHOST": env.get("POSTGRES_HOST", ""),
                "PGPORT": env.get("POSTGRES_PORT", ""),
                "PGDATABASE": env.get("POSTGRES_DB", ""),
                "PGUSER": env.get("POSTGRES_USER", ""),
                "PGPASSWORD": env.get("POSTGRES_PASSWORD", ""),
                "PGSSLMODE": env.get("POSTGRES_SSLMODE", "") or "prefer",
                ADMIN_USERNAME: admin.username,
                ADMIN_EMAIL: admin.email,
                ADMIN_HASH: admin.password_hash,
            }
            if self.d.ca_certificate is not None:
                envs[ADMIN_CONTAINER]["PGSSLROOTCERT"] = CA_TARGET
        return envs

    def _is_secret(self, key: str, value: str) -> bool:
        if key in self.d.secret_keys or key in ADMIN_SECRET_ENV:
            return True
        return any(secret in value for secret in self.d.secrets.values())

    def env_entries(self) -> dict[str, list[dict[str, Any]]]:
        """Container -> its `env`, every value a reference into the ConfigMap or the Secret."""
        envs = self.environments()
        values: dict[str, set[str]] = {}
        for env in envs.values():
            for key, value in env.items():
                values.setdefault(key, set()).add(value)
        entries: dict[str, list[dict[str, Any]]] = {}
        for container, env in envs.items():
            listed = entries.setdefault(container, [])
            for key in sorted(env):
                value = env[key]
                name = key if len(values[key]) == 1 else f"{container}.{key}"
                secret = self._is_secret(key, value)
                (self.secret if secret else self.config)[name] = value
                kind = "secretKeyRef" if secret else "configMapKeyRef"
                target = _name(self.stack, "secrets" if secret else "config")
                listed.append({"name": key, "valueFrom": {kind: {"name": target, "key": name}}})
        return entries

    # --- volumes ------------------------------------------------------------------------------

    def owns(self, service: Service) -> list[Volume]:
        """The named volumes only this service uses (a StatefulSet's claims)."""
        others = [v.source for s in self.d.services.values() if s is not service for v in s.volumes]
        return [v for v in service.volumes if v.kind == "volume" and v.source not in others]

    def _claim(self, volume: Volume) -> str:
        if volume.source not in self.claims:
            base = slug(volume.source.rstrip("/").rsplit("/", 1)[-1])
            name = base if base.startswith(self.stack) else _name(self.stack, base)
            while name in self.claims.values():
                name += "-x"
            self.claims[volume.source] = name
        return self.claims[volume.source]

    def _document_targets(self) -> set[str]:
        targets = {doc.target for doc in self.d.documents}
        if self.d.documents_root:
            targets.add(self.d.documents_root)
        return targets

    def volumes(
        self, service: Service, owned: list[Volume]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(pod volumes, container mounts) for a service."""
        volumes: list[dict[str, Any]] = []
        mounts: list[dict[str, Any]] = []
        documents = self._document_targets()
        image_paths = set(self.settings.get("image_paths") or [])
        reads_documents = False
        for volume in service.volumes:
            if volume.target in image_paths:
                continue  # the image holds it already; an empty claim would hide it
            if volume.target in documents:
                reads_documents = True
                continue
            if volume.target == CA_TARGET:
                continue  # added below from the Secret
            if volume in owned:
                mounts.append({"name": slug(volume.source), "mountPath": volume.target})
                continue
            if volume.kind == "tmpfs":
                name = slug(volume.target)
                volumes.append({"name": name, "emptyDir": {}})
            else:
                name = self._claim(volume)
                claim = {"claimName": name}
                if volume.read_only:
                    claim["readOnly"] = True  # type: ignore[assignment]
                volumes.append({"name": name, "persistentVolumeClaim": claim})
            mount = {"name": name, "mountPath": volume.target}
            if volume.read_only:
                mount["readOnly"] = True  # type: ignore[assignment]
            mounts.append(mount)
        if reads_documents:
            self._documents(volumes, mounts)
        if service.shm_size:
            # Docker's shm_size: a container's /dev/shm is 64 MiB on both unless made larger.
            shm = {"medium": "Memory", "sizeLimit": memory_quantity(service.shm_size)}
            volumes.append({"name": "shm", "emptyDir": shm})
            mounts.append({"name": "shm", "mountPath": "/dev/shm"})
        if self.d.ca_certificate is not None and service.name in profile().role(Role.DATABASE):
            volumes.append(self._ca_volume())
            mounts.append(self._ca_mount())
        return volumes, mounts

    def _ca_volume(self) -> dict[str, Any]:
        items = [{"key": CA_KEY, "path": CA_TARGET.rsplit("/", 1)[1]}]
        secret = {"secretName": _name(self.stack, "secrets"), "items": items, "defaultMode": 0o444}
        return {"name": "postgres-ca", "secret": secret}

    def _ca_mount(self) -> dict[str, Any]:
        return {
            "name": "postgres-ca",
            "mountPath": CA_TARGET,
            "subPath": CA_TARGET.rsplit("/", 1)[1],
            "readOnly": True,
        }

    def _documents(self, volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> None:
        for index, doc in enumerate(self.d.documents):
            name = f"documents-{index}"
            if self.c.documents_host_path:
                path = {"path": str(doc.source), "type": "Directory"}
                volumes.append({"name": name, "hostPath": path})
            else:
                claim = {"claimName": self.c.documents_claims[index], "readOnly": True}
                volumes.append({"name": name, "persistentVolumeClaim": claim})
            mounts.append({"name": name, "mountPath": doc.target, "readOnly": True})

    # --- containers and workloads -------------------------------------------------------------

    def image(self, service: Service) -> str:
        if service.build is not None:
            return f"{self.c.registry}/{self.stack}-{service.name}:{self.c.tag}"
        return service.image

    def gpus(self, service: Service) -> int:
        if not self.d.use_gpu or service.name not in profile().role(Role.GPU):
            return 0
        return len(self.d.gpu_ids) or 1

    def ports(self, service: Service) -> list[int]:
        listens = (self.settings.get("listens") or {}).get(service.name) or []
        return sorted({*service.ports, *(int(port) for port in listens)})

    def container(
        self, service: Service, env: list[dict[str, Any]], mounts: list[dict[str, Any]]
    ) -> dict[str, Any]:
        container: dict[str, Any] = {"name": service.name, "image": self.image(service)}
        self.commands.needed = set()
        if service.command:
            entrypoint = (self.settings.get("entrypoints") or {}).get(service.name)
            container.update(self.commands.argv(service.command, entrypoint))
        if service.healthcheck:
            command = self.commands.probe_command(service.healthcheck.get("test"))
            container.update(probes(command, service.healthcheck))
        # What the command or the probes read from the environment beyond compose's own.
        known = {entry["name"] for entry in env}
        extra = [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": self._secrets(), "key": key}}}
            for key in sorted(self.commands.needed - known)
        ]
        for key in sorted(self.commands.needed - known):
            self.secret[key] = self.d.env.get(key, "")
        if env or extra:
            container["env"] = sorted([*env, *extra], key=lambda entry: str(entry["name"]))
        ports = self.ports(service)
        if ports:
            container["ports"] = [{"containerPort": port, "name": f"p{port}"} for port in ports]
        amounts = resources(service, self.gpus(service))
        if amounts:
            container["resources"] = amounts
        context, warning = security_context(service)
        if warning:
            self.warnings.append(warning)
        if context:
            container["securityContext"] = context
        if mounts:
            container["volumeMounts"] = mounts
        return container

    def _secrets(self) -> str:
        return _name(self.stack, "secrets")

    def init_containers(
        self, webui: dict[str, Any], admin_env: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(init containers, their extra pod volumes) of the web UI's pod: the migration in its
        own image, then (with an administrator) psql inserting the first one."""
        migrate = {
            "name": MIGRATE_CONTAINER,
            "image": webui["image"],
            "command": ["alembic"],
            "args": ["upgrade", "head"],
        }
        for key in ("env", "securityContext", "volumeMounts"):
            if key in webui:
                migrate[key] = webui[key]
        if self.c.administrator is None:
            return [migrate], []
        self.config[ADMIN_SQL_KEY] = FIRST_ADMIN_SQL
        mounts = [{"name": ADMIN_CONTAINER, "mountPath": ADMIN_SQL_DIR, "readOnly": True}]
        if self.d.ca_certificate is not None:
            mounts.append(self._ca_mount())
        admin = {
            "name": ADMIN_CONTAINER,
            "image": self.d.postgres_image or FALLBACK_POSTGRES_IMAGE,
            "command": ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                        f"{ADMIN_SQL_DIR}/{ADMIN_SQL_KEY}"],
            "env": admin_env,
            "securityContext": {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}
            },
            "volumeMounts": mounts,
        }  # fmt: skip
        items = [{"key": ADMIN_SQL_KEY, "path": ADMIN_SQL_KEY}]
        volume = {
            "name": ADMIN_CONTAINER,
            "configMap": {"name": _name(self.stack, "config"), "items": items},
        }
        return [migrate, admin], [volume]
