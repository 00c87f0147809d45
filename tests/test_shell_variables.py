"""Variables from the shell are read as compose reads them: the environment first, then .env.

The real wizard runs in a subprocess whose environment sets the variable; the port it names is
held by a real listening socket, and the real `docker-compose config` confirms what compose does.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, read_env, run_compose, run_wizard


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def project_publishing(tmp_path: Path, host_part: str) -> Path:
    project = tmp_path / "deploy"
    (project / "docs").mkdir(parents=True)
    (project / "docker-compose.yml").write_text(
        f'services:\n  webui:\n    image: nginx\n    ports: ["{host_part}:8080"]\n'
    )
    return project


SETUP = ["setup", "--non-interactive", "--doc-dir", "docs", "--skip-db-check"]


def test_a_port_the_shell_moves_is_the_one_setup_and_check_test(tmp_path: Path, taken: int) -> None:
    project = project_publishing(tmp_path, f"${{WEBUI_PORT:-{free_port()}}}")
    shell = {"WEBUI_PORT": str(taken)}
    (project / ".env").write_text("")

    done = run_wizard([*SETUP, "--postgres-host-port", str(free_port())], cwd=project, env=shell)

    assert done.returncode == 1, done.stderr
    assert f"port {taken} on 127.0.0.1 (webui) is in use" in done.stderr
    assert "From the shell, not from .env: WEBUI_PORT=" + str(taken) in done.stderr

    written = run_wizard(
        [*SETUP, "--skip-port-check", "--postgres-host-port", str(free_port())],
        cwd=project,
        env=shell,
    )
    assert written.returncode == 0, written.stderr
    checked = run_wizard(["check", "--json"], cwd=project, env=shell)
    rows = json.loads(checked.stdout)["checks"]
    ports = [row for row in rows if row["name"] == "port" and f"port {taken} " in row["detail"]]
    assert [row["status"] for row in ports] == ["fail"], rows
    [note] = [row for row in rows if row["name"] == "shell"]
    assert note["status"] == "warn" and f"WEBUI_PORT={taken}" in note["detail"]


def test_a_required_variable_the_shell_sets_is_not_missing(tmp_path: Path) -> None:
    port = free_port()
    project = project_publishing(tmp_path, "${WEBUI_PORT:?set WEBUI_PORT}")
    shell = {"WEBUI_PORT": str(port)}

    done = run_wizard([*SETUP, "--postgres-host-port", str(free_port())], cwd=project, env=shell)

    assert done.returncode == 0, done.stderr
    assert "required variable WEBUI_PORT is missing" not in done.stderr
    config = run_compose(project, "config", "--format", "json", env=shell)
    assert config.returncode == 0, config.stderr
    webui = json.loads(config.stdout)["services"]["webui"]
    assert webui["ports"][0]["published"] == str(port)  # compose itself agrees


def test_a_secret_from_the_shell_is_named_but_never_shown(tmp_path: Path) -> None:
    project = project_publishing(tmp_path, str(free_port()))
    compose = project / "docker-compose.yml"
    compose.write_text(compose.read_text() + '    environment: ["TOKEN=${API_TOKEN}"]\n')

    done = run_wizard(
        [*SETUP, "--skip-port-check"], cwd=project, env={"API_TOKEN": "s3cret-value-0123"}
    )

    assert done.returncode == 0, done.stderr
    assert "From the shell, not from .env: API_TOKEN (" in done.stderr
    assert "s3cret-value-0123" not in done.stdout + done.stderr


def test_a_compose_file_list_from_the_shell_is_named(tmp_path: Path) -> None:
    # compose takes COMPOSE_FILE from the shell before .env: here it would leave out the
    # wizard's override, and with it the document mounts.
    project = project_publishing(tmp_path, str(free_port()))
    shell = {"COMPOSE_FILE": "docker-compose.yml"}

    done = run_wizard([*SETUP, "--skip-port-check"], cwd=project, env=shell)

    assert done.returncode == 0, done.stderr
    assert "From the shell, not from .env: COMPOSE_FILE (" in done.stderr
    config = run_compose(project, "config", "--format", "json", env=shell)
    assert config.returncode == 0, config.stderr
    assert "volumes" not in json.loads(config.stdout)["services"]["webui"]  # compose agrees
    checked = run_wizard(["check", "--json"], cwd=project, env=shell)
    [note] = [row for row in json.loads(checked.stdout)["checks"] if row["name"] == "shell"]
    assert note["status"] == "warn" and "COMPOSE_FILE" in note["detail"]
    # The same list as .env's is no news, however spelled; nor the list setup is about to write.
    written = read_env(project)["COMPOSE_FILE"] or ""
    same = {"COMPOSE_FILE": ":".join(f"./{name}" for name in written.split(":"))}
    checked = run_wizard(["check", "--json"], cwd=project, env=same)
    assert "shell" not in {row["name"] for row in json.loads(checked.stdout)["checks"]}
    (project / ".env").unlink()
    again = run_wizard([*SETUP, "--skip-port-check"], cwd=project, env=same)
    assert again.returncode == 0, again.stderr
    assert "COMPOSE_FILE" not in again.stderr
