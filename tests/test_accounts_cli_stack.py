"""`wizard user|api-key|db` against what the stack's own code and schema do (issues 15 and 16):
deleting a user with the data the stack keeps, the last administrator, the stack's input
rules. The real console script, against a real PostgreSQL holding the mirrored schema."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from accounts_db import fresh_deployment, run_accounts, sql
from dotenv import dotenv_values
from pg import AppDatabase

PASSWORD = "a good long password"
Run = subprocess.CompletedProcess[str]


@pytest.fixture
def project(tmp_path: Path, db: AppDatabase) -> Path:
    return fresh_deployment(tmp_path, db)


wizard = run_accounts


def create(project: Path, name: str, *extra: str, email: str | None = None) -> Run:
    return wizard(
        project, "user", "create", name, "--email", email or f"{name}@example.org",
        "--password-file", "-", *extra, input=PASSWORD + "\n",
    )  # fmt: skip


def count(db: AppDatabase, table: str) -> int:
    [(n,)] = sql(db, f"SELECT count(*) FROM {table}")
    return int(n)


def errors_of(run: Run) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.startswith("error: ")]


# --- NULL flags and the limit (issue 16, 1 and 2) -------------------------------------------------


def test_an_administrator_with_null_is_active_is_not_one(project: Path, db: AppDatabase) -> None:
    assert create(project, "old", "--admin").returncode == 0
    made = wizard(project, "api-key", "create", "--user", "old", "--name", "ci", "--json")
    key = json.loads(made.stdout)["key"]
    sql(db, "UPDATE users SET is_active = NULL")

    refused = wizard(project, "api-key", "verify", input=key)
    assert refused.returncode == 1 and "the key's user is disabled" in refused.stderr
    status = json.loads(wizard(project, "db", "status", "--json").stdout)
    assert status["counts"]["admins"] == 0
    again = create(project, "root", "--admin", "--if-no-admin")
    assert again.returncode == 0 and "Created administrator root" in again.stderr


def test_null_revoked_sessions_are_not_counted_or_revoked(project: Path, db: AppDatabase) -> None:
    assert create(project, "tess").returncode == 0
    sql(db, "INSERT INTO refresh_tokens (user_id, token_hash, expires_at, created_at, is_revoked) "
            "SELECT id, 'h', now() + interval '1 day', now(), NULL FROM users")  # fmt: skip

    status = json.loads(wizard(project, "db", "status", "--json").stdout)
    assert status["counts"]["active_refresh_tokens"] == 0
    revoked = json.loads(wizard(project, "token", "revoke", "--user", "tess", "--json").stdout)
    assert revoked["revoked_tokens"] == 0


def test_expired_keys_leave_room_under_the_limit(project: Path, db: AppDatabase) -> None:
    assert create(project, "ulla").returncode == 0
    sql(db, "INSERT INTO api_keys (id, user_id, name, key_hash, expires_at, created_at, is_active) "
            "SELECT gen_random_uuid()::text, u.id, 'k' || n, md5(n::text), now() + "
            "CASE WHEN n <= 2 THEN interval '-1 day' ELSE interval '1 day' END, now(), true "
            "FROM users u, generate_series(1, 21) n")  # fmt: skip

    run = wizard(project, "api-key", "create", "--user", "ulla", "--name", "new")
    assert run.returncode == 0, run.stderr
    full = wizard(project, "api-key", "create", "--user", "ulla", "--name", "newer")
    assert full.returncode == 1 and "has 20 active API keys" in full.stderr


# --- delete (issue 16, 3) ------------------------------------------------------------------------


def gus_with_data(project: Path, db: AppDatabase) -> None:
    assert create(project, "admin", "--admin").returncode == 0
    assert create(project, "gus").returncode == 0
    assert wizard(project, "api-key", "create", "--user", "gus", "--name", "ci").returncode == 0
    sql(db, "INSERT INTO benchmark_datasets SELECT 'b1', 'bench', id FROM users WHERE username = "
            "'gus'")  # fmt: skip
    sql(db, "INSERT INTO mcp_profiles SELECT 'm1', 'mcp', id FROM users WHERE username = 'gus'")
    sql(db, "INSERT INTO system_settings SELECT 'k', '1', id FROM users WHERE username = 'gus'")


def test_delete_refuses_to_cascade_the_users_data_unless_asked(
    project: Path, db: AppDatabase
) -> None:
    gus_with_data(project, db)

    refused = wizard(project, "user", "delete", "gus", "--yes")
    assert refused.returncode == 1
    assert "benchmark_datasets (1), mcp_profiles (1)" in refused.stderr
    assert "--cascade" in refused.stderr
    assert (count(db, "users"), count(db, "benchmark_datasets"), count(db, "api_keys")) == (2, 1, 1)

    dry = wizard(project, "user", "delete", "gus", "--cascade", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["deleted"] is False and plan["dry_run"] is True
    assert {(r["table"], r["rows"], r["on_delete"]) for r in plan["references"]} == {
        ("api_keys", 1, "cascade"), ("benchmark_datasets", 1, "cascade"),
        ("mcp_profiles", 1, "cascade"), ("system_settings", 1, "set_null"),
    }  # fmt: skip
    assert count(db, "users") == 2

    deleted = wizard(project, "user", "delete", "gus", "--cascade", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "benchmark_datasets (1)" in deleted.stderr and "system_settings (1)" in deleted.stderr
    assert (count(db, "users"), count(db, "benchmark_datasets"), count(db, "mcp_profiles")) == (
        1, 0, 0,
    )  # fmt: skip
    assert sql(db, "SELECT updated_by FROM system_settings") == [(None,)]


def test_delete_is_refused_by_data_the_stack_keeps_even_with_cascade(
    project: Path, db: AppDatabase
) -> None:
    gus_with_data(project, db)
    sql(db, "INSERT INTO collections SELECT 'c1', 'docs', id, now() FROM users WHERE username = "
            "'gus'")  # fmt: skip
    sql(db, "INSERT INTO operations (uuid, collection_id, user_id, created_at) "
            "SELECT 'o1', 'c1', id, now() FROM users WHERE username = 'gus'")  # fmt: skip

    dry = wizard(project, "user", "delete", "gus", "--cascade", "--dry-run")
    refused = wizard(project, "user", "delete", "gus", "--cascade", "--yes")

    for run in (dry, refused):
        assert run.returncode == 1
        assert "collections (1), operations (1)" in run.stderr
        assert "wizard user disable gus" in run.stderr
    assert "operations.user_id" in dry.stdout and "blocks the delete" in dry.stdout
    assert count(db, "users") == 2 and count(db, "benchmark_datasets") == 1


def test_db_status_counts_the_rows_each_referring_table_holds(
    project: Path, db: AppDatabase
) -> None:
    gus_with_data(project, db)
    sql(db, "UPDATE alembic_version SET version_num = '209901010000'")
    try:
        run = wizard(project, "db", "status", "--json")
    finally:
        sql(db, "UPDATE alembic_version SET version_num = '202601301900'")

    assert run.returncode == 0, run.stderr
    status = json.loads(run.stdout)
    owned = {(r["table"], r["column"]): r["rows"] for r in status["owned_rows"]}
    assert len(owned) == 15
    assert owned[("mcp_profiles", "owner_id")] == 1 and owned[("collections", "owner_id")] == 0
    assert status["schema"]["alembic_revision"] == "209901010000"
    assert "209901010000" in run.stderr and "202601301900" in run.stderr
    quiet = wizard(project, "db", "status")
    assert "rows in benchmark_datasets.owner_id" in quiet.stdout
    assert quiet.stderr == ""  # a tested revision and an administrator: nothing to warn about


# --- the last administrator (issue 15, 5) ---------------------------------------------------------


def test_the_last_administrator_is_kept_without_force(project: Path, db: AppDatabase) -> None:
    assert create(project, "boss", "--admin").returncode == 0
    assert create(project, "pleb").returncode == 0

    for action in (("delete", "boss", "--yes"), ("disable", "boss"), ("demote", "boss")):
        refused = wizard(project, "user", *action)
        assert refused.returncode == 1, action
        assert "last active administrator" in refused.stderr
        assert "wizard user promote USERNAME" in refused.stderr
    assert sql(db, "SELECT is_superuser, is_active FROM users WHERE username = 'boss'") == [
        (True, True)
    ]

    promoted = wizard(project, "user", "promote", "pleb")
    assert promoted.returncode == 0 and "pleb is now an administrator" in promoted.stderr
    demoted = wizard(project, "user", "demote", "boss")
    assert demoted.returncode == 0, demoted.stderr
    forced = wizard(project, "user", "disable", "pleb", "--force")
    assert forced.returncode == 0 and "No active administrator is left" in forced.stderr
    assert count(db, "users") == 2


def test_check_says_what_the_stack_does_without_an_administrator(
    project: Path, db: AppDatabase
) -> None:
    from wizard.accounts.operations import check_rows
    from wizard.host.targets import target_for_env

    target, _ = target_for_env(
        {k: v or "" for k, v in dotenv_values(project / ".env", interpolate=False).items()}
    )
    assert target is not None
    [_, (_, status, empty_detail)] = check_rows(target, 5)
    assert status == "warn" and "whoever registers first" in empty_detail
    assert create(project, "plain").returncode == 0

    [_, (_, status, detail)] = check_rows(target, 5)

    assert status == "warn" and "whoever registers first" not in detail
    assert "promotes only the first user of an empty table" in detail


def test_user_show_tells_role_state_keys_and_what_refers_to_the_user(
    project: Path, db: AppDatabase
) -> None:
    gus_with_data(project, db)

    run = wizard(project, "user", "show", "gus", "--json")

    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert shown["user"]["username"] == "gus" and shown["user"]["is_superuser"] is False
    assert shown["active_api_keys"] == 1 and shown["active_sessions"] == 0
    assert {r["table"] for r in shown["references"]} >= {"benchmark_datasets", "mcp_profiles"}
    text = wizard(project, "user", "show", "GUS")
    assert "rows in mcp_profiles" in text.stdout and "hashed" not in text.stdout
    assert wizard(project, "user", "show", "nobody").returncode == 1


# --- input rules (issue 15, 6, 14, 15; issue 16, 4) ----------------------------------------------


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ("good password\x1b[0m\n", "ESC"),
        ("good\tpassword\n", "tab"),
        ("good password\n\n", "newline"),
    ],
)
def test_passwords_with_control_characters_are_refused(
    project: Path, db: AppDatabase, secret: str, named: str
) -> None:
    run = wizard(
        project, "user", "create", "vic", "--email", "vic@example.org", "--password-file", "-",
        input=secret,
    )  # fmt: skip

    assert run.returncode == 2 and named in run.stderr and "--password-file" in run.stderr
    assert "good" not in run.stderr and count(db, "users") == 0


def test_the_stacks_email_and_key_name_rules(project: Path, db: AppDatabase) -> None:
    local = create(project, "corp", email="admin@corp.local")
    assert local.returncode == 2 and errors_of(local)[0].startswith("error: --email:")
    assert "special-use" in local.stderr and count(db, "users") == 0

    assert create(project, "keys").returncode == 0
    too_long = wizard(project, "api-key", "create", "--user", "keys", "--name", "n" * 101)
    assert too_long.returncode == 2 and "--name: 101 characters" in too_long.stderr
    longest = wizard(project, "api-key", "create", "--user", "keys", "--name", "n" * 100)
    assert longest.returncode == 0, longest.stderr


def test_usernames_in_any_alphabet_and_emails_compared_with_casefold(
    project: Path, db: AppDatabase
) -> None:
    assert create(project, "émile").returncode == 0
    assert create(project, "straße", email="straße@example.org").returncode == 0

    clash = create(project, "other", email="STRASSE@example.org")
    assert clash.returncode == 1 and "email 'STRASSE@example.org' already in use" in clash.stderr
    assert count(db, "users") == 2


def test_a_name_mixing_alphabets_is_warned_about(project: Path) -> None:
    assert create(project, "admin").returncode == 0

    run = create(project, "\u0430dmin", email="\u0430dmin@example.org")

    assert run.returncode == 0, run.stderr
    assert "mixes Cyrillic and Latin letters" in run.stderr
    assert run.stderr.count("mixes Cyrillic and Latin") == 2  # the username and the email


def test_api_keys_for_disabled_users_and_revoke_by_short_id(project: Path, db: AppDatabase) -> None:
    assert create(project, "wes").returncode == 0
    made = json.loads(wizard(project, "api-key", "create", "--user", "wes", "--name", "a",
                             "--json").stdout)  # fmt: skip
    short = made["key"][: made["key"].index("_", 5)]
    assert wizard(project, "user", "disable", "wes").returncode == 0

    refused = wizard(project, "api-key", "create", "--user", "wes", "--name", "b")
    assert refused.returncode == 1 and "wes is disabled" in refused.stderr
    forced = wizard(project, "api-key", "create", "--user", "wes", "--name", "b", "--force")
    assert forced.returncode == 0 and "refuses this key" in forced.stderr

    whole = wizard(project, "api-key", "revoke", made["key"])
    assert whole.returncode == 2 and short in whole.stderr
    assert made["key"] not in whole.stderr + whole.stdout
    revoked = wizard(project, "api-key", "revoke", short)
    assert revoked.returncode == 0, revoked.stderr
    assert sql(db, "SELECT is_active FROM api_keys WHERE id = %s", made["id"]) == [(False,)]
    bare = wizard(project, "api-key", "revoke", short.removeprefix("smtk_"))
    assert bare.returncode == 0, bare.stderr
