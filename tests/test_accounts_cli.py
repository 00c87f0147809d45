"""`wizard user|api-key|token|db` as a person or a script runs them: the real console script,
in a clean environment, against a real PostgreSQL holding the stack's schema. Secrets must show
up exactly once, on stdout, and nowhere else."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from accounts_db import accounts_database, deployment, empty, fresh_deployment, run_accounts, sql
from helpers import WIZARD, clean_env, free_port, run_wizard, snapshot
from keys import Expect, drive, typed
from pg import AppDatabase

from wizard import cli
from wizard.cli import common

PASSWORD = "a good long password"
Run = subprocess.CompletedProcess[str]


@pytest.fixture
def project(tmp_path: Path, db: AppDatabase) -> Path:
    return fresh_deployment(tmp_path, db)


wizard = run_accounts


def create(project: Path, name: str, *extra: str, password: str = PASSWORD) -> Run:
    return wizard(
        project, "user", "create", name, "--email", f"{name}@example.org",
        "--password-file", "-", *extra, input=password + "\n",
    )  # fmt: skip


def assert_no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout


def files_holding(root: Path, secret: str) -> list[str]:
    return [name for name, data in snapshot(root).items() if data and secret.encode() in data]


def add_tokens(db: AppDatabase, username: str, count: int) -> None:
    sql(
        db,
        "INSERT INTO refresh_tokens (user_id, token_hash, expires_at, created_at, is_revoked) "
        "SELECT u.id, md5(random()::text || n), now() + interval '1 day', now(), false "
        "FROM users u, generate_series(1, %s) n WHERE u.username = %s",
        count,
        username,
    )


def active_tokens(db: AppDatabase, username: str) -> int:
    [(count,)] = sql(
        db,
        "SELECT count(*) FROM refresh_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE u.username = %s AND t.is_revoked IS NOT TRUE",
        username,
    )
    return int(count)


# --- user create ---------------------------------------------------------------------------------


def test_generated_password_is_printed_once_on_stdout_and_stored_only_as_bcrypt(
    project: Path, db: AppDatabase
) -> None:
    run = wizard(
        project, "user", "create", "admin", "--email", "admin@example.org", "--admin",
        "--generate-password",
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    password = run.stdout.strip()
    assert run.stdout == password + "\n" and len(password) >= 24
    assert password not in run.stderr
    assert "Created administrator admin" in run.stderr
    [(stored, superuser, active)] = sql(
        db, "SELECT hashed_password, is_superuser, is_active FROM users WHERE username = 'admin'"
    )
    assert stored.startswith("$2b$12$") and bcrypt.checkpw(password.encode(), stored.encode())
    assert superuser is True and active is True
    assert files_holding(project, password) == []


def test_generated_password_in_json(project: Path) -> None:
    run = wizard(
        project, "user", "create", "jay", "--email", "jay@example.org", "--generate-password",
        "--json",
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["ok"] and data["created"] and len(data["password"]) >= 24
    assert data["user"]["username"] == "jay" and data["user"]["is_superuser"] is False
    assert "hashed_password" not in run.stdout and data["password"] not in run.stderr


def test_password_from_a_file_loses_one_newline(
    project: Path, db: AppDatabase, tmp_path: Path
) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("file password  \n")
    run = wizard(
        project, "user", "create", "kay", "--email", "kay@example.org", "--password-file",
        str(secret_file),
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # nothing generated, nothing to show
    [(stored,)] = sql(db, "SELECT hashed_password FROM users WHERE username = 'kay'")
    assert bcrypt.checkpw(b"file password  ", stored.encode())


def test_without_a_terminal_a_password_source_is_required(project: Path) -> None:
    run = wizard(project, "user", "create", "lee", "--email", "lee@example.org")

    assert run.returncode == 2
    assert "--password-file or --generate-password" in run.stderr
    assert_no_traceback(run)


def test_every_invalid_value_is_listed_at_once(project: Path) -> None:
    run = wizard(
        project, "user", "create", "x y", "--email", "not-an-email", "--password-file", "-",
        "--db-timeout", "1", input="short\n",
    )  # fmt: skip

    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4, run.stderr
    for part in ("USERNAME", "--email", "--password-file: at least 8", "--db-timeout"):
        assert any(part in line for line in errors), part
    assert "short" not in run.stderr


def test_a_password_over_72_bytes_is_refused(project: Path, db: AppDatabase) -> None:
    run = create(project, "long", password="ü" * 40)  # 80 bytes

    assert run.returncode == 2
    assert "80 bytes is more than bcrypt's 72" in run.stderr
    assert sql(db, "SELECT * FROM users") == []


def test_existing_username_or_email_in_any_case_exits_1_naming_which(project: Path) -> None:
    assert create(project, "Mona").returncode == 0

    taken = wizard(
        project, "user", "create", "MONA", "--email", "other@example.org", "--generate-password"
    )
    assert taken.returncode == 1
    assert "username 'MONA' already in use" in taken.stderr
    assert taken.stdout == ""  # the password of a user that was not created is never shown
    email = wizard(
        project, "user", "create", "nina", "--email", "MONA@example.ORG", "--generate-password"
    )
    assert email.returncode == 1
    # Stored and named as the stack stores it: email-validator lower-cases the domain.
    assert "email 'MONA@example.org' already in use" in email.stderr
    assert_no_traceback(email)


def test_if_no_admin_creates_the_first_administrator_only(project: Path, db: AppDatabase) -> None:
    first = create(project, "root", "--admin", "--if-no-admin")
    again = create(project, "root2", "--admin", "--if-no-admin", "--json")

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["created"] is False
    assert "An active administrator exists already" in again.stderr
    assert sql(db, "SELECT username FROM users") == [("root",)]
    # --admin alone is fine with an administrator there.
    assert create(project, "second", "--admin").returncode == 0


def test_twenty_parallel_creations_of_one_name_have_exactly_one_winner(
    project: Path, db: AppDatabase
) -> None:
    def one(_: int) -> Run:
        return subprocess.run(
            [str(WIZARD), "user", "create", "racer", "--email", "racer@example.org",
             "--password-file", "-"],
            cwd=project, env=clean_env(), input=PASSWORD + "\n", capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=20) as pool:
        runs = list(pool.map(one, range(20)))

    assert sorted(run.returncode for run in runs) == [0] + [1] * 19, [r.stderr for r in runs]
    for run in runs:
        assert_no_traceback(run)
        if run.returncode == 1:
            assert run.stderr.strip() == "error: username 'racer' already in use", run.stderr
    assert sql(db, "SELECT count(*) FROM users") == [(1,)]


def test_interactive_password_is_typed_twice_hidden(
    project: Path,
    db: AppDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(common, "interactive_session", lambda non_interactive: not non_interactive)

    def run() -> int:
        args = ["user", "create", "tina", "--email", "tina@example.org", "--project-dir",
                str(project)]  # fmt: skip
        with pytest.raises(SystemExit) as done:
            cli.main(args)
        return int(done.value.code or 0)

    driven = drive(
        run,
        Expect("Password (hidden)"),
        typed(PASSWORD),
        Expect("Password again"),
        typed("something else"),  # differs: asked again
        Expect("Password (hidden)"),
        typed(PASSWORD),
        Expect("Password again"),
        typed(PASSWORD),
    )

    assert driven.result == 0
    assert PASSWORD not in driven.screen
    assert "The two passwords differ" in capsys.readouterr().err
    [(stored,)] = sql(db, "SELECT hashed_password FROM users WHERE username = 'tina'")
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())


# --- list, reset, disable, delete ----------------------------------------------------------------


def test_list_filters_and_never_shows_hashes(project: Path) -> None:
    for name, extra in (("ann", ["--admin"]), ("ben", []), ("cat", [])):
        assert create(project, name, *extra).returncode == 0
    assert wizard(project, "user", "disable", "cat").returncode == 0

    everyone = wizard(project, "user", "list")
    admins = wizard(project, "user", "list", "--admins", "--json")
    inactive = wizard(project, "user", "list", "--inactive", "--json")
    search = wizard(project, "user", "list", "--search", "BE", "--json")

    assert everyone.returncode == 0, everyone.stderr
    lines = everyone.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "USERNAME", "EMAIL"]
    assert [line.split()[1] for line in lines[1:]] == ["ann", "ben", "cat"]
    assert "$2b$" not in everyone.stdout + admins.stdout
    assert [u["username"] for u in json.loads(admins.stdout)["users"]] == ["ann"]
    assert [u["username"] for u in json.loads(inactive.stdout)["users"]] == ["cat"]
    assert [u["username"] for u in json.loads(search.stdout)["users"]] == ["ben"]


def test_reset_password_revokes_exactly_that_users_tokens(project: Path, db: AppDatabase) -> None:
    assert create(project, "dan").returncode == 0
    assert create(project, "eve").returncode == 0
    add_tokens(db, "dan", 3)
    add_tokens(db, "eve", 2)

    run = wizard(project, "user", "reset-password", "dan", "--generate-password", "--json")

    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["revoked_tokens"] == 3
    assert "revoked 3 sessions" in run.stderr
    assert data["password"] not in run.stderr
    [(stored,)] = sql(db, "SELECT hashed_password FROM users WHERE username = 'dan'")
    assert bcrypt.checkpw(data["password"].encode(), stored.encode())
    assert active_tokens(db, "dan") == 0 and active_tokens(db, "eve") == 2


def test_disable_revokes_that_users_tokens_and_enable_restores(
    project: Path, db: AppDatabase
) -> None:
    assert create(project, "fay").returncode == 0
    assert create(project, "gus").returncode == 0
    add_tokens(db, "fay", 2)
    add_tokens(db, "gus", 1)

    disabled = wizard(project, "user", "disable", "fay")
    assert disabled.returncode == 0, disabled.stderr
    assert "revoked 2 sessions" in disabled.stderr
    assert sql(db, "SELECT is_active FROM users WHERE username = 'fay'") == [(False,)]
    assert active_tokens(db, "fay") == 0 and active_tokens(db, "gus") == 1
    assert wizard(project, "user", "enable", "fay").returncode == 0
    assert sql(db, "SELECT is_active FROM users WHERE username = 'fay'") == [(True,)]
    missing = wizard(project, "user", "disable", "nobody")
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr


def test_delete_with_a_referring_collection_deletes_nothing_and_suggests_disable(
    project: Path, db: AppDatabase
) -> None:
    assert create(project, "hal").returncode == 0
    add_tokens(db, "hal", 2)
    key = wizard(project, "api-key", "create", "--user", "hal", "--name", "ci")
    assert key.returncode == 0, key.stderr
    sql(db, "INSERT INTO collections SELECT 'c1', 'docs', id, now() FROM users")

    refused = wizard(project, "user", "delete", "hal", "--yes")

    assert refused.returncode == 1
    assert "rows of collections (1) still refer to it" in refused.stderr
    assert "wizard user disable hal" in refused.stderr
    assert sql(db, "SELECT count(*) FROM users") == [(1,)]
    assert sql(db, "SELECT count(*) FROM refresh_tokens") == [(2,)]
    assert sql(db, "SELECT count(*) FROM api_keys") == [(1,)]

    sql(db, "DELETE FROM collections")
    deleted = wizard(project, "user", "delete", "hal", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    for table in ("users", "refresh_tokens", "api_keys"):
        assert sql(db, f"SELECT count(*) FROM {table}") == [(0,)]


def test_delete_without_yes_and_without_a_terminal_exits_2(project: Path, db: AppDatabase) -> None:
    assert create(project, "ian").returncode == 0
    run = wizard(project, "user", "delete", "ian")
    assert run.returncode == 2 and "--yes" in run.stderr
    assert sql(db, "SELECT count(*) FROM users") == [(1,)]


def test_sql_looking_input_is_refused_or_stored_exactly(project: Path, db: AppDatabase) -> None:
    name = "x'); DROP TABLE users; --"
    refused = create(project, name)
    assert refused.returncode == 2 and "is not a username" in refused.stderr

    run = wizard(
        project, "user", "create", "jim", "--email", "jim@example.org", "--full-name", name,
        "--password-file", "-", input=PASSWORD,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert sql(db, "SELECT full_name FROM users") == [(name,)]
    listed = wizard(project, "user", "list", "--search", "'); DROP", "--json")
    assert [u["full_name"] for u in json.loads(listed.stdout)["users"]] == [name]


# --- API keys ------------------------------------------------------------------------------------


def test_api_key_is_printed_once_and_found_by_the_apps_rule(project: Path, db: AppDatabase) -> None:
    assert create(project, "kim").returncode == 0

    run = wizard(project, "api-key", "create", "--user", "kim", "--name", "CI", "--json")

    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    key = data["key"]
    assert key.startswith(f"smtk_{data['id'].replace('-', '')[:8]}_")
    assert key not in run.stderr
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert sql(db, "SELECT id FROM api_keys WHERE key_hash = %s", digest) == [(data["id"],)]
    expires = dt.datetime.fromisoformat(data["expires_at"])
    assert abs(expires - dt.datetime.now(dt.UTC) - dt.timedelta(days=365)) < dt.timedelta(minutes=1)
    listed = wizard(project, "api-key", "list", "--user", "kim", "--json")
    assert key not in listed.stdout and digest not in listed.stdout
    assert [k["name"] for k in json.loads(listed.stdout)["keys"]] == ["CI"]
    assert files_holding(project, key) == []

    text = wizard(project, "api-key", "create", "--user", "kim", "--name", "other")
    assert text.returncode == 0 and text.stdout.count("smtk_") == 1
    assert text.stdout.strip() not in text.stderr
    duplicate = wizard(project, "api-key", "create", "--user", "kim", "--name", "ci")
    assert duplicate.returncode == 1 and "key name 'ci' already in use" in duplicate.stderr


def test_api_key_verify_refuses_revoked_expired_and_disabled_users_keys(
    project: Path, db: AppDatabase
) -> None:
    assert create(project, "lou").returncode == 0

    def new_key(name: str) -> dict[str, Any]:
        run = wizard(project, "api-key", "create", "--user", "lou", "--name", name, "--json")
        assert run.returncode == 0, run.stderr
        data: dict[str, Any] = json.loads(run.stdout)
        return data

    def verify(key: str) -> Run:
        return wizard(project, "api-key", "verify", input=key + "\n")

    good, revoked, expired = new_key("good"), new_key("revoked"), new_key("expired")
    assert wizard(project, "api-key", "revoke", revoked["id"]).returncode == 0
    sql(db, "UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = %s",
        expired["id"])  # fmt: skip

    valid = verify(good["key"])
    assert valid.returncode == 0 and valid.stdout == "lou\n"
    assert sql(db, "SELECT last_used_at FROM api_keys WHERE id = %s", good["id"]) == [(None,)]
    for key, reason in ((revoked["key"], "revoked"), (expired["key"], "expired")):
        run = verify(key)
        assert run.returncode == 1 and reason in run.stderr, run.stderr
        assert key not in run.stderr + run.stdout
    garbage = verify("smtk_nonsense")
    assert garbage.returncode == 1 and "not an API key" in garbage.stderr
    assert wizard(project, "user", "disable", "lou").returncode == 0
    disabled = wizard(project, "api-key", "verify", "--json", input=good["key"])
    assert disabled.returncode == 1
    assert json.loads(disabled.stdout) == {
        "ok": False, "valid": False, "reason": "the key's user is disabled", "id": good["id"]
    }  # fmt: skip


def test_api_key_values_are_checked_before_connecting(project: Path) -> None:
    run = wizard(project, "api-key", "create", "--name", " ", "--expires-in-days", "3651")
    assert run.returncode == 2
    assert len([line for line in run.stderr.splitlines() if line.startswith("error: ")]) == 3
    missing = wizard(project, "api-key", "revoke", "0000")
    assert missing.returncode == 1 and "no API key with id '0000'" in missing.stderr


# --- tokens, db ----------------------------------------------------------------------------------


def test_token_revoke_for_one_user_or_everyone(project: Path, db: AppDatabase) -> None:
    assert create(project, "max").returncode == 0
    assert create(project, "ned").returncode == 0
    add_tokens(db, "max", 2)
    add_tokens(db, "ned", 3)

    one = wizard(project, "token", "revoke", "--user", "max", "--json")
    assert one.returncode == 0 and json.loads(one.stdout)["revoked_tokens"] == 2
    assert active_tokens(db, "ned") == 3
    everyone = wizard(project, "token", "revoke", "--all")
    assert everyone.returncode == 0 and "Revoked 3 sessions" in everyone.stderr
    assert wizard(project, "token", "revoke").returncode == 2
    assert wizard(project, "token", "revoke", "--all", "--user", "max").returncode == 2


def test_db_status_and_cleanup(project: Path, db: AppDatabase) -> None:
    assert create(project, "ozzy", "--admin").returncode == 0
    assert create(project, "pam").returncode == 0
    add_tokens(db, "pam", 3)
    sql(db, "UPDATE refresh_tokens SET is_revoked = true WHERE id = (SELECT min(id) FROM "
            "refresh_tokens)")  # fmt: skip
    key = wizard(project, "api-key", "create", "--user", "pam", "--name", "old", "--json")
    sql(db, "UPDATE api_keys SET expires_at = now() - interval '1 day' WHERE id = %s",
        json.loads(key.stdout)["id"])  # fmt: skip

    status = wizard(project, "db", "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["schema"]["compatible"] is True and data["server"].startswith("1")
    assert data["counts"] == {
        "users": 2, "admins": 1, "active_api_keys": 0, "active_refresh_tokens": 2
    }  # fmt: skip
    text = wizard(project, "db", "status")
    assert "present and compatible" in text.stdout

    cleanup = wizard(project, "db", "cleanup", "--json")
    assert cleanup.returncode == 0, cleanup.stderr
    assert json.loads(cleanup.stdout) == {
        "ok": True, "deleted_refresh_tokens": 1, "deleted_api_keys": 1
    }  # fmt: skip


def test_commands_on_a_database_without_the_tables_say_to_start_the_stack(
    postgres: AppDatabase, tmp_path: Path
) -> None:
    bare = deployment(tmp_path / "bare", accounts_database(postgres, schema=False))

    create_run = create(bare, "quin", "--admin")
    status = wizard(bare, "db", "status")

    message = (
        "the stack has not created its tables yet: start it (`docker compose up -d`) and run "
        "`wizard check --wait`"
    )
    assert create_run.returncode == 1 and message in create_run.stderr
    assert status.returncode == 1 and message in status.stdout
    assert_no_traceback(create_run)


def test_an_unreachable_database_exits_1_with_the_reason(tmp_path: Path) -> None:
    root = tmp_path / "down"
    root.mkdir()
    (root / ".env").write_text(
        "POSTGRES_MODE=bundled\nBIND_ADDRESS=0.0.0.0\n"
        f"POSTGRES_HOST_PORT={free_port()}\nPOSTGRES_DB=d\nPOSTGRES_USER=u\n"
        "POSTGRES_PASSWORD=Secret-Value-1234567\n"
    )

    run = wizard(root, "user", "list")

    assert run.returncode == 1
    assert "connection refused" in run.stderr and "127.0.0.1" in run.stderr
    assert "Secret-Value" not in run.stderr
    assert_no_traceback(run)
    nothing = wizard(tmp_path, "user", "list")
    assert nothing.returncode == 2 and "run `wizard setup` first" in nothing.stderr


# --- check and setup ------------------------------------------------------------------------------


@pytest.fixture
def bundled(tmp_path: Path, db: AppDatabase) -> Iterator[Path]:
    """A deployment written by setup whose bundled server's published port is `db`'s server."""
    empty(db)
    root = tmp_path / "stack"
    (root / "docs").mkdir(parents=True)
    made = run_wizard(
        ["setup", "--non-interactive", "--doc-dir", "docs", "--postgres-host-port", str(db.port),
         "--postgres-db", db.dbname, "--postgres-user", db.user, "--skip-port-check"],
        cwd=root, env={"WIZARD_POSTGRES_PASSWORD": db.password, "COLUMNS": "200"},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "up --admin USERNAME --admin-email EMAIL" in made.stderr.splitlines()[-1]
    yield root


def check_rows(root: Path) -> dict[str, dict[str, str]]:
    run = wizard(root, "check", "--json")
    assert run.returncode == 0, run.stderr
    return {row["name"]: row for row in json.loads(run.stdout)["checks"]}


def test_check_warns_without_an_administrator_and_names_the_command(bundled: Path) -> None:
    rows = check_rows(bundled)
    assert rows["schema"]["status"] == "ok"
    assert rows["administrator"]["status"] == "warn"
    assert "wizard user create USERNAME --email EMAIL --admin" in rows["administrator"]["detail"]

    assert create(bundled, "root", "--admin").returncode == 0
    rows = check_rows(bundled)
    assert rows["administrator"] == {
        "name": "administrator", "status": "ok", "detail": "1 active administrator"
    }  # fmt: skip


def test_setup_rerun_does_not_repeat_the_administrator_step(bundled: Path, db: AppDatabase) -> None:
    rerun = run_wizard(
        ["setup", "--non-interactive", "--skip-port-check"], cwd=bundled, env={"COLUMNS": "200"}
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "user create" not in rerun.stderr


def test_check_skips_the_schema_of_a_stack_that_has_not_started(
    postgres: AppDatabase, tmp_path: Path
) -> None:
    bare = deployment(tmp_path / "bare", accounts_database(postgres, schema=False))
    run = wizard(bare, "check", "--json")
    rows = {row["name"]: row for row in json.loads(run.stdout)["checks"]}
    assert rows["schema"]["status"] == "skip" and "not created yet" in rows["schema"]["detail"]
    assert rows["administrator"]["status"] == "skip"


def test_help_lists_the_account_commands() -> None:
    run = subprocess.run([str(WIZARD), "--help"], capture_output=True, text=True, env=clean_env())
    for command in ("user", "api-key", "token", "db"):
        assert f"  {command} " in run.stdout
    psycopg_loaded = subprocess.run(
        [str(WIZARD.parent / "python"), "-c",
         "import sys; from wizard import cli; print(sorted(m for m in ('psycopg', 'bcrypt', "
         "'questionary') if m in sys.modules))"],
        capture_output=True, text=True, env=clean_env(),
    )  # fmt: skip
    assert psycopg_loaded.stdout.strip() == "[]", psycopg_loaded.stderr
