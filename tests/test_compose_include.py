"""Every file compose loads is the contract: `include:` and `extends:` followed, YAML bounded.

Each case runs the real wizard on the real stack's compose file and reads the result with the
real `docker-compose config`: every port compose will publish, from whichever file, is bound to
the chosen address and checked before anything is written. What the wizard cannot follow is
refused (exit 2) naming it, rather than written half-right.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from helpers import compose_config, free_port, run_wizard, stack_project


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    return stack_project(tmp_path)


def including(stack: Path, entry: str) -> None:
    """The stack's compose file with a top-level `include:` of `entry` (a YAML flow value)."""
    base = stack / "docker-compose.yml"
    base.write_text(f"include: [{entry}]\n" + base.read_text())


def setup(stack: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_wizard(
        ["setup", "--non-interactive", "--skip-db-check", "--doc-dir", "docs", *args], cwd=stack
    )


def host_ips(stack: Path, service: str) -> list[str]:
    return [port.get("host_ip", "") for port in compose_config(stack)["services"][service]["ports"]]


@pytest.mark.parametrize("form", ["extra.yml", "{path: extra.yml}", "{path: [extra.yml]}"])
def test_ports_of_an_included_file_bind_to_the_address(stack: Path, form: str) -> None:
    port = free_port()
    (stack / "extra.yml").write_text(
        f"services:\n  extra:\n    image: redis\n    ports: ['{port}:{port}']\n"
    )
    including(stack, form)

    done = setup(stack)

    assert done.returncode == 0, done.stderr
    assert host_ips(stack, "extra") == ["127.0.0.1"]


def test_ports_a_service_extends_from_another_file_bind_to_the_address(stack: Path) -> None:
    port = free_port()
    (stack / "common.yml").write_text(
        f"services:\n  cache:\n    image: redis\n    ports: ['{port}:6379']\n"
    )
    base = stack / "docker-compose.yml"
    extra = "  extra:\n    extends: {file: common.yml, service: cache}\n    ports: ['7999:80']\n"
    base.write_text(base.read_text().replace("\n  webui:\n", f"\n{extra}  webui:\n", 1))

    done = setup(stack, "--skip-port-check")

    assert done.returncode == 0, done.stderr
    assert host_ips(stack, "extra") == ["127.0.0.1", "127.0.0.1"]


def test_a_taken_port_of_an_included_file_is_found_before_writing(stack: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        (stack / "extra.yml").write_text(
            f"services:\n  extra:\n    image: redis\n    ports: ['{port}:{port}']\n"
        )
        including(stack, "extra.yml")

        done = setup(stack)

    assert done.returncode == 1, done.stderr
    assert f"{port}" in done.stderr and "extra" in done.stderr
    assert not (stack / ".env").exists()


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("{path: extra.yml, env_file: extra.env}", "`env_file` cannot be followed"),
        ("{path: extra.yml, project_directory: sub}", "`project_directory` cannot be followed"),
        ("'oci://registry.example/extra:1'", "is a remote resource"),
        ("sub/extra.yml", "lies in a directory with its own .env"),
    ],
)
def test_an_include_the_wizard_cannot_follow_is_refused_naming_it(
    stack: Path, entry: str, named: str
) -> None:
    (stack / "sub").mkdir()
    for path in (stack / "extra.yml", stack / "sub" / "extra.yml"):
        path.write_text("services:\n  extra:\n    image: redis\n    ports: ['5555:5555']\n")
    (stack / "sub" / ".env").write_text("EXTRA=1\n")
    including(stack, entry)

    done = setup(stack, "--skip-port-check")

    assert done.returncode == 2, done.stderr
    assert f"{stack / 'docker-compose.yml'}: include[0]: " in done.stderr
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert not (stack / ".env").exists()


def test_a_missing_or_unreadable_file_says_where_it_is_named(stack: Path) -> None:
    including(stack, "extra.yml")
    base = stack / "docker-compose.yml"

    done = setup(stack, "--skip-port-check")

    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"error: {stack / 'extra.yml'}: the compose file does not exist; create it or remove it "
        f"from the `include:` of {base}"
    ]
    (stack / "extra.yml").mkdir()
    done = setup(stack, "--skip-port-check")
    assert done.returncode == 2, done.stderr
    assert f"error: {stack / 'extra.yml'}: cannot be read (" in done.stderr
    assert not (stack / ".env").exists()


def test_a_yaml_alias_bomb_in_a_service_is_refused_at_once_naming_the_file(stack: Path) -> None:
    levels = ['      l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"      l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    base = stack / "docker-compose.yml"
    text = base.read_text()
    assert "\n  webui:\n" in text
    base.write_text(
        text.replace("\n  webui:\n", "\n  webui:\n    x-bomb:\n" + "\n".join(levels) + "\n", 1)
    )

    started = time.monotonic()
    done = setup(stack, "--skip-port-check")

    assert time.monotonic() - started < 20  # without a bound: minutes at full CPU
    assert done.returncode == 2, done.stderr
    assert f"{base}: its aliases (*name) expand it to more than 100,000 values" in done.stderr
    assert not (stack / ".env").exists()
