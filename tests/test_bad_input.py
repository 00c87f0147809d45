"""Input the wizard cannot use: one clear sentence and the right exit code, never a traceback
and never a default silently taking its place.

The real `wizard` runs in a subprocess (tests/helpers.py). Exit 2 for a value it refuses, exit 1
for a directory the system will not create; either way the directory is left as it was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import WIZARD, clean_env, free_port, problem_lines, read_env, run_wizard, snapshot

BUNDLED_TLS = (
    "needs TLS, and the bundled PostgreSQL (postgres:16-alpine) serves none, so the app could "
    "not connect; use disable or prefer, or an external server that offers TLS"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A deployment directory holding its document directory `docs`."""
    root = tmp_path / "deploy"
    (root / "docs").mkdir(parents=True)
    return root


def install(project: Path) -> None:
    done = run_wizard(
        [
            "setup",
            "--doc-dir",
            "docs",
            "--skip-port-check",
            "--postgres-host-port",
            str(free_port()),
        ],
        cwd=project,
    )
    assert done.returncode == 0, done.stderr


def test_superscript_digits_are_not_a_number_a_port_or_a_gpu_index(project: Path) -> None:
    # "²".isdigit() is True, and int("²") raises: each must be refused like any other non-number.
    done = run_wizard(
        [
            "setup",
            "--doc-dir",
            "docs",
            "--postgres-host-port",
            "²",
            "--token-expiry-minutes",
            "²",
            "--db-timeout",
            "1²",
            "--deployment",
            "gpu",
            "--gpu-ids",
            "0,²",
        ],
        cwd=project,
    )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert set(problem_lines(done.stderr)) == {
        "error: --postgres-host-port: '²' is not a port; use a whole number from 1 to 65535",
        "error: --token-expiry-minutes: '²' is not valid; use a whole number from 1 to 525600",
        "error: --db-timeout: '1²' is not valid; use a whole number from 2 to 600",
        "error: --gpu-ids: '0,²' is not a list of GPU indexes or UUIDs; use e.g. 0,1 or all",
    }
    assert [path.name for path in project.iterdir()] == ["docs"]


def test_db_timeout_beyond_600_seconds_is_refused_by_setup_and_check(project: Path) -> None:
    install(project)
    huge = "99999999999999999999"
    before = snapshot(project)

    setup = run_wizard(
        [
            "setup",
            "--skip-port-check",
            "--db-timeout",
            huge,
            "--postgres-mode",
            "external",
            "--postgres-host",
            "127.0.0.1",
            "--postgres-port",
            str(free_port()),
        ],
        cwd=project,
        env={"WIZARD_POSTGRES_PASSWORD": "The external server's password 1"},
    )
    check = run_wizard(["check", "--db-timeout", huge], cwd=project)

    expected = f"error: --db-timeout: '{huge}' is not valid; use a whole number from 2 to 600"
    for done in (setup, check):
        assert done.returncode == 2, done.stderr
        assert problem_lines(done.stderr) == [expected]
    assert snapshot(project) == before


def test_token_lifetime_beyond_a_year_is_refused_by_setup_and_check(project: Path) -> None:
    install(project)
    huge = "99999999999999999999999"
    before = snapshot(project)

    for minutes in (huge, "525601"):
        done = run_wizard(
            ["setup", "--skip-port-check", "--token-expiry-minutes", minutes], cwd=project
        )
        assert done.returncode == 2, done.stderr
        assert problem_lines(done.stderr) == [
            f"error: --token-expiry-minutes: '{minutes}' is not valid; use a whole number from 1 "
            "to 525600"
        ]
    assert snapshot(project) == before

    env = project / ".env"
    env.write_text(
        env.read_text().replace(
            "ACCESS_TOKEN_EXPIRE_MINUTES='1440'", f"ACCESS_TOKEN_EXPIRE_MINUTES={huge}"
        )
    )
    check = run_wizard(["check", "--json", "--db-timeout", "2"], cwd=project)

    assert check.returncode == 1, check.stderr
    [settings] = [row for row in json.loads(check.stdout)["checks"] if row["name"] == "settings"]
    assert settings == {
        "name": "settings",
        "status": "fail",
        "detail": f"ACCESS_TOKEN_EXPIRE_MINUTES in the current .env: '{huge}' is not valid; use a "
        "whole number from 1 to 525600",
    }
    done = run_wizard(
        ["setup", "--skip-port-check", "--token-expiry-minutes", "525600"], cwd=project
    )
    assert done.returncode == 0, done.stderr
    assert read_env(project)["ACCESS_TOKEN_EXPIRE_MINUTES"] == "525600"


@pytest.mark.parametrize("wait", ["inf", "nan", "1e300", "3601", "-1"])
def test_check_waits_between_0_and_3600_seconds(project: Path, wait: str) -> None:
    install(project)

    done = run_wizard(["check", "--wait", wait], cwd=project, timeout=30)

    assert done.returncode == 2, done.stderr
    [line] = problem_lines(done.stderr)
    assert re.fullmatch(
        r"error: --wait: \S+ is not valid; give the seconds to wait, 0 to 3600", line
    ), line


def test_document_directory_under_a_file_is_refused_before_anything_is_created(
    project: Path,
) -> None:
    (project / "afile").write_text("not a directory\n")
    before = snapshot(project)

    done = run_wizard(
        [
            "setup",
            "--skip-port-check",
            "--create-doc-dirs",
            "--doc-dir",
            "new",
            "--doc-dir",
            "afile/sub",
        ],
        cwd=project,
    )

    assert done.returncode == 2, done.stderr
    assert problem_lines(done.stderr) == [
        f"error: --doc-dir: {project}/afile/sub cannot be created: {project}/afile is not a "
        "directory; give another path"
    ]
    assert snapshot(project) == before  # "new" was not created either


def test_directory_the_system_will_not_create_fails_the_run_and_removes_the_ones_it_made(
    project: Path,
) -> None:
    # A name over NAME_MAX (255 bytes): it passes every check, and mkdir refuses it.
    too_long = "x" * 300
    before = snapshot(project)

    done = run_wizard(
        [
            "setup",
            "--skip-port-check",
            "--create-doc-dirs",
            "--doc-dir",
            "made",
            "--doc-dir",
            f"new/{too_long}",
        ],
        cwd=project,
    )

    assert done.returncode == 1, done.stderr
    assert problem_lines(done.stderr) == [
        f"error: The document directory {project}/new/{too_long} could not be created: File "
        "name too long.",
        "error: Nothing was written.",
    ]
    assert snapshot(project) == before  # neither "made" nor "new" is left behind


def test_invalid_use_gpu_in_env_is_reported_not_taken_for_cpu(project: Path) -> None:
    install(project)
    env_file = project / ".env"
    env_file.write_text(re.sub(r"(?m)^USE_GPU=.*$", "USE_GPU=maybe", env_file.read_text()))
    before = snapshot(project)
    problem = (
        "USE_GPU in the current .env: 'maybe' is not a yes/no value; set it to true (GPU) or "
        "false (CPU), or run setup with --deployment cpu or gpu"
    )

    rerun = run_wizard(["setup", "--skip-port-check"], cwd=project)
    check = run_wizard(["check", "--json"], cwd=project)

    assert rerun.returncode == 2, rerun.stderr
    assert problem_lines(rerun.stderr) == [f"error: {problem}"]
    assert check.returncode == 1, check.stderr
    settings = [row for row in json.loads(check.stdout)["checks"] if row["name"] == "settings"]
    assert settings == [{"name": "settings", "status": "fail", "detail": problem}]
    assert snapshot(project) == before

    fixed = run_wizard(["setup", "--skip-port-check", "--deployment", "gpu"], cwd=project)

    assert fixed.returncode == 0, fixed.stderr
    assert read_env(project)["USE_GPU"] == "true"


@pytest.mark.parametrize("sslmode", ["require", "verify-ca", "verify-full"])
def test_bundled_server_refuses_an_sslmode_that_needs_tls(project: Path, sslmode: str) -> None:
    done = run_wizard(["setup", "--doc-dir", "docs", "--postgres-sslmode", sslmode], cwd=project)

    assert done.returncode == 2, done.stderr
    assert problem_lines(done.stderr) == [f"error: --postgres-sslmode: {sslmode} {BUNDLED_TLS}"]
    assert [path.name for path in project.iterdir()] == ["docs"]


@pytest.mark.parametrize("sslmode", ["disable", "prefer"])
def test_bundled_server_takes_an_sslmode_without_tls(project: Path, sslmode: str) -> None:
    done = run_wizard(
        ["setup", "--doc-dir", "docs", "--skip-port-check", "--postgres-sslmode", sslmode],
        cwd=project,
    )

    assert done.returncode == 0, done.stderr
    assert read_env(project)["POSTGRES_SSLMODE"] == sslmode


def test_an_empty_document_directory_is_refused_like_a_missing_one(project: Path) -> None:
    # `--doc-dir "$UNSET_VAR"` in CI, or an answers file with an empty entry.
    (project / "answers.yaml").write_text('doc_dir: ["", null]\n')
    for args, label in (
        (["--doc-dir", ""], "--doc-dir"),
        (["--doc-dir", "docs", "--doc-dir", " "], "--doc-dir"),
        (["--answers", str(project / "answers.yaml")], "doc_dir in the answers file"),
    ):
        done = run_wizard(["setup", "--skip-port-check", *args], cwd=project)

        assert done.returncode == 2, done.stderr
        assert f"error: {label}: an empty path is not a document directory (an unset " in (
            done.stderr
        )
        assert sorted(path.name for path in project.iterdir()) == ["answers.yaml", "docs"]


def test_an_empty_document_directory_on_a_rerun_keeps_the_mounts(project: Path) -> None:
    install(project)
    before = snapshot(project)

    done = run_wizard(["setup", "--skip-port-check", "--doc-dir", ""], cwd=project)

    assert done.returncode == 2, done.stderr
    assert problem_lines(done.stderr) == [
        "error: --doc-dir: an empty path is not a document directory (an unset variable?); "
        "give the directory that holds the documents"
    ]
    assert snapshot(project) == before


# `python -c WITH_MEMORY_LIMIT BYTES COMMAND...`: COMMAND cannot map more than BYTES, so a read
# without a bound fails fast (MemoryError) instead of eating the machine's memory.
WITH_MEMORY_LIMIT = """\
import os, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
os.execv(sys.argv[2], sys.argv[2:])
"""

TOO_LONG = "a secret can be at most 4096 bytes"


def test_a_secret_file_without_end_is_refused_without_reading_it_all(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITH_MEMORY_LIMIT, str(1 << 30), str(WIZARD),
         "setup", "--doc-dir", "docs", "--skip-port-check", "--postgres-password-file",
         "/dev/zero"],
        cwd=project, env=clean_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert problem_lines(done.stderr) == [
        "error: --postgres-password-file: /dev/zero holds more than 4096 bytes; "
        f"{TOO_LONG} (a process cannot receive much more in one environment variable)"
    ]
    assert [path.name for path in project.iterdir()] == ["docs"]


def test_a_secret_longer_than_4096_bytes_is_refused_however_it_is_given(
    project: Path, tmp_path: Path
) -> None:
    long_file = tmp_path / "long-password"
    long_file.write_text("p" * 1_000_000 + "\n")
    exactly = tmp_path / "longest-jwt"
    exactly.write_text(("Jj1" * 1366)[:4096] + "\n")  # the longest allowed, and its newline
    cases = [
        (["--postgres-password-file", str(long_file)], {}, None, "--postgres-password-file"),
        (["--postgres-password-file", "-"], {}, "p" * 5000, "--postgres-password-file"),
        ([], {"WIZARD_JWT_SECRET": "j" * 4097}, None, "WIZARD_JWT_SECRET"),
    ]
    for args, env, stdin, label in cases:
        done = run_wizard(
            ["setup", "--doc-dir", "docs", "--skip-port-check", *args], cwd=project, env=env,
            input=stdin,
        )  # fmt: skip

        assert done.returncode == 2, done.stderr
        [line] = problem_lines(done.stderr)
        assert line.startswith(f"error: {label}: ") and TOO_LONG in line
        assert [path.name for path in project.iterdir()] == ["docs"]

    done = run_wizard(
        ["setup", "--doc-dir", "docs", "--skip-port-check", "--jwt-secret-file", str(exactly)],
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    assert read_env(project)["JWT_SECRET_KEY"] == ("Jj1" * 1366)[:4096]


def test_env_that_is_not_utf8_is_named_with_its_line(project: Path) -> None:
    install(project)
    env = project / ".env"
    lines = env.read_bytes().splitlines(keepends=True)
    lines.insert(4, b"# caf\xe9 in Latin-1\n")
    env.write_bytes(b"".join(lines))
    before = snapshot(project)

    for command, code in (
        (["setup", "--skip-port-check"], 2),
        (["show"], 2),
        (["check", "--json"], 1),
    ):
        done = run_wizard(command, cwd=project)

        assert done.returncode == code, done.stderr
        assert f"{env}: is not UTF-8 text (line 5); save it as UTF-8" in done.stdout + done.stderr
        assert "permissions" not in done.stdout + done.stderr
    assert snapshot(project) == before


def test_document_directory_that_is_a_broken_symlink_says_so(project: Path) -> None:
    (project / "loop").symlink_to("loop")
    (project / "dangling").symlink_to(project / "gone")

    for create in ([], ["--create-doc-dirs"]):
        done = run_wizard(
            ["setup", "--skip-port-check", "--doc-dir", "loop", "--doc-dir", "dangling", *create],
            cwd=project,
        )

        assert done.returncode == 2, done.stderr
        assert problem_lines(done.stderr) == [
            f"error: --doc-dir: {project}/loop is a symbolic link that loops (it leads back to "
            "itself); point it at a directory or give the directory itself",
            f"error: --doc-dir: {project}/dangling is a symbolic link to {project}/gone, which "
            "does not exist; point it at a directory or give the directory itself",
        ]
        assert sorted(path.name for path in project.iterdir()) == ["dangling", "docs", "loop"]


def test_answers_file_that_gives_an_answer_twice_is_refused_naming_it(project: Path) -> None:
    answers = project / "answers.yaml"
    answers.write_text("log_level: INFO\ndeployment: cpu\nlog-level: DEBUG\n")

    done = run_wizard(
        ["setup", "--skip-port-check", "--doc-dir", "docs", "--answers", str(answers)], cwd=project
    )

    assert done.returncode == 2, done.stderr
    assert problem_lines(done.stderr) == [
        f"error: --answers: {answers} gives log_level twice (lines 1 and 3); keep one"
    ]
    assert sorted(path.name for path in project.iterdir()) == ["answers.yaml", "docs"]


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_an_env_that_is_no_file_is_named_for_what_it_is(project: Path, kind: str) -> None:
    env = project / ".env"
    if kind == "directory":
        env.mkdir()
        said = "is a directory, not a file"
    else:
        os.mkfifo(env)  # reading it would wait for a writer forever
        said = "is a named pipe (FIFO), not a file"
    docs = project / "docs"

    setup = run_wizard(
        ["setup", "--non-interactive", "--doc-dir", str(docs), "--skip-port-check"],
        cwd=project,
        timeout=30,
    )
    checked = run_wizard(["check"], cwd=project, timeout=30)
    shown = run_wizard(["show"], cwd=project, timeout=30)

    assert (setup.returncode, checked.returncode, shown.returncode) == (2, 1, 2)
    for output in (setup.stderr, " ".join(checked.stdout.split()), shown.stderr):
        assert said in output
        assert "permissions" not in output
    assert sorted(p.name for p in project.iterdir()) == [".env", "docs"]
