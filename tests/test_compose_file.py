"""COMPOSE_FILE across re-runs: files a person added by hand stay, and their ports are checked."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers import compose_config, free_port, read_env, run_compose, run_wizard, snapshot


def write_compose(path: Path, services: dict[str, object]) -> None:
    path.write_text(yaml.safe_dump({"services": services}, sort_keys=False))


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    root = tmp_path / "stack"
    (root / "docs").mkdir(parents=True)
    write_compose(root / "compose.yaml", {"webui": {"image": "example/webui"}})
    return root


def setup(project: Path, *args: str) -> None:
    run = run_wizard(["setup", "--doc-dir", "docs", *args], cwd=project)
    assert run.returncode == 0, run.stderr


def add_monitoring(project: Path, port: int) -> None:
    """A person adds their own compose file and lists it in COMPOSE_FILE by hand."""
    write_compose(
        project / "monitoring.yml",
        {"grafana": {"image": "grafana/grafana", "ports": [f"127.0.0.1:{port}:3000"]}},
    )
    env = project / ".env"
    text = env.read_text()
    current = read_env(project)["COMPOSE_FILE"]
    env.write_text(
        text.replace(
            f"COMPOSE_FILE='{current}'",
            "COMPOSE_FILE='compose.yaml:docker-compose.postgres.yml:monitoring.yml:"
            "docker-compose.override.yml'",
        )
    )


def test_rerun_keeps_a_compose_file_added_by_hand(stack: Path) -> None:
    setup(stack, "--postgres-host-port", str(free_port()))
    add_monitoring(stack, free_port())

    setup(stack, "--log-level", "DEBUG")

    assert read_env(stack)["COMPOSE_FILE"] == (
        "compose.yaml:docker-compose.postgres.yml:monitoring.yml:docker-compose.override.yml"
    )
    assert set(compose_config(stack)["services"]) == {"webui", "postgres", "grafana"}


def test_switch_to_external_keeps_the_added_file_and_drops_only_postgres(stack: Path) -> None:
    setup(stack, "--postgres-host-port", str(free_port()))
    add_monitoring(stack, free_port())

    run = run_wizard(
        ["setup", "--postgres-mode", "external", "--postgres-host", "db.internal",
         "--skip-db-check"],
        cwd=stack,
        env={"WIZARD_POSTGRES_PASSWORD": "The server's own password 1"},
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert read_env(stack)["COMPOSE_FILE"] == (
        "compose.yaml:monitoring.yml:docker-compose.override.yml"
    )


def test_a_file_listed_by_hand_that_is_not_there_is_named_before_compose_stops_on_it(
    stack: Path,
) -> None:
    setup(stack, "--postgres-host-port", str(free_port()))
    env = stack / ".env"
    current = read_env(stack)["COMPOSE_FILE"]
    env.write_text(
        env.read_text().replace(f"COMPOSE_FILE='{current}'", f"COMPOSE_FILE='{current}:extra.yml'")
    )
    refused = run_compose(stack, "config")
    assert refused.returncode != 0 and "extra.yml: no such file" in refused.stderr  # compose's word
    before = snapshot(stack)

    run = run_wizard(["setup", "--log-level", "DEBUG"], cwd=stack)

    assert run.returncode == 2
    assert "COMPOSE_FILE in .env lists extra.yml, which is not there" in run.stderr
    assert "take it out of COMPOSE_FILE" in run.stderr
    assert snapshot(stack) == before
    check = run_wizard(["check", "--json"], cwd=stack)
    assert check.returncode == 1
    assert "lists extra.yml, which is not there" in check.stdout

    (stack / "extra.yml").mkdir()
    run = run_wizard(["setup", "--log-level", "DEBUG"], cwd=stack)
    assert run.returncode == 2 and "which is a directory, not a compose file" in run.stderr


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_port_of_a_file_added_by_hand_is_checked_on_rerun(stack: Path, held_port: int) -> None:
    setup(stack, "--postgres-host-port", str(free_port()))
    add_monitoring(stack, held_port)
    before = (stack / ".env").read_bytes()

    run = run_wizard(["setup", "--log-level", "DEBUG"], cwd=stack)

    assert run.returncode == 1
    assert f"port {held_port}" in run.stderr and "grafana" in run.stderr
    assert (stack / ".env").read_bytes() == before


def test_fresh_env_holds_every_owned_key_in_the_template_order(stack: Path) -> None:
    from wizard.config.envkeys import ENV_KEYS

    setup(stack, "--postgres-host-port", str(free_port()))

    assert tuple(read_env(stack)) == ENV_KEYS


def test_compose_file_entries_spelled_with_dot_slash_are_the_wizards_own(stack: Path) -> None:
    setup(stack, "--postgres-host-port", str(free_port()))
    env = stack / ".env"
    current = read_env(stack)["COMPOSE_FILE"]
    env.write_text(
        env.read_text().replace(
            f"COMPOSE_FILE='{current}'",
            "COMPOSE_FILE='./compose.yaml:./docker-compose.postgres.yml:"
            "docker-compose.override.yml'",
        )
    )

    run = run_wizard(
        ["setup", "--postgres-mode", "external", "--postgres-host", "db.internal",
         "--skip-db-check"],
        cwd=stack,
        env={"WIZARD_POSTGRES_PASSWORD": "The server's own password 1"},
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert read_env(stack)["COMPOSE_FILE"] == "compose.yaml:docker-compose.override.yml"
    assert "postgres" not in compose_config(stack)["services"]


def test_ports_of_a_running_stack_without_compose_file_are_its_own(tmp_path: Path) -> None:
    """A hand-written .env without COMPOSE_FILE: compose loads its default files, so the ports
    they publish, held by this stack's running containers, are no conflict on a re-run."""
    from helpers import docker_proxy

    project = tmp_path / "stack"
    (project / "docs").mkdir(parents=True)
    with docker_proxy() as (port, _pid):
        write_compose(
            project / "compose.yaml",
            {"webui": {"image": "example/webui", "ports": ["127.0.0.1:${API_PORT}:8080"]}},
        )
        (project / ".env").write_text(f"API_PORT={port}\n")

        run = run_wizard(
            ["setup", "--doc-dir", "docs", "--postgres-host-port", str(free_port())],
            cwd=project,
        )

    assert run.returncode == 0, run.stderr
    assert f"port {port} is in use by this stack" in run.stderr


SECRET_LINE = "c2VjcmV0LXRva2VuLXZhbHVl"  # base64 of a token, pasted on a line of its own


def test_secret_pasted_on_its_own_line_is_not_shown_by_the_rerun_diff(stack: Path) -> None:
    setup(stack, "--postgres-host-port", str(free_port()))
    with (stack / ".env").open("a") as env:
        env.write(f"{SECRET_LINE}==\n")

    run = run_wizard(["setup", "--token-expiry-minutes", "60"], cwd=stack)

    assert run.returncode == 0, run.stderr
    assert "ACCESS_TOKEN_EXPIRE_MINUTES='60'" in run.stderr  # the diff is shown ...
    assert SECRET_LINE[:12] not in run.stderr + run.stdout  # ... without the pasted secret


def test_secret_that_compose_cannot_read_as_a_name_is_not_echoed(stack: Path) -> None:
    setup(stack, "--postgres-host-port", str(free_port()))
    with (stack / ".env").open("a") as env:
        env.write("c2Vj+cmV0/LXRva2VuLXZhbHVl==\n")

    for args in (["setup"], ["check", "--json"]):
        run = run_wizard(args, cwd=stack)
        assert run.returncode in (1, 2), run.stderr
        assert "c2Vj" not in run.stderr + run.stdout
