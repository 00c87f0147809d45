"""Production mode by default: ENVIRONMENT, the stack's internal API key, and what the stack's
own entrypoint would make of the environment compose gives each service.

Every assertion about the services reads the real `docker-compose config` over the stand-in of
the stack's compose file (tests/stack/docker-compose.yml: `ENVIRONMENT=${ENVIRONMENT:-development}`
in the app services, INTERNAL_API_KEY given to none of them, as in the stack's own file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from helpers import compose_config, read_env, run_wizard, setup_ok, stack_project

# The services whose code reads INTERNAL_API_KEY (the stack's BaseConfig; webui/main.py,
# webui/celery_app.py for worker and beat, vecpipe's lifespan).
KEY_READERS = ("webui", "vecpipe", "worker", "beat")


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    return stack_project(tmp_path)


setup = setup_ok


# --- the stack's entrypoint rules (scripts/validate_env.py --strict), written from its text -----

PLACEHOLDERS = {
    "JWT_SECRET_KEY": {"CHANGE_THIS_TO_A_STRONG_SECRET_KEY"},
    "INTERNAL_API_KEY": {
        "your-internal-api-key-here",
        "CHANGE_THIS_TO_A_STRONG_INTERNAL_API_KEY",
        "INTERNAL_API_KEY_PLACEHOLDER",
    },
    "POSTGRES_PASSWORD": {"CHANGE_THIS_TO_A_STRONG_PASSWORD"},
}


def weak(value: str, minimum: int) -> bool:
    kinds = sum(
        (
            any(c.isupper() for c in value),
            any(c.islower() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    if len(value) < minimum:
        return True
    return not (kinds >= 3 or (len(value) >= 32 and kinds >= 2))


def entrypoint_refusals(env: Mapping[str, str]) -> list[str]:
    """What the stack's entrypoint refuses in a service's environment (FLOWER_ENABLED=false, as
    the stack runs without Flower)."""
    refused = []
    for key, placeholders in PLACEHOLDERS.items():
        value = env.get(key)
        if value is None or not value.strip():
            continue
        if value.strip() in placeholders:
            refused.append(f"{key}: placeholder")
        elif weak(value, 12 if key == "POSTGRES_PASSWORD" else 16):
            refused.append(f"{key}: weak")
    return refused


def test_the_entrypoint_rules_refuse_what_the_stack_refuses() -> None:
    # The rules of this file against the cases the stack's own script decides.
    assert entrypoint_refusals({"INTERNAL_API_KEY": "your-internal-api-key-here"})
    assert entrypoint_refusals({"INTERNAL_API_KEY": "abcdefabcdefabc1"})  # 16, two kinds
    assert not entrypoint_refusals({"INTERNAL_API_KEY": "abcdef0123456789" * 2})  # 32 of two
    assert not entrypoint_refusals({"INTERNAL_API_KEY": "Abcdefgh1234567!"})
    assert entrypoint_refusals({"POSTGRES_PASSWORD": "Short1!"})
    assert not entrypoint_refusals({"INTERNAL_API_KEY": ""})  # unset: not checked


# --- production -------------------------------------------------------------------------------


def test_a_new_install_runs_in_production_with_one_internal_key_in_every_reader(
    stack: Path,
) -> None:
    output = setup(stack, "--doc-dir", "docs")

    values = read_env(stack)
    assert values["ENVIRONMENT"] == "production"
    key = str(values["INTERNAL_API_KEY"])
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key not in output  # masked
    # The override hands it on by reference: the key is in .env only.
    assert key not in (stack / "docker-compose.override.yml").read_text()

    services = compose_config(stack)["services"]
    for name in KEY_READERS:
        environment = services[name]["environment"]
        assert environment["ENVIRONMENT"] == "production", name
        assert environment["INTERNAL_API_KEY"] == key, name
        assert entrypoint_refusals({**environment, "FLOWER_ENABLED": "false"}) == [], name
    for name in ("postgres", "redis", "qdrant"):
        assert "INTERNAL_API_KEY" not in (services[name].get("environment") or {})

    setup(stack, "--log-level", "DEBUG")
    assert read_env(stack)["INTERNAL_API_KEY"] == key  # kept byte for byte


def test_rotate_replaces_the_internal_key_only(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")
    before = read_env(stack)

    setup(stack, "--rotate", "INTERNAL_API_KEY")

    after = read_env(stack)
    assert after["INTERNAL_API_KEY"] != before["INTERNAL_API_KEY"]
    for key in ("REDIS_PASSWORD", "QDRANT_API_KEY", "JWT_SECRET_KEY", "POSTGRES_PASSWORD"):
        assert after[key] == before[key]


def test_development_writes_no_internal_key_and_passes_the_entrypoint(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs", "--environment", "development")

    values = read_env(stack)
    assert values["ENVIRONMENT"] == "development"
    assert not values.get("INTERNAL_API_KEY")
    services = compose_config(stack)["services"]
    for name in KEY_READERS:
        environment = services[name]["environment"]
        assert environment["ENVIRONMENT"] == "development"
        assert "INTERNAL_API_KEY" not in environment
        assert entrypoint_refusals({**environment, "FLOWER_ENABLED": "false"}) == []


def test_a_weak_internal_key_set_by_hand_is_refused_with_the_stacks_rule(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")
    env_path = stack / ".env"
    text = env_path.read_text()
    key = str(read_env(stack)["INTERNAL_API_KEY"])
    env_path.write_text(text.replace(key, "abcdefabcdefabcd"))
    before = env_path.read_bytes()

    run = run_wizard(["setup", "--non-interactive", "--skip-port-check"], cwd=stack)

    assert run.returncode == 2
    assert "INTERNAL_API_KEY: is too weak for the stack" in run.stderr
    assert "scripts/validate_env.py" in run.stderr and "--rotate INTERNAL_API_KEY" in run.stderr
    assert "abcdefabcdefabcd" not in run.stderr + run.stdout
    assert env_path.read_bytes() == before


def test_an_install_without_environment_stays_in_development_and_the_review_says_so(
    stack: Path,
) -> None:
    setup(stack, "--doc-dir", "docs", "--environment", "development")
    env_path = stack / ".env"
    env_path.write_text(re.sub(r"(?m)^ENVIRONMENT=.*\n", "", env_path.read_text()))

    shown = run_wizard(["show"], cwd=stack, env={"COLUMNS": "200"})
    [line] = [line for line in shown.stdout.splitlines() if "Environment" in line]
    assert "development (as until now: .env has no ENVIRONMENT, compose's default)" in line

    setup(stack)
    values = read_env(stack)
    assert values["ENVIRONMENT"] == "development"
    assert not values.get("INTERNAL_API_KEY")


def check_rows(project: Path) -> tuple[int, list[dict[str, str]]]:
    run = run_wizard(["check", "--json", "--db-timeout", "2"], cwd=project)
    data = json.loads(run.stdout)
    return run.returncode, [row for row in data["checks"] if row["name"] == "environment"]


def test_check_fails_production_without_the_internal_key(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs")
    code, [row] = check_rows(stack)
    assert row["status"] == "ok" and row["detail"] == "production, INTERNAL_API_KEY set"

    env_path = stack / ".env"
    env_path.write_text(re.sub(r"(?m)^INTERNAL_API_KEY=.*\n", "", env_path.read_text()))
    code, [row] = check_rows(stack)
    assert code != 0
    assert row["status"] == "fail"
    assert "production, but .env has no INTERNAL_API_KEY" in row["detail"]


def test_check_warns_about_development_on_an_open_address(stack: Path) -> None:
    setup(stack, "--doc-dir", "docs", "--environment", "development")
    _, [row] = check_rows(stack)
    assert row["status"] == "ok"

    setup(stack, "--bind-address", "0.0.0.0")
    _, [row] = check_rows(stack)
    assert row["status"] == "warn"
    assert "development on 0.0.0.0" in row["detail"]


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--environment", "staging"], {}, "--environment: 'staging'"),
        ([], {"WIZARD_ENVIRONMENT": "prod"}, "WIZARD_ENVIRONMENT: 'prod'"),
    ],
)
def test_a_bad_environment_is_exit_2_naming_it_and_writes_nothing(
    stack: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    run = run_wizard(
        ["setup", "--non-interactive", "--skip-port-check", "--doc-dir", "docs", *args],
        cwd=stack,
        env=env,
    )
    assert run.returncode == 2
    assert named in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in stack.iterdir()) == ["docker-compose.yml", "docs"]
