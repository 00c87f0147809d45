"""Non-interactive `wizard setup` through the real console script, as CI or provisioning runs it.

Every test starts the installed `wizard` in a subprocess with a clean environment (tests/helpers.py)
and reads what it wrote the way the stack will: python-dotenv with `interpolate=False`, and the real
`docker-compose config`. Nothing of the wizard is replaced.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shlex
import socket
import stat
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import yaml
from helpers import (
    REPO,
    WIZARD,
    clean_env,
    compose_config,
    free_port,
    problem_lines,
    read_env,
    run_wizard,
    snapshot,
)

BASE_COMPOSE = """\
services:
  webui:
    image: example/webui
    ports: ["${BIND_ADDRESS:-127.0.0.1}:${WEBUI_PORT:-8080}:8080"]
    environment:
      DATABASE_URL: ${DATABASE_URL}
      JWT_SECRET_KEY: ${JWT_SECRET_KEY}
  worker:
    image: example/worker
    environment:
      DATABASE_URL: ${DATABASE_URL}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty deployment directory with one document directory, `docs`."""
    root = tmp_path / "deploy"
    (root / "docs").mkdir(parents=True)
    return root


def setup_args(*extra: str, port: int | None = None) -> list[str]:
    """`setup` on a free PostgreSQL host port, so that a database on this machine's 5432 does not
    decide the outcome of a test about something else."""
    return ["setup", "--postgres-host-port", str(port or free_port()), *extra]


def write_answers(path: Path, answers: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(answers), encoding="utf-8")
    return path


def output_json(stdout: str) -> dict[str, Any]:
    """stdout must be exactly one JSON object (json.loads refuses a second one)."""
    data = json.loads(stdout)
    assert isinstance(data, dict)
    return data


def database_url_password(url: str | None) -> str:
    assert url is not None
    password = urlsplit(url).password
    assert password is not None
    return unquote(password)


# --- where each answer comes from -----------------------------------------------------------------


def test_flag_beats_environment_beats_answers_file_beats_current_env_beats_default(
    project: Path, tmp_path: Path
) -> None:
    for name in ("env docs", "env:docs", "file docs", "flag docs"):
        (tmp_path / name).mkdir()
    port = free_port()
    file_password = "file-password-0123456789"
    (tmp_path / "pw.txt").write_text(file_password + "\n")
    answers = tmp_path / "answers.yaml"
    # Written by hand: `yes:` unquoted is a boolean key to YAML 1.1, yet means the answer `yes`.
    answers.write_text(
        f"doc-dir:\n  - {tmp_path / 'file docs'}\n"
        "log_level: WARNING\n"
        "postgres_db: filedb\n"
        "postgres_user: fileuser\n"
        "token_expiry_minutes: 60\n"
        f"postgres_password_file: {tmp_path / 'pw.txt'}\n"
        "yes: yes\n"
    )
    env_password = "env-password-0123456789"
    first = run_wizard(
        [*setup_args("--log-level", "DEBUG", "--json", port=port), "--answers", str(answers)],
        cwd=project,
        env={
            "WIZARD_LOG_LEVEL": "ERROR",
            "WIZARD_POSTGRES_DB": "envdb",
            "WIZARD_DOC_DIR": f"{tmp_path / 'env docs'}\n{tmp_path / 'env:docs'}\n",
            "WIZARD_POSTGRES_PASSWORD": env_password,
            "WIZARD_BIND_ADDRESS": "",  # empty: as if unset, so the default applies
        },
    )
    assert first.returncode == 0, first.stderr
    env = read_env(project)
    assert env["LOG_LEVEL"] == "DEBUG"  # flag over environment and file
    assert env["POSTGRES_DB"] == "envdb"  # environment over file
    assert env["POSTGRES_PASSWORD"] == env_password  # WIZARD_POSTGRES_PASSWORD over the file's
    assert env["POSTGRES_USER"] == "fileuser"  # file over default
    assert env["ACCESS_TOKEN_EXPIRE_MINUTES"] == "60"
    assert env["BIND_ADDRESS"] == "127.0.0.1"  # default
    assert env["USE_GPU"] == "false"
    assert env["POSTGRES_HOST_PORT"] == str(port)
    assert env["DOCUMENT_PATHS"] == "/mnt/docs/env-docs,/mnt/docs/env-docs-2"
    settings = output_json(first.stdout)["settings"]
    assert [doc["source"] for doc in settings["documents"]] == [
        str(tmp_path / "env docs"),
        str(tmp_path / "env:docs"),
    ]
    sources = settings["sources"]
    assert sources["log_level"] == "flag"
    assert sources["postgres_db"] == "environment"
    assert sources["doc_dir"] == "environment"
    assert sources["postgres_password"] == "environment"
    assert sources["postgres_user"] == "answers file"
    assert sources["bind_address"] == "default"

    # Re-run: the current .env sits between the answers file and the defaults.
    flag_password = "flag-password-0123456789"
    (tmp_path / "flag-pw.txt").write_text(flag_password)
    write_answers(answers, {"log_level": "INFO"})
    second = run_wizard(
        [
            "setup",
            "--json",
            "--skip-db-check",  # the new password is a correction; no server runs to validate it
            "--doc-dir",
            str(tmp_path / "flag docs"),
            "--postgres-password-file",
            str(tmp_path / "flag-pw.txt"),
            "--answers",
            str(answers),
        ],
        cwd=project,
        env={
            "WIZARD_POSTGRES_PASSWORD": env_password + "-changed",
            "WIZARD_DOC_DIR": str(tmp_path / "env docs"),
        },
    )
    assert second.returncode == 0, second.stderr
    env = read_env(project)
    assert env["POSTGRES_PASSWORD"] == flag_password  # --postgres-password-file over the variable
    assert env["LOG_LEVEL"] == "INFO"  # answers file over the current .env
    assert env["POSTGRES_DB"] == "envdb"  # kept from the current .env
    assert env["POSTGRES_HOST_PORT"] == str(port)
    assert env["ACCESS_TOKEN_EXPIRE_MINUTES"] == "60"
    assert env["DOCUMENT_PATHS"] == "/mnt/docs/flag-docs"  # the flag's list replaces the others
    sources = output_json(second.stdout)["settings"]["sources"]
    assert sources["postgres_password"] == "flag"
    assert sources["log_level"] == "answers file"
    assert sources["postgres_db"] == "current .env"
    assert sources["doc_dir"] == "flag"

    # Nothing given at all: every value stays, and the files are not rewritten.
    before = snapshot(project)
    third = run_wizard(["setup"], cwd=project)
    assert third.returncode == 0, third.stderr
    assert "Nothing changed" in third.stderr
    assert snapshot(project) == before


def test_doc_dir_variable_holds_one_path_per_line_and_paths_may_hold_colons(
    project: Path, tmp_path: Path
) -> None:
    dirs = [tmp_path / "a:b", tmp_path / "with space", tmp_path / "c,d"]
    for path in dirs:
        path.mkdir()
    run = run_wizard(
        setup_args("--json"),
        cwd=project,
        env={"WIZARD_DOC_DIR": "\r\n".join(str(path) for path in dirs) + "\r\n\n"},
    )
    assert run.returncode == 0, run.stderr
    documents = output_json(run.stdout)["settings"]["documents"]
    assert [doc["source"] for doc in documents] == [str(path) for path in dirs]


def test_relative_paths_are_relative_to_the_current_directory_or_the_answers_file(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    (work / "docs").mkdir(parents=True)
    (work / "pw.txt").write_text("relative-password-0123\n")
    config = tmp_path / "config"
    (config / "more docs").mkdir(parents=True)
    (config / "jwt.txt").write_text("jwt-secret-beside-the-answers-file-0123456789\n")
    answers = config / "answers.yaml"
    answers.write_text("doc_dir: more docs\njwt_secret_file: ./jwt.txt\n")
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    common = ["--project-dir", str(deploy), "--postgres-password-file", "pw.txt"]
    # Flags: relative to the current directory. The answers file: relative to the file.
    run = run_wizard(
        setup_args(*common, "--answers", "../config/answers.yaml", "--doc-dir", "docs"), cwd=work
    )
    assert run.returncode == 0, run.stderr
    env = read_env(deploy)
    assert env["POSTGRES_PASSWORD"] == "relative-password-0123"
    assert env["JWT_SECRET_KEY"] == "jwt-secret-beside-the-answers-file-0123456789"
    mounts = compose_config(deploy)["x-wizard"]["documents"]
    assert mounts == [{"source": str(work / "docs"), "target": "/mnt/docs/docs"}]

    run = run_wizard(setup_args(*common, "--answers", str(answers)), cwd=work)
    assert run.returncode == 0, run.stderr
    mounts = compose_config(deploy)["x-wizard"]["documents"]
    assert mounts == [{"source": str(config / "more docs"), "target": "/mnt/docs/more-docs"}]


# --- secrets from files and stdin -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"Password-from-a-file-1\n", "Password-from-a-file-1", id="LF"),
        pytest.param(b"Password-from-a-file-1\r\n", "Password-from-a-file-1", id="CRLF"),
        pytest.param(b"Password-from-a-file-1", "Password-from-a-file-1", id="no-newline"),
        pytest.param(
            b"  Spaces and a backslash\\ kept 1  \n",
            "  Spaces and a backslash\\ kept 1  ",
            id="spaces-kept",
        ),
        # Refused, not silently changed: a carriage return inside, a second newline at the end.
        pytest.param(b"Carriage\rreturn-inside-1\n", None, id="CR-inside"),
        pytest.param(b"Two-newlines-at-the-end-1\n\n", None, id="two-LF"),
    ],
)
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_secret_file_loses_one_trailing_newline_and_nothing_else(
    project: Path, tmp_path: Path, content: bytes, expected: str | None, via: str
) -> None:
    if via == "file":
        (tmp_path / "secret").write_bytes(content)
        args, stdin = ["--postgres-password-file", str(tmp_path / "secret")], None
    else:
        args, stdin = ["--postgres-password-file", "-"], content
    before = snapshot(project)
    run = run_wizard(setup_args("--doc-dir", "docs", *args), cwd=project, input=stdin)
    if expected is None:
        assert run.returncode == 2
        [line] = problem_lines(run.stderr)
        assert line.startswith("error: --postgres-password-file:")
        assert "carriage return" in line or "newline" in line
        assert snapshot(project) == before
    else:
        assert run.returncode == 0, run.stderr
        assert read_env(project)["POSTGRES_PASSWORD"] == expected


def test_two_secrets_cannot_both_come_from_stdin(project: Path) -> None:
    run = run_wizard(
        setup_args("--doc-dir", "docs", "--postgres-password-file", "-"),
        cwd=project,
        env={"WIZARD_JWT_SECRET_FILE": "-"},
        input="only-one-secret-fits-on-stdin-0123456789\n",
    )
    assert run.returncode == 2
    [line] = problem_lines(run.stderr)
    assert "WIZARD_JWT_SECRET_FILE" in line and "stdin" in line


def test_secret_file_overridden_by_a_higher_layer_is_not_read(
    project: Path, tmp_path: Path
) -> None:
    answers = write_answers(
        tmp_path / "answers.yaml", {"postgres_password_file": str(tmp_path / "not-on-this-host")}
    )
    run = run_wizard(
        [*setup_args("--doc-dir", "docs"), "--answers", str(answers)],
        cwd=project,
        env={"WIZARD_POSTGRES_PASSWORD": "from-the-environment-0123"},
    )
    assert run.returncode == 0, run.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == "from-the-environment-0123"


# --- passwords survive .env, compose and DATABASE_URL ---------------------------------------------

PASSWORDS = [
    pytest.param('Pa$$ w\'rd "q" #h \\b end 1', "env", id="dollars-quotes-hash-space-backslash"),
    pytest.param("C:\\dir\\sub \"x\" 'y' #z ok", "file", id="backslashes-without-dollar"),
    pytest.param('${HOME} $$ and $USER\' #"x" % @:/?', "stdin", id="compose-variables-and-url"),
    pytest.param("Trailing-backslash-no-space-1\\", "file", id="ends-in-backslash"),
    pytest.param("  Leading and trailing spaces 1  ", "file", id="spaces-around"),
    pytest.param("Ünïcödé-pässwörd-€-✓-1", "env", id="unicode"),
]


@pytest.mark.parametrize(("password", "via"), PASSWORDS)
def test_password_reaches_dotenv_compose_and_database_url_exactly(
    project: Path, tmp_path: Path, password: str, via: str
) -> None:
    (project / "compose.yaml").write_text(BASE_COMPOSE)
    jwt_secret = "jwt $ecret 'with' \"quotes\" #hash \\ and-more-characters"
    env = {"WIZARD_JWT_SECRET": jwt_secret}
    args = setup_args("--doc-dir", "docs", "--skip-port-check")
    stdin = None
    if via == "env":
        env["WIZARD_POSTGRES_PASSWORD"] = password
    elif via == "file":
        (tmp_path / "pw").write_text(password + "\n", encoding="utf-8")
        args += ["--postgres-password-file", str(tmp_path / "pw")]
    else:
        args += ["--postgres-password-file", "-"]
        stdin = password + "\r\n"
    run = run_wizard(args, cwd=project, env=env, input=stdin)
    assert run.returncode == 0, run.stderr

    values = read_env(project)
    assert values["POSTGRES_PASSWORD"] == password
    assert values["JWT_SECRET_KEY"] == jwt_secret
    assert database_url_password(values["DATABASE_URL"]) == password
    assert quote(password, safe="") in str(values["DATABASE_URL"])

    services = compose_config(project)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == password
    assert services["webui"]["environment"]["JWT_SECRET_KEY"] == jwt_secret
    assert services["webui"]["environment"]["DATABASE_URL"] == values["DATABASE_URL"]
    assert database_url_password(services["worker"]["environment"]["DATABASE_URL"]) == password


def test_password_the_env_file_cannot_hold_is_refused_without_showing_it(project: Path) -> None:
    # `$` together with `\\`: python-dotenv and compose read every written form differently.
    password = "dollar$and\\\\double-backslash"
    before = snapshot(project)
    run = run_wizard(
        setup_args("--doc-dir", "docs"),
        cwd=project,
        env={"WIZARD_POSTGRES_PASSWORD": password},
    )
    assert run.returncode == 2
    [line] = problem_lines(run.stderr)
    assert line.startswith("error: WIZARD_POSTGRES_PASSWORD:")
    assert password not in run.stderr + run.stdout
    assert snapshot(project) == before


# --- no answers, no terminal, invalid answers -----------------------------------------------------


def test_setup_without_answers_or_terminal_exits_2_naming_doc_dir(project: Path) -> None:
    before = snapshot(project)
    run = run_wizard(["setup"], cwd=project)
    assert run.returncode == 2
    assert run.stdout == ""
    [line] = problem_lines(run.stderr)
    assert "--doc-dir" in line
    assert "Traceback" not in run.stderr
    assert snapshot(project) == before


def test_plain_wizard_flags_without_a_command_mean_setup(project: Path) -> None:
    run = run_wizard(["--skip-port-check"], cwd=project)
    assert run.returncode == 2
    assert "--doc-dir" in run.stderr


def _run_at_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the wizard with stdin and stdout on a pseudo-terminal; (exit code, stderr)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(WIZARD), *args],
        cwd=cwd,
        env=clean_env({"TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", **env}),
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            # Drain the terminal, so a prompt (which would be the bug) cannot block on output;
            # EIO means every holder of the terminal has closed it: the wizard is exiting.
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    os.read(leader, 4096)
                except OSError:
                    break
            if process.poll() is not None:
                break
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("the wizard waited for input at a terminal in non-interactive mode")
        assert process.stderr is not None
        return process.returncode, process.stderr.read().decode()
    finally:
        os.close(leader)
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param([], {"CI": "true"}, id="CI=true"),
        pytest.param(["--non-interactive"], {}, id="--non-interactive"),
        pytest.param([], {"WIZARD_NON_INTERACTIVE": "1"}, id="WIZARD_NON_INTERACTIVE"),
    ],
)
def test_non_interactive_at_a_terminal_never_prompts(
    project: Path, args: list[str], env: dict[str, str]
) -> None:
    code, stderr = _run_at_terminal(["setup", *args], project, env)
    assert code == 2
    assert "--doc-dir" in stderr


def test_terminal_without_ci_gets_the_prompts(project: Path) -> None:
    # The control for the test above: the same terminal, nothing saying non-interactive.
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(WIZARD), "setup"],
        cwd=project,
        env=clean_env({"TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}),
        stdin=follower,
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    shown = b""
    try:
        deadline = time.monotonic() + 20
        while not shown.strip() and time.monotonic() < deadline and process.poll() is None:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                shown += os.read(leader, 4096)
    finally:
        process.kill()
        process.wait()
        os.close(leader)
    assert shown.strip(), "no prompt appeared at the terminal"


def test_every_invalid_value_is_listed_at_once_and_nothing_is_written(
    project: Path, tmp_path: Path
) -> None:
    (tmp_path / "short.txt").write_text("short\n")
    answers = write_answers(
        tmp_path / "answers.yaml",
        {"colour": "blue", "postgres_password": "never-in-a-file-0123", "token_expiry_minutes": 0},
    )
    before = snapshot(project)
    run = run_wizard(
        [
            "setup",
            "--deployment",
            "tpu",
            "--postgres-host-port",
            "70000",
            "--log-level",
            "LOUD",
            "--postgres-password-file",
            str(tmp_path / "short.txt"),
            "--answers",
            str(answers),
        ],
        cwd=project,
        env={
            "WIZARD_BIND_ADDRESS": "localhost",
            "WIZARD_POSTGRES_PASWORD": "misspelt-so-never-used-0123",
        },
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = problem_lines(run.stderr)
    # One line per problem, each naming the field as the person gave it.
    expected = [
        "error: --deployment: 'tpu'",
        "error: --postgres-host-port: '70000'",
        "error: --log-level: 'LOUD'",
        "error: --postgres-password-file: 5 characters is too short",
        "error: WIZARD_BIND_ADDRESS: 'localhost'",
        "error: answers file: unknown answer 'colour'",
        "error: answers file: postgres_password must not be stored",
        "error: token_expiry_minutes in the answers file: 0",
        "error: --doc-dir:",
        "error: WIZARD_POSTGRES_PASWORD: is not a variable of `wizard setup`; "
        "did you mean WIZARD_POSTGRES_PASSWORD?",
    ]
    for start in expected:
        assert sum(line.startswith(start) for line in lines) == 1, (start, lines)
    assert len(lines) == len(expected), lines
    assert run.stderr.count("\n") == len(lines)  # nothing but the problem lines
    assert snapshot(project) == before  # no .env, no override, not even a lock file
    assert "misspelt-so-never-used" not in run.stderr
    assert "never-in-a-file" not in run.stderr


def test_invalid_answers_with_json_print_one_json_object(project: Path) -> None:
    run = run_wizard(["setup", "--json", "--deployment", "tpu"], cwd=project)
    assert run.returncode == 2
    data = output_json(run.stdout)
    assert data["ok"] is False and data["exit_code"] == 2
    assert len(data["problems"]) == 2
    assert problem_lines(run.stderr) == ["error: " + p for p in data["problems"]]


def test_missing_project_dir_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    missing = tmp_path / "no-such-deployment"
    run = run_wizard(setup_args("--project-dir", str(missing), "--doc-dir", "docs"), cwd=tmp_path)
    assert run.returncode == 2
    [line] = problem_lines(run.stderr)
    assert line.startswith(f"error: --project-dir: {missing} does not exist")
    assert not missing.exists()


def test_name_with_a_newline_is_an_input_problem_not_a_crash(project: Path) -> None:
    run = run_wizard(setup_args("--doc-dir", "docs", "--postgres-db", "doc\nsearch"), cwd=project)
    assert run.returncode == 2
    [line] = problem_lines(run.stderr)
    assert line.startswith("error: --postgres-db:")
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("host", "in_url"),
    [
        ("db.internal", "@db.internal:5432/"),
        ("10.0.0.5", "@10.0.0.5:5432/"),
        ("::1", "@[::1]:5432/"),
        ("[fd00::5]", "@[fd00::5]:5432/"),
        ("db.internal:5433", None),  # the port belongs in --postgres-port
        ("user@db.internal", None),
    ],
)
def test_external_host_is_a_host_name_or_address(
    project: Path, host: str, in_url: str | None
) -> None:
    args = ["--doc-dir", "docs", "--postgres-mode", "external", "--skip-db-check"]
    env = {"WIZARD_POSTGRES_PASSWORD": "The server's own password 1"}
    run = run_wizard(setup_args(*args, "--postgres-host", host), cwd=project, env=env)
    if in_url is None:
        assert run.returncode == 2
        [line] = problem_lines(run.stderr)
        assert line.startswith("error: --postgres-host:")
    else:
        assert run.returncode == 0, run.stderr
        assert in_url in str(read_env(project)["DATABASE_URL"])


def test_external_server_without_its_password_is_refused_not_generated(project: Path) -> None:
    args = ["--doc-dir", "docs", "--postgres-mode", "external", "--postgres-host", "db.internal"]
    run = run_wizard(setup_args(*args, "--skip-db-check"), cwd=project)
    assert run.returncode == 2
    [line] = problem_lines(run.stderr)
    assert "external server needs the password" in line
    assert not (project / ".env").exists()


def test_external_server_password_may_be_shorter_than_a_generated_one(project: Path) -> None:
    args = ["--doc-dir", "docs", "--postgres-mode", "external", "--postgres-host", "db.internal"]
    env = {"WIZARD_POSTGRES_PASSWORD": "Short-pass-1"}  # the server's, not ours to choose
    run = run_wizard(setup_args(*args, "--skip-db-check"), cwd=project, env=env)
    assert run.returncode == 0, run.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == "Short-pass-1"


def test_external_password_the_stacks_services_refuse_is_refused(project: Path) -> None:
    # The stack's entrypoint checks POSTGRES_PASSWORD (12 characters, three kinds) before it
    # starts a service, whichever server the password belongs to.
    args = ["--doc-dir", "docs", "--postgres-mode", "external", "--postgres-host", "db.internal"]
    env = {"WIZARD_POSTGRES_PASSWORD": "short"}
    run = run_wizard(setup_args(*args, "--skip-db-check"), cwd=project, env=env)
    assert run.returncode == 2
    assert "WIZARD_POSTGRES_PASSWORD: the stack's services refuse to start with a password" in (
        run.stderr
    )
    assert "short" not in run.stderr
    assert not (project / ".env").exists()


# --- ports ----------------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[int]:
    """A port this test process listens on at 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("service", ["postgres", "webui"])
def test_port_held_by_another_process_exits_1_naming_port_and_process(
    project: Path, listener: int, service: str
) -> None:
    if service == "postgres":
        args = ["--postgres-host-port", str(listener)]
    else:
        # The stack's own port, moved by a variable the person keeps in .env.
        (project / "compose.yaml").write_text(BASE_COMPOSE)
        (project / ".env").write_text(f"# mine\nWEBUI_PORT={listener}\n")
        args = ["--postgres-host-port", str(free_port())]
    args += ["--doc-dir", "new docs", "--create-doc-dirs", "--json"]
    before = snapshot(project)
    run = run_wizard(["setup", *args], cwd=project)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert f"port {listener} on 127.0.0.1 ({service})" in run.stderr
    assert f"pid {os.getpid()}" in run.stderr
    assert "--skip-port-check" in run.stderr
    data = output_json(run.stdout)
    assert data["ok"] is False and data["exit_code"] == 1
    assert any(f"port {listener}" in problem for problem in data["problems"])
    after = snapshot(project)
    # setup.run takes the project lock before the port check: the empty lock file is the only
    # trace (see the report: the check should run before the lock is taken).
    assert after.pop(".wizard.lock", b"") == b""
    assert after == before  # no .env, no override, no document directory created

    skipped = run_wizard(["setup", *args, "--skip-port-check"], cwd=project)
    assert skipped.returncode == 0, skipped.stderr
    assert (project / "new docs").is_dir()
    env = read_env(project)
    if service == "postgres":
        assert env["POSTGRES_HOST_PORT"] == str(listener)
    else:
        assert env["WEBUI_PORT"] == str(listener)
        assert (project / ".env").read_text().startswith(f"# mine\nWEBUI_PORT={listener}\n")


# --- what is written, and what is printed ---------------------------------------------------------


def test_env_is_private_and_no_secret_reaches_the_output(project: Path) -> None:
    outputs: list[str] = []
    first = run_wizard(setup_args("--doc-dir", "docs", "--json"), cwd=project)
    assert first.returncode == 0, first.stderr
    outputs += [first.stdout, first.stderr]
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    data = output_json(first.stdout)
    assert data["ok"] is True and data["written"]
    assert "Wrote" in first.stderr and not first.stderr.lstrip().startswith("{")

    generated = read_env(project)
    new_password = "new pass$word 'with' \"quotes\" #1 @:/"
    for extra in (["--dry-run", "--rotate-jwt-secret"], []):
        run = run_wizard(
            # A correction of the password: written unvalidated, as no server runs here.
            ["setup", "--json", "--skip-db-check", *extra],
            cwd=project,
            env={"WIZARD_POSTGRES_PASSWORD": new_password},
        )
        assert run.returncode == 0, run.stderr
        output_json(run.stdout)
        outputs += [run.stdout, run.stderr]
    written = read_env(project)
    assert written["POSTGRES_PASSWORD"] == new_password
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600

    secrets = [
        str(generated["POSTGRES_PASSWORD"]),
        str(generated["JWT_SECRET_KEY"]),
        new_password,
        str(written["JWT_SECRET_KEY"]),
    ]
    printed = "\n".join(outputs)
    for secret in secrets:
        assert secret not in printed
        assert quote(secret, safe="") not in printed
    for url in (generated["DATABASE_URL"], written["DATABASE_URL"]):
        assert str(url) not in printed


def test_project_dir_elsewhere_gets_its_own_postgres_compose_file(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    deploy = tmp_path / "srv" / "docsearch"
    deploy.mkdir(parents=True)
    before = snapshot(tmp_path / "docs")
    run = run_wizard(
        setup_args("--doc-dir", "docs"),
        cwd=tmp_path,
        env={"WIZARD_PROJECT_DIR": str(deploy)},
    )
    assert run.returncode == 0, run.stderr
    copied = deploy / "docker-compose.postgres.yml"
    assert copied.read_bytes() == (REPO / "docker-compose.postgres.yml").read_bytes()
    assert read_env(deploy)["COMPOSE_FILE"] == (
        "docker-compose.postgres.yml:docker-compose.override.yml"
    )
    config = compose_config(deploy)
    assert set(config["services"]) == {"postgres"}
    assert not (tmp_path / ".env").exists()
    assert snapshot(tmp_path / "docs") == before


def test_secrets_given_as_variables_do_not_reach_the_tools_the_wizard_runs(
    project: Path, tmp_path: Path
) -> None:
    # GPU detection runs nvidia-smi: this one writes down the environment it was given.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    seen = tmp_path / "nvidia-smi-environment"
    smi = bindir / "nvidia-smi"
    smi.write_text(f'#!/bin/sh\nenv > "{seen}"\nexit 9\n')
    smi.chmod(0o755)
    password, jwt = "variable-password-0123456789", "variable-jwt-secret-0123456789abcdef0123"

    done = run_wizard(
        setup_args("--doc-dir", "docs", "--deployment", "gpu"),
        cwd=project,
        env={
            "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "WIZARD_POSTGRES_PASSWORD": password,
            "WIZARD_JWT_SECRET": jwt,
        },
    )

    assert done.returncode == 0, done.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == password
    assert read_env(project)["JWT_SECRET_KEY"] == jwt
    environment = seen.read_text()
    assert f"PATH={bindir}:" in environment  # it ran, with the wizard's environment
    for leaked in ("WIZARD_POSTGRES_PASSWORD", "WIZARD_JWT_SECRET", password, jwt):
        assert leaked not in environment


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_installed_version_without_loading_the_command_line(
    flag: str, tmp_path: Path
) -> None:
    from importlib.metadata import version

    done = run_wizard([flag], cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wizard {version('wizard')}\n"
    assert done.stderr == ""
    # Cheap: it answers before typer (or anything else of the wizard) is imported.
    timed = subprocess.run(
        [str(WIZARD.parent / "python"), "-X", "importtime", "-m", "wizard", flag],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in timed.stderr.splitlines()}
    assert {"typer", "wizard.cli", "importlib.metadata"}.isdisjoint(imported)
    assert timed.stdout == done.stdout


@pytest.mark.parametrize("how", ["relative-script", "python-m"])
def test_the_next_command_works_from_the_directory_it_tells_you_to_cd_to(
    how: str, tmp_path: Path
) -> None:
    project = tmp_path / "deploy"
    (project / "docs").mkdir(parents=True)
    venv = WIZARD.parent.parent
    # Started the way a newcomer does, from the checkout, with the venv not on PATH.
    bindir = f"{venv.name}/bin"
    argv = (
        [f"{bindir}/wizard"] if how == "relative-script" else [f"{bindir}/python", "-m", "wizard"]
    )
    env = {**clean_env(), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*argv, "setup", "--project-dir", str(project), "--doc-dir", str(project / "docs"),
         "--skip-port-check"],
        cwd=venv.parent, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    [next_line] = [line for line in done.stderr.splitlines() if line.startswith("Next: ")]
    # A first install: `up`, which creates the administrator before the web UI starts.
    cd, up = next_line.removeprefix("Next: ").split("  then  ")
    assert cd == f"cd {project}"
    assert up.endswith(" up --admin USERNAME --admin-email EMAIL")
    command = shlex.split(up.removesuffix(" up --admin USERNAME --admin-email EMAIL"))
    ran = subprocess.run([*command, "--version"], cwd=project, env=env, capture_output=True)
    assert ran.returncode == 0, (up, ran.stderr)


ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def stderr_at_terminal(args: list[str], cwd: Path, columns: int) -> list[str]:
    """The lines the wizard writes to stderr on a pseudo-terminal `columns` wide (stdin is
    /dev/null, stdout a pipe), colour codes removed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    process = subprocess.Popen(
        [str(WIZARD), *args], cwd=cwd, env=clean_env({"TERM": "xterm"}),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    shown = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the wizard closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=30) == 0
    finally:
        os.close(leader)
        assert process.stdout is not None
        process.stdout.close()
    return ANSI_CODE.sub("", shown.decode()).replace("\r\n", "\n").splitlines()


def test_long_warnings_wrap_at_word_boundaries_to_the_terminal_width(tmp_path: Path) -> None:
    # Without a base compose file the documents are mounted nowhere: a long warning.
    args = ["setup", "--non-interactive", "--doc-dir", "docs", "--skip-port-check"]
    for name in ("plain", "terminal"):
        (tmp_path / name / "docs").mkdir(parents=True)
    plain = run_wizard(args, cwd=tmp_path / "plain").stderr
    [message] = [line for line in plain.splitlines() if line.startswith("! No service")]
    message = message.replace(str(tmp_path / "plain"), str(tmp_path / "terminal"))

    lines = stderr_at_terminal(args, tmp_path / "terminal", columns=60)

    first = next(index for index, line in enumerate(lines) if line.startswith("! No service"))
    rest = lines[first + 1 :]
    wrapped = [lines[first], *rest[: next(i for i, line in enumerate(rest) if line[:2] != "  ")]]
    assert len(wrapped) > 3
    for line in wrapped:  # within the width, unless one word (a path) is longer on its own
        assert len(line) <= 60 or " " not in line.strip(), wrapped
    # Lines end only between words: joined, they give back the message.
    assert " ".join(line.strip() for line in wrapped) == message


def test_bare_wizard_without_a_terminal_prints_the_help_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    run = run_wizard([], cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("error: no command, and no terminal")
    assert "wizard setup --non-interactive" in run.stderr
    assert "Commands" in run.stdout and "setup" in run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no .env, no override
    # `wizard setup` is still what CI calls.
    named = run_wizard(["setup", "--non-interactive", "--doc-dir", "docs", "--skip-port-check"],
                       cwd=tmp_path)  # fmt: skip
    assert named.returncode == 0, named.stderr
