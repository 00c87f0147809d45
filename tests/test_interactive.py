"""The interactive wizard driven in-process with real keystrokes.

Every prompt reads a pipe and draws on a captured VT100 screen (tests/keys.py); the wizard runs
through `wizard.commands.setup.run` exactly as the CLI calls it, with real GPU detection against
the fake tools in tests/fakebin, real port checks and real files. The scripts type exactly the
keys a person would; a flow that asks more or fewer questions than a script expects fails the test.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values
from helpers import docker_proxy
from keys import CTRL_C, CTRL_U, DOWN, ENTER, UP, Driven, Expect, down, drive, replace, typed
from pg import AppDatabase

from wizard.commands.setup import run
from wizard.commands.setup_report import Outcome, Request
from wizard.config.answers import Answers, Source
from wizard.errors import Cancelled
from wizard.ui.console import UI
from wizard.ui.review import mask

FAKEBIN = Path(__file__).parent / "fakebin"

# The default path through each step, one key per prompt.
STEP_1 = ENTER * 2  # deployment type, keep the models
STEP_2 = ENTER + ENTER + ENTER  # bundled, host port, generate the password
STEP_4 = ENTER * 5  # generate the JWT secret, token lifetime, log level, bind address, production
WRITE = ENTER  # review: "Write the configuration" is the default
# Review choices in order: write, change step 1..4, cancel.
CHANGE_STEP = {number: down(number) + ENTER for number in (1, 2, 3, 4)}
CANCEL = down(5) + ENTER

PASSWORD = "pa$$ w'rd #1 ${HOME} 100%"  # what breaks naive quoting, and 25 characters
JWT_SECRET = "my-own-jwt-secret-of-forty-chars-1234567"


def step_3(*directories: str | Path) -> str:
    """Add each directory in turn (the first is asked for directly), then Done."""
    keys = typed(str(directories[0]))
    for directory in directories[1:]:
        keys += DOWN + ENTER + typed(str(directory))  # "Add a directory"
    return keys + ENTER  # "Done"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "deploy"
    root.mkdir()
    return root


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    path = tmp_path / "docs"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PATH holds no nvidia-smi and no docker: a host without a GPU (tests may replace it)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    scenarios = ("smi-one-gpu", "docker-nvidia-runtime")
    monkeypatch.setenv("PATH", os.pathsep.join(str(FAKEBIN / name) for name in scenarios))


def request(project: Path, **flags: Any) -> Request:
    """What wizard/cli.py builds: the FLAG, ENV and FILE layers (here only flags)."""
    flags.setdefault("skip_port_check", True)
    inputs = Answers([(Source.FLAG, flags), (Source.ENV, {}), (Source.FILE, {})])
    return Request(project_dir=project, cwd=project, inputs=inputs, interactive=True)


def setup(project: Path, *script: str | Expect, **flags: Any) -> Driven[Outcome]:
    return drive(lambda: run(request(project, **flags), UI()), *script)


def first_install(project: Path, **flags: Any) -> None:
    """A non-interactive install to re-run against."""
    flags.setdefault("skip_port_check", True)
    inputs = Answers([(Source.FLAG, flags)])
    run(Request(project_dir=project, cwd=project, inputs=inputs, interactive=False), UI())


def env(project: Path) -> dict[str, str | None]:
    return dict(dotenv_values(project / ".env", interpolate=False))


def override(project: Path) -> Any:
    """The wizard's override as compose reads it (`!override` values given plainly)."""
    return load_services_and_block(project / "docker-compose.override.yml")


def load_services_and_block(path: Path) -> Any:
    from wizard.stack.compose import load_services, parse_yaml

    data = parse_yaml(path.read_text())
    return {"x-wizard": data.get("x-wizard"), "services": load_services(path)}


def documents(project: Path) -> list[str]:
    return [item["source"] for item in override(project)["x-wizard"]["documents"]]


def written_nothing(project: Path) -> None:
    # The lock file is the only trace a run may leave (it is how runs exclude each other).
    assert sorted(p.name for p in project.iterdir()) in ([], [".wizard.lock"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


# --- step 1 --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("one_gpu")
def test_gpu_is_the_default_when_a_gpu_is_detected(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(project, STEP_1, STEP_2, step_3(docs), STEP_4, WRITE)

    assert env(project)["USE_GPU"] == "true"
    lines = capsys.readouterr().err.splitlines()
    # On a line of its own: not glued to the step's progress bar.
    assert "GPU detection: 1 GPU: GeForce RTX 2080 (7979 MiB); driver 440.64" in lines


@pytest.mark.usefixtures("one_gpu")
def test_cpu_can_be_chosen_when_a_gpu_is_detected(project: Path, docs: Path) -> None:
    setup(project, UP + ENTER + ENTER, STEP_2, step_3(docs), STEP_4, WRITE)

    assert env(project)["USE_GPU"] == "false"


def test_cpu_is_the_default_without_a_gpu(project: Path, docs: Path) -> None:
    setup(project, STEP_1, STEP_2, step_3(docs), STEP_4, WRITE)

    assert env(project)["USE_GPU"] == "false"


def test_gpu_can_be_chosen_for_a_host_that_will_have_one(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    driven = setup(project, DOWN + ENTER + ENTER, STEP_2, step_3(docs), STEP_4, WRITE)

    assert env(project)["USE_GPU"] == "true"
    assert "none detected here; choose only if this host will have one" in driven.screen
    assert "GPU detection: nvidia-smi not found" in capsys.readouterr().err


def test_changing_the_models_on_a_cpu_host(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(
        project,
        ENTER,  # CPU
        DOWN + ENTER,  # Change the model settings
        DOWN + ENTER,  # Qwen/Qwen3-Embedding-4B
        DOWN + ENTER,  # int8, below the default float16
        replace("hf-cache"),
        DOWN + ENTER,  # offline on: the cache is empty, so it stays off
        STEP_2,
        step_3(docs),
        ENTER * 4,
        ENTER,  # production
        WRITE,
    )

    values = env(project)
    assert values["DEFAULT_EMBEDDING_MODEL"] == "Qwen/Qwen3-Embedding-4B"
    assert values["DEFAULT_QUANTIZATION"] == "int8"
    assert values["HF_CACHE_DIR"] == "./hf-cache"
    assert values["HF_HUB_OFFLINE"] == "false"
    assert values["ENABLE_LOCAL_LLM"] == "false"
    assert (project / "hf-cache").is_dir()
    err = capsys.readouterr().err
    assert "the stack loads the model in float32 whatever is chosen" in err
    assert f"Model cache {project / 'hf-cache'}: " in err and " GB free." in err
    assert "Offline mode stays off" in err and "holds no copy of Qwen/Qwen3-Embedding-4B" in err


@pytest.mark.usefixtures("one_gpu")
def test_another_model_and_the_gpu_questions(project: Path, docs: Path) -> None:
    setup(
        project,
        ENTER,  # GPU, detected
        DOWN + ENTER,  # Change the model settings
        UP + ENTER,  # Another Hugging Face model (the last choice)
        typed("not a model id"),
        Expect("model id: 'not a model id' is not a Hugging Face model id"),
        CTRL_U + typed("BAAI/bge-small-en-v1.5"),
        ENTER,  # float16
        ENTER,  # ./models
        ENTER,  # offline off
        DOWN + ENTER,  # local LLM off
        replace("2"),
        replace("0.6"),
        STEP_2,
        step_3(docs),
        ENTER * 4,
        ENTER,
        WRITE,
    )

    values = env(project)
    assert values["DEFAULT_EMBEDDING_MODEL"] == "BAAI/bge-small-en-v1.5"
    assert values["ENABLE_LOCAL_LLM"] == "false"
    assert values["GPU_MEMORY_MAX_PERCENT"] == "0.6"


def test_development_on_every_interface_is_warned_about(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(
        project,
        ENTER * 2,
        STEP_2,
        step_3(docs),
        ENTER * 3,  # JWT secret, lifetime, log level
        DOWN + ENTER,  # 0.0.0.0
        DOWN + ENTER,  # development
        WRITE,
    )

    values = env(project)
    assert values["ENVIRONMENT"] == "development"
    assert not values.get("INTERNAL_API_KEY")
    assert "Development mode on 0.0.0.0" in capsys.readouterr().err


# --- step 2 --------------------------------------------------------------------------------------


def test_bundled_postgres_on_a_custom_host_port(project: Path, docs: Path) -> None:
    port = free_port()
    driven = setup(
        project,
        STEP_1,
        ENTER,  # bundled
        replace("99999"),
        Expect("'99999' is not a port; use a whole number from 1 to 65535"),
        replace(str(port)),
        ENTER,  # generate the password
        step_3(docs),
        STEP_4,
        WRITE,
        skip_port_check=False,
    )

    values = env(project)
    assert values["POSTGRES_MODE"] == "bundled"
    assert values["POSTGRES_HOST_PORT"] == str(port)
    assert values["POSTGRES_HOST"] == "postgres" and values["POSTGRES_PORT"] == "5432"
    password = values["POSTGRES_PASSWORD"] or ""
    assert len(password) == 64 and int(password, 16) >= 0
    assert password not in driven.screen


def test_short_password_is_asked_again_with_the_reason(project: Path, docs: Path) -> None:
    driven = setup(
        project,
        STEP_1,
        ENTER + ENTER,  # bundled, host port
        DOWN + ENTER,  # "Enter my own"
        typed("short-secret"),
        Expect("PostgreSQL password: 12 characters is too short; use at least 16"),
        CTRL_U + typed(PASSWORD),
        typed(PASSWORD),  # again
        step_3(docs),
        STEP_4,
        WRITE,
    )

    assert env(project)["POSTGRES_PASSWORD"] == PASSWORD
    assert "? PostgreSQL password (hidden)" in driven.screen
    assert "? PostgreSQL password again" in driven.screen
    assert PASSWORD not in driven.screen and "short-secret" not in driven.screen


def test_password_longer_than_4096_bytes_is_asked_again_with_the_reason(
    project: Path, docs: Path
) -> None:
    setup(
        project,
        STEP_1,
        ENTER + ENTER + DOWN + ENTER,  # bundled, host port, "Enter my own"
        typed("p" * 4097),
        Expect("PostgreSQL password: 4097 bytes is too long; a secret can be at most 4096 bytes"),
        CTRL_U + typed(PASSWORD),
        typed(PASSWORD),
        step_3(docs),
        STEP_4,
        WRITE,
    )

    assert env(project)["POSTGRES_PASSWORD"] == PASSWORD


def test_mismatched_password_is_asked_again(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(
        project,
        STEP_1,
        ENTER + ENTER + DOWN + ENTER,  # bundled, host port, "Enter my own"
        typed(PASSWORD),
        typed(PASSWORD + "x"),  # a typo in the second entry
        typed(PASSWORD),
        typed(PASSWORD),
        step_3(docs),
        STEP_4,
        WRITE,
    )

    assert "The two PostgreSQL passwords differ; enter it again." in capsys.readouterr().err
    values = env(project)
    assert values["POSTGRES_PASSWORD"] == PASSWORD
    assert values["DATABASE_URL"] == (
        "postgresql://docsearch:pa%24%24%20w%27rd%20%231%20%24%7BHOME%7D%20100%25"
        "@postgres:5432/docsearch"
    )


def external(host: str, port: int, dbname: str, user: str) -> str:
    """Step 2 up to the password choice: external server, its address, names and TLS prefer."""
    return (
        DOWN + ENTER  # External
        + typed(host)
        + replace(str(port))
        + replace(dbname)
        + replace(user)
        + ENTER  # sslmode prefer
    )  # fmt: skip


def test_external_server_asks_again_after_a_refused_login_then_connects(
    project: Path, docs: Path, postgres: AppDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "not-the-password-of-this-role"
    setup(
        project,
        STEP_1,
        external("127.0.0.1", postgres.port, postgres.dbname, postgres.user),
        typed(wrong),  # an external server's password: asked once, no "generate" offered
        ENTER,  # What now? Change the connection settings
        ENTER * 5,  # host, port, database, user, sslmode: each keeps what was typed
        # The server refused the password: the default is to enter it again, not to keep it.
        ENTER,
        typed(postgres.password),
        step_3(docs),
        STEP_4,
        WRITE,
    )

    err = capsys.readouterr().err
    assert "wrong password or no such user" in err
    assert "Connected: PostgreSQL" in err
    # Said in step 2, as the host is given, and in the review, before "Write" is chosen (it was
    # said only once, after the write).
    loopback = "The external server is at 127.0.0.1: inside a container"
    assert err.count(loopback) == 3  # asked twice (the refused login), then the review
    values = env(project)
    assert values["POSTGRES_MODE"] == "external"
    assert values["POSTGRES_HOST"] == "127.0.0.1"
    assert values["POSTGRES_PORT"] == str(postgres.port)
    assert values["POSTGRES_PASSWORD"] == postgres.password


def test_external_server_can_be_kept_unvalidated(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = free_port()
    setup(
        project,
        STEP_1,
        external("127.0.0.1", closed, "docs", "reader"),
        typed(PASSWORD),
        ENTER,  # What now? Change: nothing to change, so ...
        ENTER * 5,
        ENTER,  # keep the password entered
        down(2) + ENTER,  # ... Continue without validation
        step_3(docs),
        STEP_4,
        WRITE,
    )

    err = capsys.readouterr().err
    assert err.count("connection refused") == 2
    assert "skipped (not validated)" in err
    values = env(project)
    assert values["POSTGRES_PORT"] == str(closed)
    assert values["POSTGRES_DB"] == "docs" and values["POSTGRES_USER"] == "reader"
    assert values["POSTGRES_PASSWORD"] == PASSWORD


# --- step 3 --------------------------------------------------------------------------------------


def test_documents_two_directories_a_new_one_and_a_duplicate_dropped(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    spaced = tmp_path / "My Documents"
    reports.mkdir()
    spaced.mkdir()
    missing = tmp_path / "new inbox" / "2024"
    setup(
        project,
        STEP_1,
        STEP_2,
        typed(str(reports)),
        DOWN + ENTER + typed(str(spaced)),
        DOWN + ENTER + typed(str(missing)),
        ENTER,  # "... does not exist. Create it?" Yes
        DOWN + ENTER + typed("../reports/"),  # the first one again, relative to the cwd
        ENTER,  # Done
        STEP_4,
        WRITE,
    )

    assert documents(project) == [str(reports), str(spaced), str(missing)]
    assert missing.is_dir()
    assert env(project)["DOCUMENT_PATHS"] == (
        "/mnt/docs/reports,/mnt/docs/my-documents,/mnt/docs/2024"
    )
    assert f"{reports} is already in the list." in capsys.readouterr().err


def test_missing_directory_typed_twice_is_offered_for_creation_once(
    project: Path, docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "later"
    setup(
        project,
        STEP_1,
        STEP_2,
        typed(str(missing)),
        ENTER,  # Create it? Yes
        DOWN + ENTER + typed(str(missing)),  # the same again: no second question
        ENTER,  # Done
        STEP_4,
        WRITE,
    )

    assert documents(project) == [str(missing)]
    assert f"{missing} is already in the list." in capsys.readouterr().err


def test_directory_not_created_when_the_person_declines(
    project: Path, docs: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "not-yet"
    setup(
        project,
        STEP_1,
        STEP_2,
        typed(str(missing)),
        "n",  # Create it? No: asked for a directory again
        typed(str(docs)),
        ENTER,
        STEP_4,
        WRITE,
    )

    assert documents(project) == [str(docs)]
    assert not missing.exists()


def test_a_directory_can_be_removed_again(project: Path, docs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    setup(
        project,
        STEP_1,
        STEP_2,
        typed(str(docs)),
        DOWN + ENTER + typed(str(other)),
        down(2) + ENTER,  # "Remove a directory"
        UP + ENTER,  # the default is the last one; Up picks the first
        ENTER,  # Done
        STEP_4,
        WRITE,
    )

    assert documents(project) == [str(other)]


# --- step 4 --------------------------------------------------------------------------------------


def test_security_own_jwt_secret_lifetime_log_level_and_open_bind_address(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    driven = setup(
        project,
        STEP_1,
        STEP_2,
        step_3(docs),
        DOWN + ENTER,  # "Enter my own"
        typed("too-short-secret"),
        Expect("JWT secret: 16 characters is too short; use at least 32"),
        CTRL_U + typed(JWT_SECRET),
        typed(JWT_SECRET),
        replace("0"),
        Expect("token lifetime: '0' is not valid; use a whole number from 1 to 525600"),
        replace("60"),
        UP + ENTER,  # DEBUG, above the default INFO
        DOWN + ENTER,  # 0.0.0.0
        ENTER,  # production
        WRITE,
    )

    values = env(project)
    assert values["JWT_SECRET_KEY"] == JWT_SECRET
    assert values["ACCESS_TOKEN_EXPIRE_MINUTES"] == "60"
    assert values["LOG_LEVEL"] == "DEBUG"
    assert values["BIND_ADDRESS"] == "0.0.0.0"
    assert "0.0.0.0 publishes the web UI, the API and PostgreSQL on every network interface" in (
        capsys.readouterr().err
    )
    assert "? JWT secret (hidden)" in driven.screen
    assert JWT_SECRET not in driven.screen


@pytest.mark.parametrize(
    ("address", "warned"), [("127.0.0.2", False), ("::1", False), ("::", True)]
)
def test_bind_address_can_be_another_address_of_this_host(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str], address: str, warned: bool
) -> None:
    setup(
        project,
        STEP_1,
        STEP_2,
        step_3(docs),
        ENTER * 3,  # generate, lifetime, log level
        down(2) + ENTER,  # "Another address of this host"
        typed("localhost"),
        Expect("bind address: 'localhost' is not an IP address"),
        replace(address),
        ENTER,  # production
        WRITE,
    )

    assert env(project)["BIND_ADDRESS"] == address
    warning = f"{address} publishes the web UI, the API and PostgreSQL on every network interface"
    assert (warning in capsys.readouterr().err) is warned


# --- step 5: review ------------------------------------------------------------------------------


def test_review_goes_back_to_step_3_and_keeps_the_other_answers(
    project: Path, docs: Path, tmp_path: Path
) -> None:
    more = tmp_path / "more"
    more.mkdir()
    setup(
        project,
        STEP_1,
        ENTER + replace("15433") + DOWN + ENTER + typed(PASSWORD) + typed(PASSWORD),
        step_3(docs),
        STEP_4,
        CHANGE_STEP[3],
        DOWN + ENTER + typed(str(more)),  # Add a directory
        ENTER,  # Done
        WRITE,
    )

    assert documents(project) == [str(docs), str(more)]
    values = env(project)
    assert values["POSTGRES_HOST_PORT"] == "15433"
    assert values["POSTGRES_PASSWORD"] == PASSWORD


def test_review_goes_back_to_step_4_and_keeps_the_secret_entered(project: Path, docs: Path) -> None:
    setup(
        project,
        STEP_1,
        STEP_2,
        step_3(docs),
        DOWN + ENTER + typed(JWT_SECRET) + typed(JWT_SECRET),
        ENTER * 4,  # lifetime, log level, bind address, environment
        CHANGE_STEP[4],
        ENTER,  # the JWT secret: the default keeps the one just entered
        ENTER,  # lifetime
        DOWN + ENTER,  # WARNING
        ENTER,  # bind address
        ENTER,  # environment
        WRITE,
    )

    values = env(project)
    assert values["JWT_SECRET_KEY"] == JWT_SECRET
    assert values["LOG_LEVEL"] == "WARNING"


def test_review_goes_back_to_step_4_and_keeps_the_postgres_password_generated_in_step_2(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the review table on one line a row
    setup(project, STEP_1, STEP_2, step_3(docs), STEP_4, CHANGE_STEP[4], ENTER * 5, WRITE)

    # Each review shows the masked password (its length and last 4 characters).
    reviews = capsys.readouterr().err.split("Step 5 of 5")[1:]
    shown = [re.findall(r"PostgreSQL password +│ (•+ \(64 characters, ends …\w{4}\))", review)
             for review in reviews]  # fmt: skip
    assert shown == [[mask(env(project)["POSTGRES_PASSWORD"] or "")]] * 2


def test_first_install_review_has_no_empty_changed_column(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    setup(project, STEP_1, STEP_2, step_3(docs), STEP_4, WRITE)

    review = capsys.readouterr().err.split("Step 5 of 5")[-1]
    [header] = [line for line in review.splitlines() if "Setting" in line]
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == ["Setting", "Value", "From"]


def test_review_goes_back_to_step_2_and_keeps_the_password_entered(
    project: Path, docs: Path
) -> None:
    setup(
        project,
        STEP_1,
        ENTER + ENTER + DOWN + ENTER + typed(PASSWORD) + typed(PASSWORD),
        step_3(docs),
        STEP_4,
        CHANGE_STEP[2],
        ENTER,  # bundled
        replace("15434"),
        ENTER,  # the password: the default keeps the one just entered
        WRITE,
    )

    values = env(project)
    assert values["POSTGRES_PASSWORD"] == PASSWORD
    assert values["POSTGRES_HOST_PORT"] == "15434"


def test_cancel_at_review_writes_nothing(project: Path, docs: Path) -> None:
    with pytest.raises(Cancelled):
        setup(project, STEP_1, STEP_2, step_3(docs), STEP_4, CANCEL)

    written_nothing(project)


def test_taken_postgres_port_offers_the_next_free_one(
    project: Path, docs: Path, held_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(
        project,
        STEP_1,
        ENTER + replace(str(held_port)) + ENTER,
        step_3(docs),
        STEP_4,
        ENTER,  # "Use another port for PostgreSQL"
        ENTER,  # the suggested free port
        WRITE,
        skip_port_check=False,
    )

    assert f"port {held_port} on 127.0.0.1 (postgres) is " in capsys.readouterr().err
    chosen = int(env(project)["POSTGRES_HOST_PORT"] or 0)
    assert chosen > held_port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", chosen))  # free indeed


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def two_ports_in_a_row(first: str, second: str) -> tuple[socket.socket, socket.socket]:
    """Listening sockets on `first`:P and `second`:P+1, for a free pair P, P+1."""
    family = socket.AF_INET6 if ":" in first else socket.AF_INET
    for _ in range(50):
        one = socket.socket(family)
        one.bind((first, 0))
        port = one.getsockname()[1]
        two = socket.socket(socket.AF_INET6 if ":" in second else socket.AF_INET)
        try:
            two.bind((second, port + 1))
        except OSError:
            one.close()
            two.close()
            continue
        one.listen(1)
        two.listen(1)
        return one, two
    raise AssertionError("no two free ports in a row")


@pytest.mark.parametrize(
    ("bind_keys", "first", "second"),
    [
        # 0.0.0.0 needs the port free on every address: P+1 held on 127.0.0.2 is not free.
        (DOWN + ENTER, "127.0.0.1", "127.0.0.2"),
        # An IPv6 bind address is tested with an IPv6 socket.
        pytest.param(
            down(2) + ENTER + typed("::1"),
            "::1",
            "::1",
            marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here"),
        ),
    ],
    ids=["every interface", "ipv6 loopback"],
)
def test_taken_port_suggestion_is_free_where_the_stack_binds(
    project: Path, docs: Path, bind_keys: str, first: str, second: str
) -> None:
    one, two = two_ports_in_a_row(first, second)
    held = one.getsockname()[1]
    with one, two:
        setup(
            project,
            STEP_1,
            ENTER + replace(str(held)) + ENTER,
            step_3(docs),
            ENTER * 3,
            bind_keys,
            ENTER,  # production
            ENTER,  # "Use another port for PostgreSQL"
            ENTER,  # the suggestion, accepted: it must pass the check that follows
            WRITE,
            skip_port_check=False,
        )

    assert int(env(project)["POSTGRES_HOST_PORT"] or 0) >= held + 2


def test_taken_port_can_be_left_as_it_is(project: Path, docs: Path, held_port: int) -> None:
    setup(
        project,
        STEP_1,
        ENTER + replace(str(held_port)) + ENTER,
        step_3(docs),
        STEP_4,
        DOWN + ENTER,  # "Continue anyway"
        WRITE,
        skip_port_check=False,
    )

    assert env(project)["POSTGRES_HOST_PORT"] == str(held_port)


def test_taken_port_stop_writes_nothing(project: Path, docs: Path, held_port: int) -> None:
    with pytest.raises(Cancelled):
        setup(
            project,
            STEP_1,
            ENTER + replace(str(held_port)) + ENTER,
            step_3(docs),
            STEP_4,
            down(2) + ENTER,  # "Stop: write nothing"
            skip_port_check=False,
        )

    written_nothing(project)


def test_port_another_container_publishes_is_taken_on_a_first_install(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with docker_proxy() as (port, pid):
        setup(
            project,
            STEP_1,
            ENTER + replace(str(port)) + ENTER,
            step_3(docs),
            STEP_4,
            ENTER,  # "Use another port for PostgreSQL"
            ENTER,  # the suggested free port
            WRITE,
            skip_port_check=False,
        )

    err = capsys.readouterr().err
    assert f"is held by docker-proxy (pid {pid}) for a running container" in err
    assert "in use by this stack" not in err
    assert int(env(project)["POSTGRES_HOST_PORT"] or 0) > port


def test_review_warns_when_no_service_reads_the_documents(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No base compose file in the project directory: the documents are mounted into nothing.
    setup(project, STEP_1, STEP_2, step_3(docs), STEP_4, WRITE)

    err = capsys.readouterr().err
    assert f"No service of the base compose file reads the documents: {project} has no " in err
    assert "templates/stack.yaml" in err
    assert documents(project) == [str(docs)]


def test_a_variable_the_stacks_compose_file_requires_is_asked_and_written(
    project: Path, docs: Path
) -> None:
    (project / "docker-compose.yml").write_text(
        "services:\n  webui:\n    image: example/webui\n    environment:\n"
        "      LICENSE: ${STACK_LICENSE:?a license key}\n"
    )
    driven = setup(
        project,
        STEP_1,
        STEP_2,
        step_3(docs),
        STEP_4,
        Expect("STACK_LICENSE (required by docker-compose.yml for webui"),
        ENTER,
        Expect("STACK_LICENSE: the stack cannot start without it"),
        typed("key-1234"),
        WRITE,
    )

    assert env(project)["STACK_LICENSE"] == "key-1234"
    assert "key-1234" not in driven.screen  # typed hidden, like every secret


# --- the whole flow ------------------------------------------------------------------------------


@pytest.mark.usefixtures("one_gpu")
def test_whole_interactive_flow_writes_env_and_override(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "docker-compose.yml").write_text(BASE_COMPOSE)
    port = free_port()
    books = tmp_path / "Books & Papers"
    notes = tmp_path / "notes"
    books.mkdir()
    notes.mkdir()
    driven = setup(
        project,
        Expect("Deployment type"),
        ENTER,  # GPU, detected
        ENTER,  # keep the models
        ENTER + replace(str(port)),
        DOWN + ENTER + typed(PASSWORD) + typed(PASSWORD),
        step_3(books, notes),
        DOWN + ENTER + typed(JWT_SECRET) + typed(JWT_SECRET),
        replace("90"),
        DOWN + ENTER,  # WARNING, below the default INFO
        ENTER,  # 127.0.0.1
        ENTER,  # production
        Expect("Write this configuration?"),
        WRITE,
        skip_port_check=False,
    )

    assert driven.result.result is not None
    assert set(driven.result.result.written) == {
        ".env",
        "docker-compose.override.yml",
        "docker-compose.postgres.yml",
    }
    values = env(project)
    expected = EXPECTED_ENV | {
        "POSTGRES_HOST_PORT": str(port),
        "DOCUMENT_PATHS": "/mnt/docs/books-papers,/mnt/docs/notes",
    }
    assert {key: values.get(key) for key in expected} == expected
    assert values["DATABASE_URL"] == (
        "postgresql://docsearch:pa%24%24%20w%27rd%20%231%20%24%7BHOME%7D%20100%25"
        "@postgres:5432/docsearch"
    )
    assert (project / ".env").stat().st_mode & 0o777 == 0o600
    mounts = [
        {
            "type": "bind",
            "source": str(books),
            "target": "/mnt/docs/books-papers",
            "read_only": True,
        },
        {"type": "bind", "source": str(notes), "target": "/mnt/docs/notes", "read_only": True},
    ]
    gpus = {"resources": {"reservations": {"devices": [ALL_GPUS]}}}
    # The internal API key by reference: its value stays in .env.
    tls = {"PGSSLMODE": "${POSTGRES_SSLMODE}", "INTERNAL_API_KEY": "${INTERNAL_API_KEY}"}
    assert override(project) == {
        "x-wizard": {
            "documents": [
                {"source": str(books), "target": "/mnt/docs/books-papers"},
                {"source": str(notes), "target": "/mnt/docs/notes"},
            ]
        },
        "services": {
            # uvicorn, which the web UI's entrypoint hands LOG_LEVEL to, wants lower case.
            "webui": {"volumes": mounts, "environment": {**tls, "LOG_LEVEL": "warning"}},
            "worker": {"volumes": mounts, "environment": tls},
            "vecpipe": {
                "environment": {
                    **tls,
                    # Read by vecpipe's code; the base passes them to no service.
                    "ENABLE_LOCAL_LLM": "${ENABLE_LOCAL_LLM}",
                    "GPU_MEMORY_MAX_PERCENT": "${GPU_MEMORY_MAX_PERCENT}",
                },
                "deploy": gpus,
            },
        },
    }
    assert PASSWORD not in driven.screen and JWT_SECRET not in driven.screen
    review = capsys.readouterr().err.split("Step 5 of 5")[-1]
    values_column = "".join(
        line.split("│")[2] for line in review.splitlines() if line.count("│") == 4
    )
    for directory in (books, notes):  # in full, however narrow the terminal
        assert squashed(f"{directory} → ") in squashed(values_column)


def squashed(text: str) -> str:
    return "".join(text.split())


ALL_GPUS = {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
BASE_COMPOSE = """\
services:
  webui:
    image: example/webui
  vecpipe:
    image: example/vecpipe
  worker:
    image: example/worker
"""

EXPECTED_ENV = {
    "COMPOSE_FILE": "docker-compose.yml:docker-compose.postgres.yml:docker-compose.override.yml",
    "USE_GPU": "true",
    "LOG_LEVEL": "WARNING",
    "BIND_ADDRESS": "127.0.0.1",
    "POSTGRES_MODE": "bundled",
    "POSTGRES_HOST": "postgres",
    "POSTGRES_PORT": "5432",
    "POSTGRES_DB": "docsearch",
    "POSTGRES_USER": "docsearch",
    "POSTGRES_PASSWORD": PASSWORD,
    "POSTGRES_SSLMODE": "disable",
    "JWT_SECRET_KEY": JWT_SECRET,
    "ACCESS_TOKEN_EXPIRE_MINUTES": "90",
}


# --- Ctrl-C --------------------------------------------------------------------------------------

# Keys up to a prompt of each kind in each step; Ctrl-C is pressed there.
BEFORE_PROMPT = {
    "step 1 deployment": "",
    "step 1 models": ENTER,
    "step 2 server": STEP_1,
    "step 2 host port": STEP_1 + ENTER,
    "step 2 password choice": STEP_1 + ENTER * 2,
    "step 2 hidden password": STEP_1 + ENTER * 2 + DOWN + ENTER,
    "step 2 password again": STEP_1 + ENTER * 2 + DOWN + ENTER + typed(PASSWORD),
    "step 3 directory": STEP_1 + STEP_2,
    "step 3 create it?": STEP_1 + STEP_2 + typed("/nonexistent/wizard-test"),
    "step 3 done/add": STEP_1 + STEP_2 + typed("/usr/share"),
    "step 4 jwt secret": STEP_1 + STEP_2 + typed("/usr/share") + ENTER,
    "step 4 token lifetime": STEP_1 + STEP_2 + typed("/usr/share") + ENTER * 2,
    "step 4 log level": STEP_1 + STEP_2 + typed("/usr/share") + ENTER * 3,
    "step 4 bind address": STEP_1 + STEP_2 + typed("/usr/share") + ENTER * 4,
    "step 4 environment": STEP_1 + STEP_2 + typed("/usr/share") + ENTER * 5,
    "step 5 review": STEP_1 + STEP_2 + typed("/usr/share") + ENTER + STEP_4,
}


@pytest.mark.parametrize("where", list(BEFORE_PROMPT))
def test_ctrl_c_at_any_prompt_writes_nothing(project: Path, where: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        setup(project, BEFORE_PROMPT[where], CTRL_C)

    written_nothing(project)


# --- re-run --------------------------------------------------------------------------------------

RERUNS = {
    "gpu, custom port, debug, every interface": (
        {
            "deployment": "gpu",
            "postgres_host_port": "15432",
            "log_level": "DEBUG",
            "bind_address": "0.0.0.0",
            "token_expiry_minutes": "45",
        },
        "",
    ),
    "another bind address": ({"bind_address": "127.0.0.3"}, ENTER),
}


@pytest.mark.parametrize("case", list(RERUNS))
def test_rerun_pressing_enter_everywhere_keeps_every_value(
    project: Path, docs: Path, tmp_path: Path, case: str
) -> None:
    answers, bind_text_prompt = RERUNS[case]
    second = tmp_path / "second docs"
    second.mkdir()
    first_install(project, doc_dir=[str(docs), str(second)], **answers)
    env_before = (project / ".env").read_bytes()
    override_before = (project / "docker-compose.override.yml").read_bytes()

    driven = setup(
        project,
        STEP_1,
        STEP_2,  # bundled, port, keep the password
        ENTER,  # Done: the directories are listed already
        STEP_4 + bind_text_prompt,  # keep the secret, lifetime, log level, bind (+ its address)
        WRITE,
    )

    assert driven.result.result is not None and driven.result.result.written == ()
    assert (project / ".env").read_bytes() == env_before
    assert (project / "docker-compose.override.yml").read_bytes() == override_before
    assert "Keep the current PostgreSQL password" in driven.screen
    assert "Keep the current JWT secret" in driven.screen
    assert not [p for p in project.iterdir() if ".bak." in p.name]


def test_rerun_changing_the_log_level_keeps_the_secrets(project: Path, docs: Path) -> None:
    first_install(project, doc_dir=[str(docs)])
    before = (project / ".env").read_text().splitlines()

    setup(project, STEP_1, STEP_2, ENTER, ENTER * 2, down(2) + ENTER, ENTER * 2, WRITE)

    after = (project / ".env").read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [("LOG_LEVEL='INFO'", "LOG_LEVEL='ERROR'")]


def test_rerun_keeps_an_existing_gpu_deployment_on_a_host_without_one(
    project: Path, docs: Path
) -> None:
    first_install(project, doc_dir=[str(docs)], deployment="gpu")

    setup(project, STEP_1, STEP_2, ENTER, STEP_4, WRITE)

    assert env(project)["USE_GPU"] == "true"


def test_rerun_rotating_the_jwt_secret_warns_and_changes_it(
    project: Path, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first_install(project, doc_dir=[str(docs)])
    old = env(project)["JWT_SECRET_KEY"]

    setup(project, STEP_1, STEP_2, ENTER, DOWN + ENTER, ENTER * 4, WRITE)

    new = env(project)["JWT_SECRET_KEY"] or ""
    assert new != old and len(new) == 64
    assert "Rotating the JWT secret signs every signed-in user out." in capsys.readouterr().err


def test_rerun_offers_to_create_a_document_directory_that_has_gone(
    project: Path, docs: Path
) -> None:
    first_install(project, doc_dir=[str(docs)])
    env_before = (project / ".env").read_bytes()
    docs.rmdir()

    driven = setup(
        project,
        STEP_1,
        STEP_2,
        ENTER,  # Done
        ENTER,  # "... does not exist. Create it?" Yes
        STEP_4,
        WRITE,
    )

    assert f"{docs} does not exist. Create it?" in driven.screen
    assert docs.is_dir()
    assert (project / ".env").read_bytes() == env_before


def test_rerun_of_an_external_server_keeps_every_value(
    project: Path, docs: Path, postgres: AppDatabase
) -> None:
    first_install(
        project,
        doc_dir=[str(docs)],
        postgres_mode="external",
        postgres_host="127.0.0.1",
        postgres_port=str(postgres.port),
        postgres_db=postgres.dbname,
        postgres_user=postgres.user,
        postgres_password=postgres.password,
        postgres_sslmode="disable",  # a trusted network: kept, not turned into "prefer"
    )
    env_before = (project / ".env").read_bytes()

    setup(
        project,
        STEP_1,
        ENTER * 7,  # external, host, port, database, user, sslmode, keep the password
        ENTER,  # Done
        STEP_4,
        WRITE,
    )

    assert (project / ".env").read_bytes() == env_before
    assert env(project)["POSTGRES_SSLMODE"] == "disable"


def test_rerun_switching_to_an_external_server_asks_for_its_password(
    project: Path, docs: Path
) -> None:
    first_install(project, doc_dir=[str(docs)])
    closed = free_port()

    driven = setup(
        project,
        STEP_1,
        external("127.0.0.1", closed, "docs", "reader"),
        typed(PASSWORD),  # asked at once: the bundled server's password is not offered
        down(2) + ENTER,  # connection refused: continue without validation
        ENTER,  # Done: the directories are listed already
        STEP_4,
        WRITE,
    )

    assert "Keep the current password" not in driven.screen
    values = env(project)
    assert values["POSTGRES_MODE"] == "external"
    assert values["POSTGRES_PASSWORD"] == PASSWORD


def test_rerun_switching_to_the_bundled_server_generates_its_password(
    project: Path, docs: Path
) -> None:
    first_install(
        project,
        doc_dir=[str(docs)],
        postgres_mode="external",
        postgres_host="127.0.0.1",
        postgres_port=str(free_port()),
        postgres_password=PASSWORD,
        skip_db_check=True,
    )

    driven = setup(
        project,
        STEP_1,
        UP + ENTER,  # Bundled (the current server is external)
        ENTER,  # host port
        ENTER,  # generate: the external server's password is not offered to keep
        ENTER,  # Done: the directories are listed already
        STEP_4,
        WRITE,
    )

    assert "Keep the current PostgreSQL password" not in driven.screen
    values = env(project)
    assert values["POSTGRES_MODE"] == "bundled"
    password = values["POSTGRES_PASSWORD"] or ""
    assert password != PASSWORD and len(password) == 64
