"""The override and COMPOSE_FILE the wizard writes, as the real `docker-compose config` merges them.

The base compose file here stands in for the stack's own: the services webui, vecpipe, worker,
redis and qdrant, publishing their ports through variables as the stack's files do. What compose
prints is what `docker compose up -d` in that directory will run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import (
    REPO,
    compose_config,
    free_port,
    read_env,
    run_compose,
    run_wizard,
)

SERVICES = ("webui", "vecpipe", "worker", "redis", "qdrant")


def base_compose(services: tuple[str, ...] = SERVICES) -> str:
    definitions: dict[str, Any] = {
        "webui": {
            "image": "example/webui",
            "ports": ["${BIND_ADDRESS:-127.0.0.1}:${WEBUI_PORT:-8080}:8080"],
            "volumes": ["webui-data:/data"],
        },
        "vecpipe": {"image": "example/vecpipe", "ports": ["${BIND_ADDRESS:-127.0.0.1}:8000:8000"]},
        "worker": {"image": "example/worker"},
        "redis": {"image": "redis:7"},
        "qdrant": {"image": "qdrant/qdrant"},
    }
    data = {
        "services": {name: definitions[name] for name in services},
        "volumes": {"webui-data": {}},
    }
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """A deployment directory holding the stack's base compose.yaml."""
    root = tmp_path / "stack"
    root.mkdir()
    (root / "compose.yaml").write_text(base_compose())
    return root


EXTERNAL_PASSWORD = "The external server's password 1"


def setup(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Non-interactive setup that must succeed. Ports are not checked: these tests are about the
    files, and the base file's fixed ports (8080, 8000) may be taken on the machine running them.
    An external server's password is given (the wizard cannot generate the server's own)."""
    env = {"WIZARD_POSTGRES_PASSWORD": EXTERNAL_PASSWORD} if "external" in args else None
    run = run_wizard(
        ["setup", "--skip-port-check", "--postgres-host-port", str(free_port()), *args],
        cwd=project,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    return run


def doc_mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in service.get("volumes", []) if v["target"].startswith("/mnt/docs/")]


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]] | None:
    devices: list[dict[str, Any]] | None = (
        service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    )
    return devices


def test_document_directories_are_mounted_read_only_into_webui_and_worker_only(
    stack: Path, tmp_path: Path
) -> None:
    names = ["my docs", "a:b", "cost$ 100", "one/docs", "two/docs"]
    dirs = [tmp_path / "documents" / name for name in names]
    for path in dirs:
        path.mkdir(parents=True)
    setup(stack, *[arg for path in dirs for arg in ("--doc-dir", str(path))])

    services = compose_config(stack)["services"]
    expected = [
        {"type": "bind", "source": str(path), "target": target, "read_only": True}
        for path, target in zip(
            dirs,
            [
                "/mnt/docs/my-docs",
                "/mnt/docs/a-b",
                "/mnt/docs/cost-100",
                "/mnt/docs/docs",
                "/mnt/docs/docs-2",
            ],
            strict=True,
        )
    ]
    for name in ("webui", "worker"):
        assert doc_mounts(services[name]) == expected
    # The base file's own volume is kept: compose merges the override's list into it.
    assert {"type": "volume", "source": "webui-data", "target": "/data", "volume": {}} in services[
        "webui"
    ]["volumes"]
    for name in ("vecpipe", "redis", "qdrant", "postgres"):
        assert doc_mounts(services[name]) == []
    assert read_env(stack)["DOCUMENT_PATHS"] == ",".join(m["target"] for m in expected)


def test_rerun_keeps_every_mount_target_and_adds_new_ones(stack: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "Reports", tmp_path / "reports"
    first.mkdir()
    second.mkdir()
    setup(stack, "--doc-dir", str(first))
    setup(stack, "--doc-dir", str(second), "--doc-dir", str(first))
    mounts = doc_mounts(compose_config(stack)["services"]["webui"])
    assert [(m["source"], m["target"]) for m in mounts] == [
        (str(second), "/mnt/docs/reports-2"),
        (str(first), "/mnt/docs/reports"),  # unchanged: the app may have indexed this path
    ]
    setup(stack)  # nothing given: the directories come from the override itself
    assert doc_mounts(compose_config(stack)["services"]["webui"]) == mounts


@pytest.mark.parametrize(
    ("gpu_args", "expected"),
    [
        pytest.param([], {"count": -1}, id="all"),  # compose prints `count: all` as -1
        pytest.param(["--gpu-ids", "0,1"], {"device_ids": ["0", "1"]}, id="device-ids"),
    ],
)
def test_gpu_deployment_reserves_nvidia_devices_on_vecpipe_only(
    stack: Path, tmp_path: Path, gpu_args: list[str], expected: dict[str, Any]
) -> None:
    (tmp_path / "docs").mkdir()
    setup(stack, "--doc-dir", str(tmp_path / "docs"), "--deployment", "gpu", *gpu_args)
    services = compose_config(stack)["services"]
    device = {"driver": "nvidia", "capabilities": ["gpu"], **expected}
    assert gpu_devices(services["vecpipe"]) == [device]
    # The stack's worker routes its encoding through vecpipe: it gets no GPU.
    for name in ("worker", "webui", "redis", "qdrant", "postgres"):
        assert gpu_devices(services[name]) is None
    assert read_env(stack)["USE_GPU"] == "true"

    # Back to CPU: the reservations go, the GPU ids are remembered for the next switch.
    setup(stack, "--deployment", "cpu")
    config = compose_config(stack)
    assert all(gpu_devices(service) is None for service in config["services"].values())
    assert read_env(stack)["USE_GPU"] == "false"
    assert config["x-wizard"].get("gpu_ids", []) == expected.get("device_ids", [])


def test_role_naming_a_missing_service_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "stack"
    root.mkdir()
    (root / "docker-compose.yml").write_text(base_compose(("webui", "vecpipe", "redis")))
    (tmp_path / "docs").mkdir()
    setup(root, "--doc-dir", str(tmp_path / "docs"), "--deployment", "gpu")
    # A `worker` in the override alone would be a service without an image: compose refuses it.
    services = compose_config(root)["services"]
    assert set(services) == {"webui", "vecpipe", "redis", "postgres"}
    assert doc_mounts(services["webui"])
    assert gpu_devices(services["vecpipe"])
    assert read_env(root)["COMPOSE_FILE"] == (
        "docker-compose.yml:docker-compose.postgres.yml:docker-compose.override.yml"
    )


def test_base_file_without_a_service_that_reads_documents_is_warned_about(
    tmp_path: Path,
) -> None:
    root = tmp_path / "stack"
    root.mkdir()
    (root / "compose.yaml").write_text(base_compose(("vecpipe", "redis", "qdrant")))
    (tmp_path / "docs").mkdir()

    done = setup(root, "--doc-dir", str(tmp_path / "docs"))

    assert (
        "! No service of the base compose file reads the documents: compose.yaml defines none of "
        "the services templates/stack.yaml names for them (webui, worker), so the document "
        "directories are recorded but mounted nowhere. Name the stack's services under "
        "roles.documents in templates/stack.yaml."
    ) in done.stderr.splitlines()
    services = compose_config(root)["services"]
    assert not any(doc_mounts(service) for service in services.values())


def test_base_file_with_a_service_that_reads_documents_gets_no_warning(
    stack: Path, tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()

    done = setup(stack, "--doc-dir", str(tmp_path / "docs"))

    assert "reads the documents" not in done.stderr
    assert doc_mounts(compose_config(stack)["services"]["webui"])


def test_without_a_base_file_only_the_database_is_configured(tmp_path: Path) -> None:
    root = tmp_path / "stack"
    (root / "docs").mkdir(parents=True)
    done = setup(root, "--doc-dir", "docs", "--deployment", "gpu")
    assert (
        f"! No service of the base compose file reads the documents: {root} has no base compose "
        "file (compose.yaml, docker-compose.yml, ...), so the document directories are recorded "
        "but mounted nowhere. Run the wizard in the directory of the semantik stack's "
        "docker-compose.yml (templates/stack.yaml names the services that read them: webui, "
        "worker)."
    ) in done.stderr.splitlines()
    config = compose_config(root)
    assert set(config["services"]) == {"postgres"}
    assert config["x-wizard"]["documents"] == [
        {"source": str(root / "docs"), "target": "/mnt/docs/docs"}
    ]
    assert read_env(root)["COMPOSE_FILE"] == (
        "docker-compose.postgres.yml:docker-compose.override.yml"
    )


def test_compose_file_makes_plain_compose_load_base_postgres_and_override(
    stack: Path, tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()
    setup(stack, "--doc-dir", str(tmp_path / "docs"), "--bind-address", "0.0.0.0")
    assert read_env(stack)["COMPOSE_FILE"] == (
        "compose.yaml:docker-compose.postgres.yml:docker-compose.override.yml"
    )
    plain = compose_config(stack)
    explicit = compose_config(
        stack, "compose.yaml", "docker-compose.postgres.yml", "docker-compose.override.yml"
    )
    assert plain == explicit
    assert set(plain["services"]) == {*SERVICES, "postgres"}
    # The override adds no ports (compose would concatenate them): each port is published once,
    # at the bind address the wizard wrote.
    [webui_port] = plain["services"]["webui"]["ports"]
    assert (webui_port["host_ip"], webui_port["published"]) == ("0.0.0.0", "8080")
    assert doc_mounts(plain["services"]["webui"])


def test_own_compose_override_keeps_applying_once_compose_file_is_set(
    stack: Path, tmp_path: Path
) -> None:
    # Before the wizard, a plain `docker compose up` loaded compose.override.yaml by itself.
    (stack / "compose.override.yaml").write_text(
        "services:\n  redis:\n    environment:\n      TUNED: 'yes'\n"
    )
    assert compose_config(stack)["services"]["redis"]["environment"] == {"TUNED": "yes"}
    (tmp_path / "docs").mkdir()
    setup(stack, "--doc-dir", str(tmp_path / "docs"))
    assert read_env(stack)["COMPOSE_FILE"] == (
        "compose.yaml:docker-compose.postgres.yml:compose.override.yaml:docker-compose.override.yml"
    )
    services = compose_config(stack)["services"]
    assert services["redis"]["environment"] == {"TUNED": "yes"}
    assert doc_mounts(services["webui"])


def test_external_postgres_leaves_the_bundled_service_out(stack: Path, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    setup(
        stack,
        "--doc-dir",
        str(tmp_path / "docs"),
        "--postgres-mode",
        "external",
        "--postgres-host",
        "10.0.0.5",
        "--postgres-port",
        "6543",
        "--skip-db-check",
    )
    env = read_env(stack)
    assert env["COMPOSE_FILE"] == "compose.yaml:docker-compose.override.yml"
    assert env["POSTGRES_HOST"] == "10.0.0.5" and env["POSTGRES_PORT"] == "6543"
    assert str(env["DATABASE_URL"]).startswith("postgresql://docsearch:")
    assert str(env["DATABASE_URL"]).endswith("@10.0.0.5:6543/docsearch")
    assert not (stack / "docker-compose.postgres.yml").exists()
    config = compose_config(stack)
    assert "postgres" not in config["services"]
    assert "postgres-data" not in config.get("volumes", {})


def test_bundled_postgres_has_the_password_and_port_and_no_insecure_default(
    stack: Path, tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()
    port = free_port()
    run = run_wizard(
        [
            "setup",
            "--skip-port-check",
            "--doc-dir",
            str(tmp_path / "docs"),
            "--postgres-host-port",
            str(port),
            "--bind-address",
            "0.0.0.0",
        ],
        cwd=stack,
    )
    assert run.returncode == 0, run.stderr
    env = read_env(stack)
    postgres = compose_config(stack)["services"]["postgres"]
    environment = postgres["environment"]
    assert environment["POSTGRES_PASSWORD"] == env["POSTGRES_PASSWORD"]
    assert environment["POSTGRES_USER"] == env["POSTGRES_USER"] == "docsearch"
    assert environment["POSTGRES_DB"] == env["POSTGRES_DB"] == "docsearch"
    assert environment["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"  # never `trust`
    [published] = postgres["ports"]
    assert (published["host_ip"], published["published"], published["target"]) == (
        "0.0.0.0",
        str(port),
        5432,
    )

    # No password, no database: compose refuses to run the service with a clear message.
    (stack / ".env").write_text("COMPOSE_FILE=compose.yaml:docker-compose.postgres.yml\n")
    refused = run_compose(stack, "config", "--format", "json")
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD is not set" in refused.stderr


def test_shipped_postgres_file_publishes_on_bind_address_and_host_port() -> None:
    service = yaml.safe_load((REPO / "docker-compose.postgres.yml").read_text())["services"][
        "postgres"
    ]
    assert service["ports"] == ["${BIND_ADDRESS:-127.0.0.1}:${POSTGRES_HOST_PORT:-5432}:5432"]
    assert service["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def ca_mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in service.get("volumes", []) if v["target"] == "/run/wizard/postgres-root.crt"]


def test_external_ca_file_is_mounted_into_the_database_clients_and_not_carried_to_bundled(
    stack: Path, tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()
    certs = tmp_path / "my certs"
    certs.mkdir()
    (certs / "root $ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    external = ["--postgres-mode", "external", "--postgres-host", "10.0.0.5", "--skip-db-check"]
    # Relative to the current directory, as every path on the command line.
    run = run_wizard(
        [
            "setup",
            "--skip-port-check",
            "--doc-dir",
            str(tmp_path / "docs"),
            *external,
            "--postgres-sslmode",
            "verify-full",
            "--postgres-sslrootcert",
            "my certs/root $ca.pem",
        ],
        cwd=tmp_path,
        env={"WIZARD_PROJECT_DIR": str(stack), "WIZARD_POSTGRES_PASSWORD": EXTERNAL_PASSWORD},
    )
    assert run.returncode == 0, run.stderr
    env = read_env(stack)
    assert env["POSTGRES_SSLROOTCERT"] == str(certs / "root $ca.pem")
    assert "?" not in str(env["DATABASE_URL"])
    services = compose_config(stack)["services"]
    for name in ("webui", "vecpipe", "worker"):
        environment = services[name]["environment"]
        assert environment["PGSSLMODE"] == "verify-full"
        assert environment["PGSSLROOTCERT"] == "/run/wizard/postgres-root.crt"
    mount = {
        "type": "bind",
        "source": str(certs / "root $ca.pem"),
        "target": "/run/wizard/postgres-root.crt",
        "read_only": True,
    }
    for name in ("webui", "vecpipe", "worker"):
        assert ca_mounts(services[name]) == [mount]
    for name in ("redis", "qdrant"):
        assert ca_mounts(services[name]) == []

    # To the bundled server: its plain-TCP default, not the external server's verify-full.
    setup(stack, "--postgres-mode", "bundled")
    env = read_env(stack)
    assert env["POSTGRES_SSLMODE"] == "disable"
    assert env["POSTGRES_SSLROOTCERT"] == ""
    assert str(env["DATABASE_URL"]).endswith("@postgres:5432/docsearch")
    services = compose_config(stack)["services"]
    assert all(ca_mounts(service) == [] for service in services.values())

    # And back: an external server starts at `prefer`, not at the bundled server's `disable`.
    setup(stack, *external)
    assert read_env(stack)["POSTGRES_SSLMODE"] == "prefer"
