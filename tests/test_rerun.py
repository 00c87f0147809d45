"""Re-running the wizard on a configured deployment: nothing lost, nothing surprising.

The real `wizard` console script runs in a subprocess with a clean environment (tests/helpers.py);
the "bundled" PostgreSQL of the password-rotation tests is a real throwaway server (tests/pg.py)
published on the port the deployment names. Failures are real ones: a stopped server, a full
filesystem, a file-size limit, a lock held by another process. Nothing of the wizard is replaced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import secrets
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from helpers import (
    REPO,
    WIZARD,
    clean_env,
    free_port,
    read_env,
    run_wizard,
    small_tmpfs,
    start_wizard,
)
from keys import DOWN, ENTER, drive
from pg import AppDatabase, PostgresServer

from wizard.commands.setup import run
from wizard.commands.setup_report import Request
from wizard.config.answers import Answers, Source
from wizard.config.resolve import build
from wizard.errors import Cancelled
from wizard.files.lock import LOCK_NAME
from wizard.files.project import load_project
from wizard.plan.model import make_plan
from wizard.ui.console import UI
from wizard.ui.review import rows

ENV = ".env"
OVERRIDE = "docker-compose.override.yml"
HEX64 = re.compile(r"[0-9a-f]{64}")
HAND_ADDED = (
    b"# Added by hand: the token of the proxy in front of the web UI.\n"
    b"PROXY_TOKEN='hand-added-token-0123'\n"
)


# --- helpers --------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A deployment directory holding its document directory `docs`."""
    root = tmp_path / "deploy"
    (root / "docs").mkdir(parents=True)
    return root


def wizard(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`wizard ARGS` in `project`, without a terminal (so never interactive)."""
    return run_wizard(list(args), cwd=project, env=env)


def install(
    project: Path, *extra: str, env: dict[str, str] | None = None, doc_dir: str = "docs"
) -> None:
    """A first install: one document directory, PostgreSQL bundled on a closed host port."""
    args = ["setup", "--doc-dir", doc_dir, "--skip-port-check", *extra]
    if "--postgres-host-port" not in extra:
        args += ["--postgres-host-port", str(free_port())]
    done = wizard(project, *args, env=env)
    assert done.returncode == 0, done.stderr


def rerun(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return wizard(project, "setup", "--skip-port-check", *args, env=env)


def state(directory: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every path under `directory` (itself included): content (None for a directory), mode and
    mtime, so that a file created and removed again shows in its directory's mtime."""
    found: dict[str, tuple[bytes | None, int, int]] = {".": (None, *_mode_and_mtime(directory))}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root, name)
            content = None if name in dirs else path.read_bytes()
            found[str(path.relative_to(directory))] = (content, *_mode_and_mtime(path))
    return found


def _mode_and_mtime(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return stat.S_IMODE(info.st_mode), info.st_mtime_ns


def files(directory: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """`state` without the directory's own mtime: what a run that takes the project lock, and
    then writes nothing or fails, may not change. While it holds the lock, .wizard.lock names it;
    it writes through temporary files; a failure removes them again. All that touches only the
    directory's mtime, and leaves no trace besides."""
    found = state(directory)
    del found["."]
    return found


def contents(directory: Path) -> dict[str, tuple[bytes | None, int]]:
    """`files` without the mtimes: what a rotation that failed or was interrupted leaves as it
    was (its write-ahead rewrites .env, and putting it back rewrites it again)."""
    return {name: (content, mode) for name, (content, mode, _) in files(directory).items()}


def backups(project: Path, name: str = ENV) -> list[Path]:
    return sorted(project.glob(f"{name}.bak.*"))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def changed_lines(old: bytes, new: bytes) -> list[tuple[bytes, bytes]]:
    """The lines that differ between two files with the same number of lines."""
    before, after = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(before) == len(after), "lines were added or removed"
    return [(a, b) for a, b in zip(before, after, strict=True) if a != b]


def add_by_hand(project: Path, after: bytes, text: bytes) -> bytes:
    """Insert `text` after the line `after` of .env, as a person editing it would."""
    path = project / ENV
    original = path.read_bytes()
    assert original.count(after) == 1
    path.write_bytes(original.replace(after, after + text))
    return path.read_bytes()


def secrets_of(project: Path) -> list[str]:
    env = read_env(project)
    return [env["POSTGRES_PASSWORD"] or "", env["JWT_SECRET_KEY"] or ""]


def assert_no_secret(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output
    assert not HEX64.search(output), "a generated secret reached the output"


def url_password(url: str | None) -> str:
    assert url is not None
    password = urlsplit(url).password
    assert password is not None
    return unquote(password)


# --- re-run: minimal change -----------------------------------------------------------------------


def test_rerun_with_one_changed_answer_changes_exactly_one_line(project: Path) -> None:
    install(project)
    override_before = (project / OVERRIDE).read_bytes()
    before = add_by_hand(project, b"LOG_LEVEL='INFO'\n", HAND_ADDED)
    password, jwt = secrets_of(project)

    done = rerun(project, "--log-level", "DEBUG")

    assert done.returncode == 0, done.stderr
    after = (project / ENV).read_bytes()
    assert changed_lines(before, after) == [(b"LOG_LEVEL='INFO'\n", b"LOG_LEVEL='DEBUG'\n")]
    assert HAND_ADDED in after
    assert secrets_of(project) == [password, jwt]
    assert mode_of(project / ENV) == 0o600
    # One backup: of .env, byte for byte, private. The override did not change: no backup of it.
    [backup] = backups(project)
    assert backup.read_bytes() == before
    assert mode_of(backup) == 0o600
    assert (project / OVERRIDE).read_bytes() == override_before
    assert backups(project, OVERRIDE) == []
    assert_no_secret(done.stdout + done.stderr, password, jwt, "hand-added-token-0123")


def test_rerun_without_changes_writes_nothing(project: Path) -> None:
    install(project)
    before = files(project)

    done = rerun(project)

    assert done.returncode == 0, done.stderr
    assert "Nothing changed" in done.stderr
    assert files(project) == before


def test_key_missing_from_an_older_env_is_appended_with_its_comment(project: Path) -> None:
    install(project)
    template = (REPO / "templates" / "env.template").read_text()
    text = (project / ENV).read_text()
    # An .env written by an older wizard that did not know these two keys yet.
    for key in ("POSTGRES_SSLROOTCERT", "ACCESS_TOKEN_EXPIRE_MINUTES"):
        block = comment_above(template, key)
        [line] = [line for line in text.splitlines(keepends=True) if line.startswith(f"{key}=")]
        assert f"\n{block}{line}" in text
        text = text.replace(f"\n{block}{line}", "")
    (project / ENV).write_text(text)

    done = rerun(project)

    assert done.returncode == 0, done.stderr
    assert (project / ENV).read_text() == (
        text
        + f"\n{comment_above(template, 'POSTGRES_SSLROOTCERT')}POSTGRES_SSLROOTCERT=''\n"
        + f"\n{comment_above(template, 'ACCESS_TOKEN_EXPIRE_MINUTES')}"
        + "ACCESS_TOKEN_EXPIRE_MINUTES='1440'\n"
    )


def comment_above(template: str, key: str) -> str:
    """The `#` lines directly above `KEY=` in the template."""
    lines = template.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
    start = index
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    assert start < index, f"{key} has no comment in the template"
    return "".join(lines[start:index])


def test_rerun_keeps_crlf_line_endings(project: Path) -> None:
    install(project)
    path = project / ENV
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    before = path.read_bytes()

    unchanged = rerun(project)
    assert unchanged.returncode == 0, unchanged.stderr
    assert path.read_bytes() == before
    done = rerun(project, "--log-level", "DEBUG")

    assert done.returncode == 0, done.stderr
    assert changed_lines(before, path.read_bytes()) == [
        (b"LOG_LEVEL='INFO'\r\n", b"LOG_LEVEL='DEBUG'\r\n")
    ]


def test_malformed_env_is_reported_with_line_numbers_and_left_untouched(project: Path) -> None:
    (project / ENV).write_text(
        "# written by hand\n"
        "LOG_LEVEL=INFO\n"
        "JUST_A_WORD\n"
        "POSTGRES_PASSWORD='unclosed-secret-value\n"
        "USE_GPU=false\n"
    )
    (project / ENV).chmod(0o640)
    before = state(project)

    for args in (["setup", "--doc-dir", "docs"], ["setup", "--dry-run"], ["show"]):
        done = wizard(project, *args)

        assert done.returncode == 2, (args, done.stderr)
        problems = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert len(problems) == 2, done.stderr
        assert "line 3: has no '='" in problems[0]
        assert "line 4: the quoted value of POSTGRES_PASSWORD is not closed" in problems[1]
        assert all("the file was left untouched" in line for line in problems)
        assert "unclosed-secret-value" not in done.stdout + done.stderr
        # Not even a lock file or a backup: the directory is exactly as it was.
        assert state(project) == before


# --- re-run: secrets ------------------------------------------------------------------------------


# A secret as people leave it lying around in .env; the tests look for pieces of it, not only for
# the whole, since a message that quotes half a password leaks it too.
PASTED_SECRET = "hunter3SECRETxyz9tail"
SECRET_PIECES = ("hunter", "3SECRET", "xyz9")


def assert_no_piece_of_the_pasted_secret(output: str) -> None:
    for piece in SECRET_PIECES:
        assert piece.lower() not in output.lower(), f"{piece!r} (part of a secret) was printed"


def test_password_pasted_on_a_line_of_its_own_is_reported_by_line_number_only(
    project: Path,
) -> None:
    install(project)
    add_by_hand(project, b"LOG_LEVEL='INFO'\n", f"{PASTED_SECRET}\n".encode())
    number = (project / ENV).read_text().splitlines().index(PASTED_SECRET) + 1

    for args in (["setup", "--skip-port-check"], ["show"], ["check", "--json"]):
        done = wizard(project, *args)

        assert_no_piece_of_the_pasted_secret(done.stdout + done.stderr)
        assert done.returncode in (1, 2), (args, done.stderr)
        assert f"line {number}: has no '='" in done.stdout + done.stderr


def test_rerun_diff_hides_comments_a_person_added_but_shows_the_templates(project: Path) -> None:
    install(project)
    template_comment = (
        b"# How much the services log: DEBUG, INFO, WARNING or ERROR. Default: INFO.\n"
    )
    add_by_hand(project, template_comment, f"# old password: {PASTED_SECRET}\n".encode())
    path = project / ENV
    path.write_bytes(
        path.read_bytes().replace(
            b"LOG_LEVEL='INFO'\n", f"LOG_LEVEL='INFO' # {PASTED_SECRET}\n".encode()
        )
    )

    done = rerun(project, "--log-level", "DEBUG")

    assert done.returncode == 0, done.stderr
    assert_no_piece_of_the_pasted_secret(done.stdout + done.stderr)
    assert f"\n {template_comment.decode()}" in done.stderr  # the template's: context as it is
    assert "\n # <comment>\n" in done.stderr
    assert "\n-LOG_LEVEL=INFO # <comment>\n+LOG_LEVEL=DEBUG # <comment>\n" in done.stderr


def test_rerun_keeps_an_inline_comment_and_shows_an_export_line_as_written(project: Path) -> None:
    install(project)
    path = project / ENV
    path.write_bytes(
        path.read_bytes().replace(
            b"LOG_LEVEL='INFO'\n",
            b"LOG_LEVEL=WARNING # mine-7731\nexport MYKEY=hand-added-token-0123\n",
        )
    )

    done = rerun(project, "--log-level", "DEBUG")

    assert done.returncode == 0, done.stderr
    assert (
        b"LOG_LEVEL='DEBUG' # mine-7731\nexport MYKEY=hand-added-token-0123\n" in path.read_bytes()
    )
    assert "\n-LOG_LEVEL=WARNING # <comment>\n+LOG_LEVEL=DEBUG # <comment>\n" in done.stderr
    assert "\n export MYKEY=<secret>\n" in done.stderr  # untouched: shown as it is, redacted
    assert_no_secret(done.stdout + done.stderr, "hand-added-token-0123", "mine-7731")


def test_rotating_the_jwt_secret_warns_and_keeps_the_postgres_password(project: Path) -> None:
    install(project)
    before = (project / ENV).read_bytes()
    password, jwt = secrets_of(project)

    done = rerun(project, "--rotate-jwt-secret")

    assert done.returncode == 0, done.stderr
    assert "every signed-in user will have to sign in again" in done.stderr
    [(old, new)] = changed_lines(before, (project / ENV).read_bytes())
    assert old == f"JWT_SECRET_KEY='{jwt}'\n".encode()
    new_jwt = read_env(project)["JWT_SECRET_KEY"] or ""
    assert new == f"JWT_SECRET_KEY='{new_jwt}'\n".encode()
    assert HEX64.fullmatch(new_jwt) and new_jwt != jwt
    assert read_env(project)["POSTGRES_PASSWORD"] == password
    assert_no_secret(done.stdout + done.stderr, password, jwt)

    # A new secret given as a value signs everyone out too.
    given = "a-jwt-secret-given-by-value-0123456789abc"
    done = rerun(project, env={"WIZARD_JWT_SECRET": given})

    assert done.returncode == 0, done.stderr
    assert "every signed-in user will have to sign in again" in done.stderr
    assert read_env(project)["JWT_SECRET_KEY"] == given
    # Keeping it does not warn.
    done = rerun(project, "--log-level", "DEBUG")

    assert done.returncode == 0, done.stderr
    assert "sign in again" not in done.stderr
    assert read_env(project)["JWT_SECRET_KEY"] == given


def test_review_rows_mark_what_a_rerun_changes(project: Path) -> None:
    install(project)
    current = load_project(project)
    password, jwt = secrets_of(project)

    def review(flags: dict[str, Any], before: dict[str, str]) -> list[Any]:
        inputs = Answers([(Source.FLAG, flags), (Source.ENV, {}), (Source.FILE, {})])
        resolved = build(current.layered(inputs), cwd=project, existing_documents=current.documents)
        return rows(resolved, before, make_plan(current, resolved).env)

    table = review({"log_level": "DEBUG", "rotate_jwt_secret": True}, dict(current.env))

    assert {row.setting for row in table if row.changed} == {"Log level", "JWT secret"}
    by_setting = {row.setting: row for row in table}
    assert (by_setting["Log level"].value, by_setting["Log level"].source) == ("DEBUG", "flag")
    assert by_setting["JWT secret"].value.endswith("— signs every user out")
    assert by_setting["JWT secret"].source == "generated"
    assert by_setting["PostgreSQL password"].source == "current .env"
    # Documents come from the override's x-wizard block, not from .env.
    assert by_setting["Documents"].source == "current override"
    for row in table:
        assert password not in row.value and jwt not in row.value
    # A secret given anew signs everyone out just the same.
    given = review({"jwt_secret": "a-jwt-secret-given-by-value-0123456789abc"}, dict(current.env))
    jwt_row = next(row for row in given if row.setting == "JWT secret")
    assert jwt_row.changed and jwt_row.value.endswith("— signs every user out")
    # Nothing is marked on a first install (there is nothing to compare with).
    assert not [row for row in review({}, {}) if row.changed]


# --- --dry-run ------------------------------------------------------------------------------------


def test_dry_run_changes_no_file_and_its_diff_shows_no_secret(project: Path) -> None:
    install(project)
    add_by_hand(project, b"LOG_LEVEL='INFO'\n", HAND_ADDED)
    password, jwt = secrets_of(project)
    corrected = "corrected-password-$-'quote'-0123"
    before = state(project)

    done = rerun(
        project,
        "--dry-run",
        "--json",
        "--log-level",
        "DEBUG",
        "--rotate-jwt-secret",
        "--skip-db-check",  # no server to validate the corrected password against
        env={"WIZARD_POSTGRES_PASSWORD": corrected},
    )

    assert done.returncode == 0, done.stderr
    assert state(project) == before  # contents, modes and times; no file created and removed
    diff = done.stderr
    assert "--- .env (now)\n+++ .env (planned)\n" in diff
    for line in (
        "-LOG_LEVEL='INFO'",
        "+LOG_LEVEL='DEBUG'",
        " PROXY_TOKEN=<secret>",  # a key added by hand may be a token too: redacted
        "-POSTGRES_PASSWORD=<secret>",
        "+POSTGRES_PASSWORD=<secret, new value>",
        "-DATABASE_URL=<secret>",
        "+DATABASE_URL=<secret, new value>",
        "-JWT_SECRET_KEY=<secret>",
        "+JWT_SECRET_KEY=<secret, new value>",
    ):
        assert f"\n{line}\n" in diff
    assert "Dry run: nothing was written." in diff
    assert_no_secret(done.stdout + diff, password, jwt, corrected, "hand-added-token-0123")
    report = json_object(done.stdout)
    assert report["dry_run"] is True and report["written"] == [] and report["changed"] == [ENV]


def test_dry_run_exits_1_when_a_check_fails_and_changes_nothing(project: Path) -> None:
    install(project)
    before = state(project)

    done = rerun(
        project,
        "--dry-run",
        "--postgres-mode",
        "external",
        "--postgres-host",
        "127.0.0.1",
        "--postgres-port",
        str(free_port()),
        env={"WIZARD_POSTGRES_PASSWORD": "The external server's password 1"},
    )

    assert done.returncode == 1, done.stderr
    assert "connection refused" in done.stderr
    assert state(project) == before


def json_object(stdout: str) -> dict[str, Any]:
    data = json.loads(stdout)
    assert isinstance(data, dict)
    return data


# --- backups and rollback -------------------------------------------------------------------------


def test_rollback_restores_the_previous_files_byte_for_byte(project: Path, tmp_path: Path) -> None:
    install(project)
    (tmp_path / "more docs").mkdir()
    env_a, override_a = (project / ENV).read_bytes(), (project / OVERRIDE).read_bytes()
    done = rerun(project, "--log-level", "DEBUG", "--doc-dir", "docs", "--doc-dir", "../more docs")
    assert done.returncode == 0, done.stderr
    env_b, override_b = (project / ENV).read_bytes(), (project / OVERRIDE).read_bytes()
    assert env_b != env_a and override_b != override_a
    [first_set] = [p.name.split(".bak.")[1] for p in backups(project)]
    assert {p.name for p in project.glob("*.bak.*")} == {
        f"{ENV}.bak.{first_set}",
        f"{OVERRIDE}.bak.{first_set}",
    }

    done = wizard(project, "rollback", "--json")

    assert done.returncode == 0, done.stderr
    assert (project / ENV).read_bytes() == env_a
    assert (project / OVERRIDE).read_bytes() == override_a
    assert mode_of(project / ENV) == 0o600
    report = json_object(done.stdout)
    assert report["restored"] == first_set and sorted(report["written"]) == [ENV, OVERRIDE]
    # What the rollback replaced is itself a backup set: a second rollback undoes the first.
    assert (project / f"{ENV}.bak.{report['backup']}").read_bytes() == env_b

    done = wizard(project, "rollback")

    assert done.returncode == 0, done.stderr
    assert (project / ENV).read_bytes() == env_b
    assert (project / OVERRIDE).read_bytes() == override_b

    done = wizard(project, "rollback", "--to", first_set)

    assert done.returncode == 0, done.stderr
    assert (project / ENV).read_bytes() == env_a
    assert all(mode_of(path) == 0o600 for path in project.glob("*.bak.*"))

    done = wizard(project, "rollback", "--to", "20000101T000000.000000Z")

    assert done.returncode == 2
    assert "no backup set '20000101T000000.000000Z'; available: " in done.stderr


def test_rollback_of_a_password_change_warns_that_the_server_may_keep_the_new_one(
    project: Path,
) -> None:
    install(project)
    corrected = "the-password-the-server-uses-0123"
    # A correction, written unvalidated on request (no server answers on the closed port).
    done = rerun(project, "--skip-db-check", env={"WIZARD_POSTGRES_PASSWORD": corrected})
    assert done.returncode == 0, done.stderr

    before = files(project)

    refused = wizard(project, "rollback")

    # No server answers, so the restored password cannot be shown to work: refused.
    assert refused.returncode == 1, refused.stderr
    assert "holds another PostgreSQL password than the current one" in refused.stderr
    assert "restore it anyway with --force" in refused.stderr
    assert files(project) == before

    done = wizard(project, "rollback", "--force")

    assert done.returncode == 0, done.stderr
    assert "another PostgreSQL password than the one it replaced" in done.stderr
    assert "run `wizard rollback` again to undo this rollback" in done.stderr
    assert_no_secret(refused.stdout + refused.stderr + done.stdout + done.stderr, corrected)

    done = wizard(project, "rollback", "--force")

    assert done.returncode == 0, done.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == corrected


def test_rollback_past_a_rotation_is_refused_unless_forced_and_the_newest_set_settles(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("rolled", "rolled_db")
    install_bundled(project, app)
    for _ in range(2):
        assert rerun(project, "--rotate-postgres-password").returncode == 0
    current = read_env(project)["POSTGRES_PASSWORD"] or ""
    oldest = sorted(path.name.split(".bak.")[1] for path in backups(project))[0]
    before = files(project)

    refused = wizard(project, "rollback", "--to", oldest)

    assert refused.returncode == 1, refused.stderr
    assert (
        f"Nothing was restored: the .env of backup set {oldest} holds another PostgreSQL "
        "password than the current one, and it cannot be shown to work (the server refuses it)"
    ) in refused.stderr
    assert files(project) == before
    assert logs_in(app, current)

    # The newest set is the last rotation's write-ahead: both passwords, so it settles.
    done = wizard(project, "rollback")
    assert done.returncode == 0, done.stderr
    checked = wizard(project, "check", "--json", "--db-timeout", "5")
    rows = {row["name"]: row for row in json_object(checked.stdout)["checks"]}
    assert rows["database (bundled)"]["status"] == "ok", rows
    assert read_env(project)["POSTGRES_PASSWORD"] == current

    forced = wizard(project, "rollback", "--to", oldest, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "another PostgreSQL password than the one it replaced" in forced.stderr
    assert_no_secret(refused.stderr + done.stderr + forced.stderr, app.password, current)


# --- the project lock -----------------------------------------------------------------------------

HOLD_LOCK = """\
import sys
from pathlib import Path
from wizard.files.lock import project_lock

with project_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextmanager
def lock_held_by_another_process(project: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the project lock until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(project)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream:
                stream.close()


def test_second_wizard_is_refused_while_another_holds_the_lock(project: Path) -> None:
    install(project)
    assert rerun(project, "--log-level", "DEBUG").returncode == 0  # a backup set to roll back to
    before = files(project)

    with lock_held_by_another_process(project) as holder:
        note = files(project).pop(LOCK_NAME)  # names the holder
        for args in (["setup", "--skip-port-check", "--log-level", "ERROR"], ["rollback"]):
            done = wizard(project, *args)

            assert done.returncode == 1, (args, done.stderr)
            assert f"another wizard (pid {holder.pid}, started " in done.stderr
            assert f"is changing {project}; wait for it or stop it" in done.stderr
            assert files(project) == {**before, LOCK_NAME: note}

        # A holder that dies leaves a stale lock, which the next run takes over.
        holder.send_signal(signal.SIGKILL)
        holder.wait()

        done = rerun(project, "--log-level", "ERROR")

        assert done.returncode == 0, done.stderr
        assert read_env(project)["LOG_LEVEL"] == "ERROR"
        assert not (project / LOCK_NAME).exists()


# --- wizard show ----------------------------------------------------------------------------------


def test_show_masks_secrets_and_says_where_each_value_came_from(project: Path) -> None:
    install(project, "--log-level", "WARNING", "--deployment", "gpu", "--gpu-ids", "0")
    password, jwt = secrets_of(project)
    # An .env without the token lifetime: that value is the default.
    text = (project / ENV).read_text()
    (project / ENV).write_text(re.sub(r"(?m)^ACCESS_TOKEN_EXPIRE_MINUTES=.*\n", "", text))
    before = state(project)
    # What this shell would give a setup run does not change what is configured now.
    env = {"COLUMNS": "200", "WIZARD_LOG_LEVEL": "ERROR", "WIZARD_POSTGRES_PASSWORD": "Xx1" * 7}

    shown = wizard(project, "show", env=env)
    as_json = wizard(project, "show", "--json", env=env)

    assert shown.returncode == 0, shown.stderr
    assert as_json.returncode == 0, as_json.stderr
    assert state(project) == before
    for done in (shown, as_json):
        assert_no_secret(done.stdout + done.stderr, password, jwt)
    table = {
        cells[0]: cells[1:]
        for line in shown.stdout.splitlines()  # the command's own output
        # Setting, value, source: nothing is being changed, so no "changed" column.
        if len(cells := [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]) == 3
    }
    assert table["Log level"][:2] == ["WARNING", "current .env"]
    assert table["Access-token lifetime"][:2] == ["1440 minutes", "default"]
    assert table["PostgreSQL password"][0].startswith("•••••••• (64 characters")
    assert table["JWT secret"][0].startswith("•••••••• (64 characters")
    # Documents and GPUs come from the override's x-wizard block, not from .env.
    assert table["Documents"][1] == "current override"
    assert table["GPUs"][:2] == ["0", "current override"]
    settings = json_object(as_json.stdout)
    assert settings["log_level"] == "WARNING"
    assert settings["postgres"]["password"].startswith("•••••••• (64 characters")
    assert settings["jwt_secret"].startswith("•••••••• (64 characters")
    assert settings["sources"]["log_level"] == "current .env"
    assert settings["sources"]["token_expiry_minutes"] == "default"
    assert settings["sources"]["postgres_password"] == "current .env"

    # A document directory that has gone does not hide the rest of the configuration.
    (project / "docs").rmdir()
    shown = wizard(project, "show", env=env)

    assert shown.returncode == 0, shown.stderr
    assert f"The document directory {project / 'docs'} does not exist." in shown.stderr


def test_show_without_a_configuration_exits_2(project: Path) -> None:
    done = wizard(project, "show")

    assert done.returncode == 2
    assert "has no .env; run `wizard setup` first" in done.stderr
    assert sorted(os.listdir(project)) == ["docs"]


# --- PostgreSQL password rotation against a real server -------------------------------------------


@pytest.fixture
def server(postgres_factory: Callable[[], PostgresServer]) -> PostgresServer:
    """A running server that plays the bundled PostgreSQL: the deployment publishes it on this
    server's port, which is therefore taken (hence --skip-port-check)."""
    made = postgres_factory()
    made.start()
    return made


def install_bundled(project: Path, app: AppDatabase, *, doc_dir: str = "docs") -> None:
    install(
        project,
        "--postgres-host-port",
        str(app.port),
        "--postgres-db",
        app.dbname,
        "--postgres-user",
        app.user,
        env={"WIZARD_POSTGRES_PASSWORD": app.password},
        doc_dir=doc_dir,
    )


def logs_in(app: AppDatabase, password: str) -> bool:
    """True if `password` opens a fresh session; False if the server refuses it."""
    try:
        psycopg.connect(
            host=app.host,
            port=app.port,
            dbname=app.dbname,
            user=app.user,
            password=password,
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError as exc:
        assert "password authentication failed" in str(exc)
        return False
    return True


def test_rotation_changes_the_password_on_the_server_then_in_env(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("rotated", "rotated_db")
    install_bundled(project, app)
    before = (project / ENV).read_bytes()
    jwt = read_env(project)["JWT_SECRET_KEY"]
    snapshot = state(project)

    dry = rerun(project, "--rotate-postgres-password", "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert "The server accepts the current PostgreSQL password" in dry.stderr
    assert state(project) == snapshot
    assert logs_in(app, app.password)

    done = rerun(project, "--rotate-postgres-password")

    assert done.returncode == 0, done.stderr
    assert "PostgreSQL password changed on the server and verified." in done.stderr
    env = read_env(project)
    new = env["POSTGRES_PASSWORD"] or ""
    assert HEX64.fullmatch(new)
    assert logs_in(app, new)
    assert not logs_in(app, app.password)
    assert url_password(env["DATABASE_URL"]) == new
    assert env["JWT_SECRET_KEY"] == jwt
    changed = [old.split(b"=")[0] for old, _ in changed_lines(before, (project / ENV).read_bytes())]
    assert changed == [b"POSTGRES_PASSWORD", b"DATABASE_URL"]
    # The one backup set holds .env as the write-ahead left it: both passwords, so a rollback
    # to it settles to the one the server has.
    [backup] = backups(project)
    assert mode_of(backup) == 0o600
    assert backup.read_bytes() == before.replace(
        f"\n{PENDING}=\n".encode(), f"\n{PENDING}='{new}'\n".encode()
    )
    assert_no_secret(done.stdout + done.stderr, app.password, new)

    # Rotating to a password of one's own choosing works the same way.
    chosen = "chosen pa$$word with 'quotes' and \\ 0123"
    done = rerun(project, "--rotate-postgres-password", env={"WIZARD_POSTGRES_PASSWORD": chosen})

    assert done.returncode == 0, done.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == chosen
    assert logs_in(app, chosen)
    assert not logs_in(app, new)
    assert_no_secret(done.stdout + done.stderr, chosen, new)


def test_corrected_password_is_validated_against_the_server_and_not_rotated(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("corrected", "corrected_db")
    # .env holds a password the server never had (say, edited by hand).
    install_bundled(project, replace(app, password="not-the-servers-password-0123"))
    before = files(project)

    wrong = rerun(project, env={"WIZARD_POSTGRES_PASSWORD": "still-not-the-servers-0123"})

    assert wrong.returncode == 1, wrong.stderr
    assert "wrong password or no such user" in wrong.stderr
    assert "To change the server's password, add --rotate-postgres-password." in wrong.stderr
    assert files(project) == before

    done = rerun(project, env={"WIZARD_POSTGRES_PASSWORD": app.password})

    assert done.returncode == 0, done.stderr
    assert "The corrected PostgreSQL password connects." in done.stderr
    assert "changed on the server" not in done.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == app.password
    assert logs_in(app, app.password)
    assert_no_secret(wrong.stdout + wrong.stderr + done.stdout + done.stderr, app.password)


def test_corrected_password_with_the_bundled_server_down_is_written_only_with_skip_db_check(
    project: Path,
) -> None:
    install(project)  # nothing listens on the bundled server's host port
    before = files(project)
    corrected = "the-password-the-server-uses-0123"

    refused = rerun(project, env={"WIZARD_POSTGRES_PASSWORD": corrected})

    assert refused.returncode == 1, refused.stderr
    assert "Could not validate the corrected PostgreSQL password: " in refused.stderr
    assert "connection refused" in refused.stderr
    assert (
        "Nothing was written. Start the bundled server first (docker compose up -d postgres) "
        "and re-run, or pass --skip-db-check to write the password unvalidated."
    ) in refused.stderr
    assert files(project) == before

    skipped = rerun(project, "--skip-db-check", env={"WIZARD_POSTGRES_PASSWORD": corrected})

    assert skipped.returncode == 0, skipped.stderr
    assert "The corrected PostgreSQL password was not validated (--skip-db-check)" in skipped.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == corrected
    outputs = refused.stdout + refused.stderr + skipped.stdout + skipped.stderr
    assert_no_secret(outputs, corrected)


EXTERNAL_PASSWORD = "The external server's password 1"


def external_flags() -> list[str]:
    """An external server on a closed port, not checked (these tests are about the files)."""
    return [
        "--postgres-mode",
        "external",
        "--postgres-host",
        "127.0.0.1",
        "--postgres-port",
        str(free_port()),
        "--skip-db-check",
    ]


def test_switching_to_an_external_server_needs_its_password_not_the_bundled_one(
    project: Path,
) -> None:
    install(project)
    before = files(project)
    flags = external_flags()

    refused = rerun(project, *flags)

    assert refused.returncode == 2, refused.stderr
    assert (
        "error: --postgres-password-file: an external server needs the password of its role; "
        "give it with --postgres-password-file or WIZARD_POSTGRES_PASSWORD (the one in the "
        "current .env is the bundled server's)"
    ) in refused.stderr.splitlines()
    assert files(project) == before

    done = rerun(project, *flags, env={"WIZARD_POSTGRES_PASSWORD": EXTERNAL_PASSWORD})

    assert done.returncode == 0, done.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == EXTERNAL_PASSWORD
    # From now on the external server's password is the current one: a re-run keeps it.
    again = rerun(project, "--log-level", "DEBUG", "--skip-db-check")
    assert again.returncode == 0, again.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == EXTERNAL_PASSWORD


def test_switching_back_to_the_bundled_server_generates_a_password_of_its_own(
    project: Path,
) -> None:
    install(project, *external_flags(), env={"WIZARD_POSTGRES_PASSWORD": EXTERNAL_PASSWORD})

    done = rerun(project, "--postgres-mode", "bundled")

    assert done.returncode == 0, done.stderr
    env = read_env(project)
    password = env["POSTGRES_PASSWORD"] or ""
    assert HEX64.fullmatch(password)
    assert url_password(env["DATABASE_URL"]) == password
    again = rerun(project, "--log-level", "DEBUG")
    assert again.returncode == 0, again.stderr
    assert read_env(project)["POSTGRES_PASSWORD"] == password


def test_rotation_of_an_external_server_checks_it_with_the_current_password(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("external_user", "external_db")
    install(
        project,
        "--postgres-mode",
        "external",
        "--postgres-host",
        app.host,
        "--postgres-port",
        str(app.port),
        "--postgres-db",
        app.dbname,
        "--postgres-user",
        app.user,
        env={"WIZARD_POSTGRES_PASSWORD": app.password},
    )

    done = rerun(project, "--rotate-postgres-password")

    assert done.returncode == 0, done.stderr
    new = read_env(project)["POSTGRES_PASSWORD"] or ""
    assert logs_in(app, new)
    assert not logs_in(app, app.password)


def test_rotation_with_the_bundled_server_stopped_exits_1_and_changes_nothing(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("stopped", "stopped_db")
    install_bundled(project, app)
    server.stop()
    before = state(project)

    dry = rerun(project, "--rotate-postgres-password", "--dry-run")

    assert dry.returncode == 1, dry.stderr
    assert "+POSTGRES_PASSWORD=<secret, new value>" in dry.stderr  # the diff, then the check
    assert state(project) == before

    done = rerun(project, "--rotate-postgres-password", "--json")

    assert done.returncode == 1, done.stderr
    for output in (dry.stderr, done.stderr):
        assert "connection refused" in output
        assert "data volume keeps the password it was created with" in output
        assert "Nothing was written." in output
    report = json_object(done.stdout)
    assert report["ok"] is False and report["exit_code"] == 1
    # The real run took the lock, which moves the directory's mtime and nothing else.
    assert files(project) == {name: value for name, value in before.items() if name != "."}
    assert_no_secret(dry.stdout + dry.stderr + done.stdout + done.stderr, app.password)
    server.start()
    assert logs_in(app, app.password)


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root; the file-size-limit case covers the rest)."""
    with small_tmpfs(tmp_path / "small", "1m") as mount_point:
        yield mount_point


def fill_leaving(directory: Path, pages: int) -> Path:
    """Fill the filesystem of `directory` so that exactly `pages` memory pages stay free (tmpfs
    allocates whole pages). Returns the filler file."""
    spare = directory / "spare"
    spare.write_bytes(b"x" * pages * PAGE)  # freed again below
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * PAGE)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    spare.unlink()
    return filler


PAGE = os.sysconf("SC_PAGE_SIZE")


def test_failed_env_write_after_alter_role_on_a_full_disk_puts_the_old_password_back(
    tmp_path: Path, small_filesystem: Path, server: PostgresServer
) -> None:
    app = server.create_app("full_disk", "full_disk_db")
    project = small_filesystem / "deploy"
    project.mkdir()
    (tmp_path / "docs").mkdir()
    install_bundled(project, app, doc_dir=str(tmp_path / "docs"))
    # Room for the note naming the lock's holder, for .env written ahead with the new password
    # pending, and for its backup, but not for the new .env: its password (there twice, and as
    # long as a secret may be) makes it longer still.
    chosen = secrets.token_hex(2048)
    ahead = (project / ENV).stat().st_size + len(chosen) + 2
    filler = fill_leaving(small_filesystem, 1 + 2 * -(-ahead // PAGE))
    (tmp_path / "new-password").write_text(chosen)
    before = contents(project)

    done = rerun(
        project,
        "--rotate-postgres-password",
        "--postgres-password-file",
        str(tmp_path / "new-password"),
    )

    assert done.returncode == 1, done.stderr
    assert "PostgreSQL password changed on the server and verified." in done.stderr
    assert "Writing the files failed: the server's password was changed back." in done.stderr
    assert f"could not write {project / ENV} (No space left on device)" in done.stderr
    filler.unlink()
    assert contents(project) == before
    assert logs_in(app, app.password)
    assert not logs_in(app, chosen)


# `python -c WITH_FILE_SIZE_LIMIT BYTES COMMAND...`: COMMAND cannot make a file larger than BYTES
# (a write past it fails with EFBIG; Python ignores the SIGXFSZ that comes with it).
WITH_FILE_SIZE_LIMIT = """\
import os, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
os.execv(sys.argv[2], sys.argv[2:])
"""


def test_failed_env_write_after_alter_role_over_the_file_size_limit_puts_the_old_password_back(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("too_big", "too_big_db", password="old-password-0123")
    install_bundled(project, app)
    before = contents(project)
    chosen = "a-new-password-long-enough-to-make-env-grow-past-the-limit-0123"
    size = len((project / ENV).read_bytes())

    # .env written ahead (the new password once, pending) and its backup fit under the limit;
    # the new .env (the new password twice, instead of the old one) does not.
    done = rotate_under_file_size_limit(project, size + len(chosen) + 2 + 14, chosen)

    assert done.returncode == 1, done.stderr
    assert "PostgreSQL password changed on the server and verified." in done.stderr
    assert "Writing the files failed: the server's password was changed back." in done.stderr
    assert f"could not write {project / ENV} (File too large)" in done.stderr
    assert contents(project) == before
    assert logs_in(app, app.password)
    assert not logs_in(app, chosen)


def test_failed_write_ahead_of_the_new_password_leaves_the_server_alone(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("no_room", "no_room_db", password="old-password-0123")
    install_bundled(project, app)
    before = files(project)
    chosen = "a-new-password-long-enough-to-make-env-grow-past-the-limit-0123"
    size = len((project / ENV).read_bytes())

    # Not even .env with the new password pending fits: ALTER ROLE must not run.
    done = rotate_under_file_size_limit(project, size + 40, chosen)

    assert done.returncode == 1, done.stderr
    assert f"could not write {project / ENV} (File too large)" in done.stderr
    assert "changed on the server" not in done.stderr
    assert files(project) == before
    assert logs_in(app, app.password)
    assert not logs_in(app, chosen)


def rotate_under_file_size_limit(
    project: Path, limit: int, chosen: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            WITH_FILE_SIZE_LIMIT,
            str(limit),
            str(WIZARD),
            "setup",
            "--skip-port-check",
            "--rotate-postgres-password",
        ],
        cwd=project,
        env=clean_env({"WIZARD_POSTGRES_PASSWORD": chosen}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- interrupted rotation (Ctrl-C, SIGTERM) -------------------------------------------------------


class Relay:
    """A TCP relay in front of a real server that holds its `hold`-th connection unanswered
    until `release()`: a login the test can keep in flight for as long as it needs.

    A rotation opens two connections, the login with the current password (which runs ALTER
    ROLE) and then the proof login with the new one; holding the second stops the wizard right
    after ALTER ROLE, deterministically. Every other connection is relayed at once.
    """

    def __init__(self, port: int, hold: int) -> None:
        self.upstream = port
        self.hold = hold
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.arrived = threading.Event()  # the held connection came in
        self.closed = threading.Event()  # the client closed the held connection (after release)
        self._released = threading.Event()
        self._count = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self._released.set()

    def hold_next(self) -> None:
        """Hold the next connection too (once the last held one was released)."""
        self._released.clear()
        self.arrived.clear()
        self.closed.clear()
        self.hold = self._count + 1

    def close(self) -> None:
        self._released.set()
        for sock in [self.listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            self._count += 1
            self._sockets.append(client)
            threading.Thread(target=self._relay, args=(client, self._count), daemon=True).start()

    def _relay(self, client: socket.socket, number: int) -> None:
        held = number == self.hold
        if held:
            self.arrived.set()
            self._released.wait(120)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        except OSError:
            client.close()  # the server is gone: the client hears so at once, as it would
            return
        upstream.settimeout(None)
        self._sockets.append(upstream)
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, held)

    def _pump(self, source: socket.socket, sink: socket.socket, held: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        if held:
            self.closed.set()
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextmanager
def relay(port: int, hold: int) -> Iterator[Relay]:
    made = Relay(port, hold)
    try:
        yield made
    finally:
        made.close()


_roles = iter(range(1_000_000))


def rotating_deployment(project: Path, postgres: AppDatabase, relay: Relay) -> AppDatabase:
    """A bundled deployment whose PostgreSQL (a role of its own on the shared server) the wizard
    reaches through `relay`."""
    n = next(_roles)
    app = postgres.server.create_app(f"interrupted{n}", f"interrupted_db{n}")
    install(
        project,
        "--postgres-host-port",
        str(relay.port),
        "--postgres-db",
        app.dbname,
        "--postgres-user",
        app.user,
        env={"WIZARD_POSTGRES_PASSWORD": app.password},
    )
    return app


ROTATE = ("setup", "--skip-port-check", "--rotate-postgres-password", "--db-timeout", "60")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_after_alter_role_puts_the_old_password_back_and_writes_nothing(
    project: Path, postgres: AppDatabase, signum: signal.Signals
) -> None:
    with relay(postgres.port, hold=2) as proxy:
        app = rotating_deployment(project, postgres, proxy)
        before = contents(project)
        running = start_wizard(ROTATE, cwd=project)
        try:
            assert proxy.arrived.wait(60), "the wizard never tried the new password"
            # ALTER ROLE has run: the server already refuses the old password, and .env holds
            # the new one (written ahead), so no kill from here on can lose it.
            assert not logs_in(app, app.password)
            assert logs_in(app, read_env(project)[PENDING] or "")

            running.send_signal(signum)
            out, err = running.communicate(timeout=60)
        finally:
            running.kill()

    assert running.returncode == 130, err
    assert "interrupted: nothing was written" in err
    assert "Traceback" not in err
    assert logs_in(app, app.password)
    assert contents(project) == before
    assert_no_secret(out + err, app.password)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_between_alter_role_and_writing_env_puts_the_old_password_back(
    project: Path, postgres: AppDatabase, signum: signal.Signals
) -> None:
    with relay(postgres.port, hold=2) as proxy:
        app = rotating_deployment(project, postgres, proxy)
        before = contents(project)
        # The wizard's messages go to a pipe this test fills before the proof login returns: the
        # message after it ("password changed on the server") then blocks the wizard after the
        # rotation and before the write, for as long as the test likes.
        read_end, write_end = os.pipe()
        running = start_wizard(ROTATE, cwd=project, stderr=write_end)
        try:
            assert proxy.arrived.wait(60), "the wizard never tried the new password"
            fill(write_end)
            proxy.release()
            assert proxy.closed.wait(60), "the proof login never ended"
            wait_until_blocked_writing_to_a_pipe(running.pid)

            running.send_signal(signum)
            os.close(write_end)
            err = drain(read_end)
            running.wait(60)
        finally:
            running.kill()
            os.close(read_end)

    assert running.returncode == 130, err
    assert "PostgreSQL password changed on the server and verified." in err
    assert "Interrupted: the server's password was changed back." in err
    assert "interrupted: nothing was written" in err
    assert logs_in(app, app.password)
    assert contents(project) == before
    assert_no_secret(err, app.password)


def wait_until_blocked_writing_to_a_pipe(pid: int) -> None:
    """Until the process sleeps writing to its stderr, a full pipe (Linux: its wait channel
    says so, or else the system call it is in: write(2, ...))."""
    writes = {"x86_64": "1", "aarch64": "64"}.get(os.uname().machine)
    deadline = time.monotonic() + 60
    while True:
        channel = Path(f"/proc/{pid}/wchan").read_text()
        call = Path(f"/proc/{pid}/syscall").read_text().split()
        if "pipe_write" in channel or call[:2] == [writes, "0x2"]:
            return
        assert time.monotonic() < deadline, "the wizard never blocked writing its messages"
        time.sleep(0.01)


def fill(write_end: int) -> None:
    """Fill the pipe to the last byte, through a file description of its own: O_NONBLOCK on the
    shared one would make the wizard's writes fail instead of wait."""
    fd = os.open(f"/proc/self/fd/{write_end}", os.O_WRONLY | os.O_NONBLOCK)
    try:
        for size in (4096, 1):  # a write of up to 4096 bytes is all or nothing
            with contextlib.suppress(BlockingIOError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def drain(fd: int) -> str:
    """Everything in the pipe `fd` until its last writer closes it, without the filler."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).replace(b"\0", b"").decode("utf-8")


# --- rotation cut short by the server stopping --------------------------------------------------

PENDING = "POSTGRES_PASSWORD_PENDING"
ROTATE_QUICKLY = ("setup", "--skip-port-check", "--rotate-postgres-password", "--db-timeout", "2")


def test_server_stopped_right_after_alter_role_keeps_both_passwords_and_check_finishes_it(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("stopped_mid", "stopped_mid_db")
    with relay(server.port, hold=2) as proxy:
        install(
            project, "--postgres-host-port", str(proxy.port), "--postgres-db", app.dbname,
            "--postgres-user", app.user, env={"WIZARD_POSTGRES_PASSWORD": app.password},
        )  # fmt: skip
        running = start_wizard(ROTATE, cwd=project)
        try:
            assert proxy.arrived.wait(60), "the wizard never tried the new password"
            server.stop()  # after ALTER ROLE, before the proof and any set-back
            proxy.release()
            out, err = running.communicate(timeout=60)
        finally:
            running.kill()

        assert running.returncode == 1, err
        assert "setting the old one back failed too" in err
        assert (
            "Nothing else was written: .env keeps the old password as POSTGRES_PASSWORD and the "
            f"new one as {PENDING}"
        ) in err
        env = read_env(project)
        new = env[PENDING] or ""
        assert env["POSTGRES_PASSWORD"] == app.password and HEX64.fullmatch(new)
        assert mode_of(project / ENV) == 0o600
        assert_no_secret(out + err, app.password, new)

        server.start()
        assert logs_in(app, new)  # the ALTER had committed: without .env, nobody knew it
        shown = wizard(project, "show")
        checked = wizard(project, "check", "--json", "--db-timeout", "5")

    assert "A PostgreSQL password rotation is unfinished: .env keeps" in shown.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rows = {row["name"]: row for row in json_object(checked.stdout)["checks"]}
    assert rows["password rotation"]["status"] == "ok"
    assert rows["password rotation"]["detail"].startswith(
        "An unfinished PostgreSQL password rotation is finished: the server accepts the new "
        "password, which becomes POSTGRES_PASSWORD (and DATABASE_URL follows)."
    )
    env = read_env(project)
    assert env["POSTGRES_PASSWORD"] == new and env[PENDING] == ""
    assert url_password(env["DATABASE_URL"]) == new
    assert_no_secret(shown.stderr + checked.stdout + checked.stderr, app.password, new)


def test_server_stopped_at_random_moments_of_a_rotation_never_loses_the_password(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("random_stop", "random_stop_db")
    rng = random.Random(25)
    seen: list[str] = []
    deadline = time.monotonic() + 150
    with relay(server.port, hold=1) as proxy:
        install(
            project, "--postgres-host-port", str(proxy.port), "--postgres-db", app.dbname,
            "--postgres-user", app.user, env={"WIZARD_POSTGRES_PASSWORD": app.password},
        )  # fmt: skip
        while len(seen) < 20 and time.monotonic() < deadline:
            proxy.hold_next()
            running = start_wizard(ROTATE_QUICKLY, cwd=project)
            try:
                # The rotation's first login is held, so that the stop lands at a random moment
                # of what follows (login, ALTER ROLE, the proof, the write of .env: about 60 ms
                # here, and pg_ctl takes some of that to send its signal) rather than in the
                # start-up before it.
                assert proxy.arrived.wait(60), "the wizard never logged in"
                proxy.release()
                time.sleep(rng.uniform(0, 0.04))
                server.stop()
                _, err = running.communicate(timeout=60)
            finally:
                running.kill()
            assert running.returncode in (0, 1), err
            assert "Traceback" not in err
            server.start()

            env = read_env(project)
            kept = [env["POSTGRES_PASSWORD"] or "", env.get(PENDING) or ""]
            accepted = [password for password in kept if password and logs_in(app, password)]
            assert len(accepted) == 1, err  # the server's password is one that .env holds
            seen.append("pending" if kept[1] else f"exit {running.returncode}")

            # The next run, check or setup in turn, settles a pending rotation.
            if len(seen) % 2:
                after = wizard(project, "check", "--db-timeout", "2")
            else:
                after = rerun(project, "--db-timeout", "2")
            env = read_env(project)
            assert not env.get(PENDING), after.stdout + after.stderr
            assert logs_in(app, env["POSTGRES_PASSWORD"] or "")
            assert url_password(env["DATABASE_URL"]) == env["POSTGRES_PASSWORD"]
    assert len(seen) >= 8, seen
    print("outcomes of the stopped rotations:", sorted(seen))


def with_pending(project: Path, password: str) -> None:
    """.env as a rotation the server's death cut short leaves it: the new password pending."""
    path = project / ENV
    text = path.read_text()
    assert f"\n{PENDING}=\n" in text
    path.write_text(text.replace(f"\n{PENDING}=\n", f"\n{PENDING}='{password}'\n"))


def test_unfinished_rotation_the_server_took_is_finished_by_setup(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("took_it", "took_it_db")
    install_bundled(project, app)
    new = "the-new-password-it-took-0123"
    server.psql(f"ALTER ROLE took_it PASSWORD '{new}'")
    with_pending(project, new)
    before = (project / ENV).read_bytes()

    done = rerun(project)

    assert done.returncode == 0, done.stderr
    assert "An unfinished PostgreSQL password rotation is finished" in done.stderr
    env = read_env(project)
    assert env["POSTGRES_PASSWORD"] == new and env[PENDING] == ""
    assert url_password(env["DATABASE_URL"]) == new
    changed = [old.split(b"=")[0] for old, _ in changed_lines(before, (project / ENV).read_bytes())]
    assert changed == [b"POSTGRES_PASSWORD", PENDING.encode(), b"DATABASE_URL"]
    assert_no_secret(done.stdout + done.stderr, app.password, new)


def test_unfinished_rotation_the_server_never_took_is_undone_by_setup(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("never_took", "never_took_db")
    install_bundled(project, app)
    written = (project / ENV).read_bytes()
    with_pending(project, "a-new-password-it-never-got-0123")

    done = rerun(project)

    assert done.returncode == 0, done.stderr
    assert (
        "An unfinished PostgreSQL password rotation is undone: the server still accepts the old "
        f"password, which stays; the new one is dropped from {PENDING}."
    ) in done.stderr
    assert (project / ENV).read_bytes() == written.replace(
        f"{PENDING}=\n".encode(), f"{PENDING}=''\n".encode()
    )
    assert logs_in(app, app.password)
    assert_no_secret(done.stdout + done.stderr, app.password, "it-never-got")


def test_unfinished_rotation_whose_passwords_the_server_both_refuses_is_left_for_a_person(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("neither", "neither_db")
    install_bundled(project, app)
    with_pending(project, "a-new-password-pending-0123")
    server.psql("ALTER ROLE neither PASSWORD 'changed-by-hand-since-0123'")
    before = files(project)

    done = rerun(project)

    assert done.returncode == 1, done.stderr
    assert (
        'The server refuses both the old and the new password of user "neither" (changed by '
        f"hand since?); empty {PENDING} in .env, then give the role's password to `wizard "
        "setup` (WIZARD_POSTGRES_PASSWORD) to correct it."
    ) in done.stderr
    assert files(project) == before
    assert_no_secret(done.stdout + done.stderr, app.password, "password-pending", "by-hand")


def test_unfinished_rotation_with_the_server_down_is_kept_and_named_by_setup_and_check(
    project: Path, server: PostgresServer
) -> None:
    app = server.create_app("down_now", "down_now_db")
    install_bundled(project, app)
    with_pending(project, "a-new-password-pending-0123")
    server.stop()
    before = files(project)

    setup = rerun(project, "--log-level", "DEBUG")
    checked = wizard(project, "check", "--json", "--db-timeout", "2")

    assert setup.returncode == 1 and checked.returncode == 1
    unfinished = "A PostgreSQL password rotation is unfinished: Nothing is listening at 127.0.0.1:"
    assert unfinished in setup.stderr
    assert (
        "start PostgreSQL or correct the host and port. Meanwhile .env keeps the old password as "
        f"POSTGRES_PASSWORD and the new one as {PENDING}; once the server runs again"
    ) in setup.stderr
    [row] = [r for r in json_object(checked.stdout)["checks"] if r["name"] == "password rotation"]
    assert row["status"] == "fail" and row["detail"].startswith(unfinished)
    assert files(project) == before
    outputs = setup.stdout + setup.stderr + checked.stdout + checked.stderr
    assert_no_secret(outputs, app.password, "password-pending")


# --- interactive re-runs --------------------------------------------------------------------------


@pytest.fixture
def no_gpu_no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process runs find neither nvidia-smi nor docker (no extra questions), and the review
    table is wide enough not to wrap its cells."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("COLUMNS", "200")


def interactive(project: Path, **flags: Any) -> Request:
    flags.setdefault("skip_port_check", True)
    inputs = Answers([(Source.FLAG, flags), (Source.ENV, {}), (Source.FILE, {})])
    return Request(project_dir=project, cwd=project, inputs=inputs, interactive=True)


@pytest.mark.usefixtures("no_gpu_no_docker")
def test_interactive_rerun_with_the_rotate_jwt_flag_warns(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(project)
    jwt = read_env(project)["JWT_SECRET_KEY"]
    capsys.readouterr()

    # deployment, models; bundled, port, keep the password; documents done; (the JWT secret is
    # not asked) lifetime, log level, bind address, environment; write.
    drive(
        lambda: run(interactive(project, rotate_jwt_secret=True), UI()),
        ENTER * 2,
        ENTER * 3,
        ENTER,
        ENTER * 4,
        ENTER,
    )

    err = capsys.readouterr().err
    assert "every signed-in user will have to sign in again" in err
    assert "signs every user out" in err  # the review row
    assert read_env(project)["JWT_SECRET_KEY"] != jwt


@pytest.mark.usefixtures("no_gpu_no_docker")
@pytest.mark.parametrize("choice", ["keep", "stop"])
def test_interactive_rotation_with_the_server_down_offers_keep_or_stop(
    project: Path, capsys: pytest.CaptureFixture[str], choice: str
) -> None:
    install(project)  # its PostgreSQL host port is closed: the bundled server is not running
    before = files(project)
    capsys.readouterr()
    # deployment, models; bundled, port (the password is not asked); documents done; JWT
    # secret, lifetime, log level, bind address, environment; write; then keep or stop.
    script = [
        ENTER * 2,
        ENTER * 2,
        ENTER,
        ENTER * 5,
        ENTER,
        ENTER if choice == "keep" else DOWN + ENTER,
    ]

    if choice == "keep":
        outcome = drive(
            lambda: run(interactive(project, rotate_postgres_password=True), UI()), *script
        ).result
        assert outcome.result is not None and outcome.result.written == ()
        assert outcome.plan.changed == ()  # what --json reports as changed: nothing, as written
    else:
        with pytest.raises(Cancelled):
            drive(lambda: run(interactive(project, rotate_postgres_password=True), UI()), *script)

    assert "data volume keeps the password it was created with" in capsys.readouterr().err
    assert files(project) == before
