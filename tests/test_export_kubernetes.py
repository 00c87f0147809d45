"""`wizard export kubernetes`: the configured stack as a kustomize directory.

No cluster runs here: the objects are checked against the real Kubernetes OpenAPI schemas
(`kubernetes-validate`, strict), each container's environment against the real
`docker-compose config`, and the administrator's statement with the real `psql` against a real
PostgreSQL holding the accounts schema.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from accounts_db import accounts_database, connect
from export_stack import STACK_VERSION, configure, stack_project
from helpers import compose_config, read_env, run_wizard, snapshot
from kubernetes_validate import utils as kubernetes_schemas
from pg import AppDatabase, find_bindir

from wizard.export.kustomize import KUSTOMIZATION, OWNER_LINE
from wizard.export.pods import HOST_ONLY_ENV
from wizard.export.workloads import Commands
from wizard.stack.compose import interpolate

REGISTRY = "registry.example.org/team"
SECRET_FILE = "secret-semantik-secrets.yaml"
CONFIG_FILE = "configmap-semantik-config.yaml"
# Variables a container gets that compose passes to no service: what its command or probe
# reads from the environment instead of having the secret pasted into the manifest.
COMMAND_ONLY_ENV = {"redis": {"REDIS_PASSWORD"}}
FIRST_VERSION = (1, 29)
ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = stack_project(tmp_path / "semantik")
    configure(root, "--doc-dir", "docs", "--doc-dir", "more")
    return root


def export(project: Path, out: Path, *args: str, input: str | None = None) -> Any:
    run = run_wizard(
        ["export", "kubernetes", "--out", str(out), "--image-registry", REGISTRY, *args],
        cwd=project,
        input=input,
    )
    return run


def exported(project: Path, out: Path, *args: str) -> dict[str, dict[str, Any]]:
    """Export with claims for the two document directories; the objects by file name."""
    run = export(project, out, "--documents-claim", "docs-a", "--documents-claim", "docs-b", *args)
    assert run.returncode == 0, run.stderr
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(out.glob("*.yaml"))}


def workloads(objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        item["metadata"]["name"]: item
        for item in objects.values()
        if item["kind"] in ("Deployment", "StatefulSet")
    }


def resolved_env(container: dict[str, Any], objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A container's environment with its ConfigMap and Secret references looked up."""
    config = objects[CONFIG_FILE]["data"]
    secret = objects[SECRET_FILE]["stringData"]
    env = {}
    for entry in container.get("env", []):
        ref = entry["valueFrom"]
        if "configMapKeyRef" in ref:
            env[entry["name"]] = config[ref["configMapKeyRef"]["key"]]
        else:
            env[entry["name"]] = secret[ref["secretKeyRef"]["key"]]
    return env


def versions() -> list[str]:
    found = {
        version
        for version in kubernetes_schemas.all_versions()
        if tuple(int(part) for part in version.split(".")[:2]) >= FIRST_VERSION
    }
    return sorted(found, key=lambda v: tuple(int(part) for part in v.split(".")))


def test_every_object_validates_strictly_for_every_kubernetes_version(
    project: Path, tmp_path: Path
) -> None:
    configure(project, "--deployment", "gpu", "--gpu-ids", "1,2")
    password = tmp_path / "admin-password"
    password.write_text(ADMIN_PASSWORD + "\n")
    objects = exported(
        project, tmp_path / "out", "--namespace", "docs", "--storage-class", "shared-nfs",
        "--host", "docs.example.org", "--tls-secret", "docs-tls", "--admin", "admin",
        "--admin-email", "admin@example.org", "--admin-password-file", str(password),
    )  # fmt: skip
    assert versions()[-1] == kubernetes_schemas.latest_version().rsplit(".", 1)[0] + ".0"
    kinds = set()
    for name, item in objects.items():
        if name == KUSTOMIZATION:
            continue
        kinds.add(item["kind"])
        for version in versions():
            kubernetes_schemas.validate(item, version, strict=True)
    assert kinds == {
        "Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service", "StatefulSet",
        "Deployment", "Ingress",
    }  # fmt: skip
    # Strict means strict: a field the API does not know fails.
    broken = objects["deployment-webui.yaml"]
    broken["spec"]["template"]["spec"]["containers"][0]["envFrom2"] = []
    with pytest.raises(kubernetes_schemas.ValidationError):
        kubernetes_schemas.validate(broken, versions()[-1], strict=True)
    listed = objects[KUSTOMIZATION]["resources"]
    assert sorted(listed) == sorted(name for name in objects if name != KUSTOMIZATION)


@pytest.mark.parametrize("database", ["bundled", "external"])
def test_each_container_gets_the_environment_compose_gives_its_service(
    project: Path, tmp_path: Path, database: str
) -> None:
    if database == "external":
        (project / "ca.pem").write_text(
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        )
        run = run_wizard(
            ["setup", "--non-interactive", "--skip-db-check", "--skip-port-check",
             "--postgres-mode", "external", "--postgres-host", "db.example.org",
             "--postgres-sslmode", "verify-full", "--postgres-sslrootcert", "ca.pem",
             "--postgres-password-file", "-"],
            cwd=project, input="An-external-Passw0rd!\n",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
    objects = exported(project, tmp_path / "out")
    compose = compose_config(project)["services"]
    running = {name for name, body in compose.items() if not body.get("profiles")}
    found = workloads(objects)
    assert set(found) == running
    for name, item in found.items():
        container = item["spec"]["template"]["spec"]["containers"][0]
        expected = {
            key: value or ""
            for key, value in (compose[name].get("environment") or {}).items()
            if key not in HOST_ONLY_ENV
        }
        env = resolved_env(container, objects)
        extra = COMMAND_ONLY_ENV.get(name, set())
        assert {k: v for k, v in env.items() if k not in extra} == expected, name
        assert set(env) - set(expected) == extra
    if database == "external":
        assert "postgres" not in found
        assert objects[SECRET_FILE]["stringData"]["postgres-root.crt"].startswith("-----BEGIN")
        webui = found["webui"]["spec"]["template"]["spec"]["containers"][0]
        mounts = {m["mountPath"]: m for m in webui["volumeMounts"]}
        assert mounts["/run/wizard/postgres-root.crt"]["readOnly"] is True


def test_gpus_are_a_count_on_vecpipe_only_and_cpu_asks_for_none(
    project: Path, tmp_path: Path
) -> None:
    configure(project, "--deployment", "gpu", "--gpu-ids", "1,2")
    run = export(project, tmp_path / "gpu", "--documents-host-path")
    assert run.returncode == 0, run.stderr
    assert "no device ids" in run.stderr and "pins" not in run.stderr
    for path in (tmp_path / "gpu").glob("*.yaml"):
        item = yaml.safe_load(path.read_text())
        if item["kind"] not in ("Deployment", "StatefulSet"):
            continue
        limits = item["spec"]["template"]["spec"]["containers"][0].get("resources", {})
        gpus = limits.get("limits", {}).get("nvidia.com/gpu")
        assert gpus == (2 if item["metadata"]["name"] == "vecpipe" else None)

    configure(project, "--deployment", "cpu")
    run = export(project, tmp_path / "cpu", "--documents-host-path")
    assert run.returncode == 0, run.stderr
    assert not any("nvidia" in path.read_text() for path in (tmp_path / "cpu").iterdir())


def test_workloads_keep_the_stacks_limits_probes_and_security(
    project: Path, tmp_path: Path
) -> None:
    objects = exported(project, tmp_path / "out")
    found = workloads(objects)
    pods = {name: item["spec"]["template"]["spec"] for name, item in found.items()}
    assert all(spec["enableServiceLinks"] is False for spec in pods.values())
    qdrant = pods["qdrant"]["containers"][0]
    assert qdrant["resources"] == {
        "requests": {"memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}
    }  # fmt: skip
    assert qdrant["livenessProbe"]["exec"]["command"] == [
        "curl", "-f", "http://localhost:6333/health"
    ]  # fmt: skip
    assert qdrant["startupProbe"]["failureThreshold"] == 4 + 3
    assert pods["redis"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    webui = pods["webui"]["containers"][0]
    assert webui["securityContext"] == {
        "runAsUser": 1000, "runAsGroup": 1000, "allowPrivilegeEscalation": False,
        "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
    }  # fmt: skip
    assert webui["image"] == f"{REGISTRY}/semantik-webui:{STACK_VERSION}"
    assert qdrant["image"] == "qdrant/qdrant:v1.12.1"
    redis = pods["redis"]["containers"][0]
    assert redis["securityContext"] == {"allowPrivilegeEscalation": False}
    # The password reaches redis through its environment, never pasted.
    assert redis["command"][:2] == ["sh", "-c"] and '"${REDIS_PASSWORD}"' in redis["command"][2]
    assert redis["livenessProbe"]["exec"]["command"] == [
        "sh", "-c", 'redis-cli -a "${REDIS_PASSWORD}" ping'
    ]  # fmt: skip
    postgres = pods["postgres"]["containers"][0]["livenessProbe"]["exec"]["command"]
    assert postgres == ["sh", "-c", "pg_isready -U semantik -d semantik"]
    init = [c["name"] for c in pods["webui"]["initContainers"]]
    assert init == ["migrate"]  # no administrator given: no insert
    assert pods["webui"]["initContainers"][0]["command"] == ["alembic"]
    assert found["beat"]["spec"]["strategy"] == {"type": "Recreate"}
    assert found["qdrant"]["kind"] == "StatefulSet"
    claims = {n: o for n, o in objects.items() if o["kind"] == "PersistentVolumeClaim"}
    assert {o["metadata"]["name"] for o in claims.values()} == {
        "semantik-data", "semantik-logs", "semantik-models", "semantik-plugins"
    }  # fmt: skip
    assert all(o["spec"]["accessModes"] == ["ReadWriteMany"] for o in claims.values())
    services = {o["metadata"]["name"] for o in objects.values() if o["kind"] == "Service"}
    assert services == {"postgres", "redis", "qdrant", "vecpipe", "webui"}
    mounts = {m["mountPath"]: m for m in pods["worker"]["containers"][0]["volumeMounts"]}
    assert mounts["/mnt/docs"]["readOnly"] and mounts["/mnt/docs-more"]["readOnly"]
    # The image holds /app/packages: compose's bind of the source is not a claim there.
    web_mounts = {m["mountPath"] for m in webui["volumeMounts"]}
    assert "/app/packages" not in web_mounts and "/app/plugins" in web_mounts
    shm = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}}
    assert shm in pods["postgres"]["volumes"]


def test_a_literal_dollar_in_a_command_survives_kubernetes_expansion() -> None:
    # Kubernetes expands $(NAME) and $$ in command and args; compose has expanded its own.
    commands = Commands(lambda text: interpolate(text, {"HOME_DIR": "/srv"}), {"SECRET"})
    argv = commands.argv(("sh", "-c", "echo $(date) $$HOME ${HOME_DIR}"))
    assert argv == {"args": ["sh", "-c", "echo $$(date) $HOME /srv"]}
    script = commands.argv(("run", "--key", "${SECRET}", "$$(x)"))
    assert script == {"command": ["sh", "-c", "exec run --key \"${SECRET}\" '$$(x)'"]}


def _psql(
    app: AppDatabase, command: list[str], sql: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The init container's psql command, with its SQL file at `sql`, against the test server."""
    connection = {
        "PGHOST": app.host, "PGPORT": str(app.port), "PGDATABASE": app.dbname,
        "PGUSER": app.user, "PGPASSWORD": app.password, "PGSSLMODE": "disable",
    }  # fmt: skip
    argv = [str(find_bindir() / "psql"), *command[1:-1], str(sql)]
    return subprocess.run(
        argv, env={"PATH": os.environ["PATH"], **env, **connection},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_first_administrator_is_inserted_once_and_never_beside_another(
    project: Path, tmp_path: Path, postgres: AppDatabase
) -> None:
    app = accounts_database(postgres)
    password = tmp_path / "admin-password"
    password.write_text(ADMIN_PASSWORD + "\n")
    objects = exported(
        project, tmp_path / "out", "--admin", "admin", "--admin-email", "admin@example.org",
        "--admin-password-file", str(password),
    )  # fmt: skip
    pod = workloads(objects)["webui"]["spec"]["template"]["spec"]
    admin = next(c for c in pod["initContainers"] if c["name"] == "first-admin")
    assert admin["image"] == "postgres:16-alpine"
    sql = tmp_path / "first-admin.sql"
    sql.write_text(objects[CONFIG_FILE]["data"]["first-admin.sql"])
    env = resolved_env(admin, objects)
    assert env["SEMANTIK_ADMIN_PASSWORD_HASH"].startswith("$2b$12$")

    def admins() -> list[tuple[str, str, str]]:
        with connect(app) as conn:
            rows = conn.execute(
                "SELECT username, email, hashed_password FROM users WHERE is_superuser "
                "AND is_active ORDER BY id"
            ).fetchall()
        return [tuple(row) for row in rows]

    for _ in range(2):
        run = _psql(app, admin["command"], sql, env)
        assert run.returncode == 0, run.stderr
        found = admins()
        assert [(u, e) for u, e, _ in found] == [("admin", "admin@example.org")]
        assert bcrypt.checkpw(ADMIN_PASSWORD.encode(), found[0][2].encode())

    with connect(app) as conn:
        conn.execute("DELETE FROM users")
        conn.execute(
            "INSERT INTO users (username, email, hashed_password, is_active, is_superuser, "
            "created_at) VALUES ('root', 'root@example.org', 'x', true, true, now())"
        )
    run = _psql(app, admin["command"], sql, env)
    assert run.returncode == 0, run.stderr
    assert [u for u, _, _ in admins()] == ["root"]


def test_reexport_is_byte_identical_and_secrets_stay_in_the_secret_file(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    password = tmp_path / "admin-password"
    password.write_text(ADMIN_PASSWORD)
    admin = ("--admin", "admin", "--admin-email", "admin@example.org")
    exported(project, out, *admin, "--admin-password-file", str(password))
    first = snapshot(out)
    assert stat.S_IMODE((out / SECRET_FILE).stat().st_mode) == 0o600
    assert SECRET_FILE in (out / KUSTOMIZATION).read_text().split("resources:")[0]
    exported(project, out, *admin, "--admin-password-file", str(password))
    assert snapshot(out) == first
    exported(project, out)  # without --admin: the earlier administrator stays
    assert snapshot(out) == first

    env = read_env(project)
    secret_hash = yaml.safe_load((out / SECRET_FILE).read_text())["stringData"][
        "SEMANTIK_ADMIN_PASSWORD_HASH"
    ]
    secrets = [str(env[key]) for key in (
        "POSTGRES_PASSWORD", "JWT_SECRET_KEY", "REDIS_PASSWORD", "QDRANT_API_KEY",
        "CONNECTOR_SECRETS_KEY", "DATABASE_URL",
    )] + [secret_hash]  # fmt: skip
    for path in out.iterdir():
        text = path.read_text()
        for value in secrets:
            assert (value in text) == (path.name == SECRET_FILE), (path.name, value[:4])


def test_generated_password_is_printed_once_and_only_its_hash_is_kept(
    project: Path, tmp_path: Path
) -> None:
    run = export(
        project, tmp_path / "out", "--documents-host-path", "--admin", "admin",
        "--admin-email", "admin@example.org", "--generate-password",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    generated = run.stdout.splitlines()[0]
    assert "docker build" in run.stdout and f"semantik-webui:{STACK_VERSION}" in run.stdout
    secret = yaml.safe_load((tmp_path / "out" / SECRET_FILE).read_text())["stringData"]
    assert bcrypt.checkpw(generated.encode(), secret["SEMANTIK_ADMIN_PASSWORD_HASH"].encode())
    assert not any(generated in p.read_text() for p in (tmp_path / "out").iterdir())
    assert "pins" in run.stderr or "only on a node" in run.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--image-registry", "https://registry.example.org"], "--image-registry"),
        (["--namespace", "Docs_NS"], "--namespace"),
        (["--documents-claim", "only-one"], "--documents-claim"),
        ([], "--documents-claim NAME"),
        (["--admin", "admin"], "--admin-email"),
    ],
)
def test_bad_input_names_the_flag_and_writes_nothing(
    project: Path, tmp_path: Path, args: list[str], named: str
) -> None:
    out = tmp_path / "out"
    claims = [] if "--documents-claim" in args or not args else ["--documents-host-path"]
    run = run_wizard(
        ["export", "kubernetes", "--out", str(out), "--image-registry", REGISTRY, *claims, *args],
        cwd=project,
    )
    assert run.returncode == 2, run.stderr
    assert named in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()


def test_no_env_and_a_loopback_database_are_refused(project: Path, tmp_path: Path) -> None:
    bare = stack_project(tmp_path / "bare")
    run = export(bare, tmp_path / "out", "--documents-host-path")
    assert run.returncode == 2 and ".env" in run.stderr and "wizard setup" in run.stderr
    run = run_wizard(
        ["setup", "--non-interactive", "--skip-db-check", "--skip-port-check",
         "--postgres-mode", "external", "--postgres-host", "127.0.0.1",
         "--postgres-password-file", "-"],
        cwd=project, input="An-external-Passw0rd!\n",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    run = export(project, tmp_path / "out", "--documents-host-path")
    assert run.returncode == 2 and "POSTGRES_HOST" in run.stderr and "loopback" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_directory_the_wizard_did_not_write_is_never_overwritten(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    run = export(project, out, "--documents-host-path")
    assert run.returncode == 2 and "--out" in run.stderr and "did not write" in run.stderr
    assert snapshot(out) == before

    own = tmp_path / "own"
    assert export(project, own, "--documents-host-path").returncode == 0
    assert (own / KUSTOMIZATION).read_text().startswith(OWNER_LINE)
    (own / "notes.txt").write_text("mine")
    run = export(project, own, "--documents-host-path", "--tag", "1.0")
    assert run.returncode == 0, run.stderr
    assert (own / "notes.txt").read_text() == "mine" and "notes.txt" in run.stderr
    assert "semantik-webui:1.0" in (own / "deployment-webui.yaml").read_text()
