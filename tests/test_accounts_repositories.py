"""The accounts repositories against a real PostgreSQL 15 holding the stack's schema
(tests/accounts_schema.sql), in-process: what the app will find, what is refused, what is
retried."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

import bcrypt
import psycopg
import pytest
from accounts_db import USER_PASSWORD, accounts_database, connect, make_user, user_hash
from pg import AppDatabase

from wizard.accounts import errors
from wizard.accounts.api_keys import ApiKeyRepository, Refusal
from wizard.accounts.base import OnConflict
from wizard.accounts.hashing import hash_password
from wizard.accounts.refresh_tokens import RefreshTokenRepository
from wizard.accounts.rules import KEY_FORM, MAX_KEYS_PER_USER, password_problems
from wizard.accounts.schema import NOT_CREATED, inspect_schema, require_schema
from wizard.accounts.unit import Accounts, Repositories
from wizard.accounts.users import UserFilter, UserRepository

PASSWORD = USER_PASSWORD
HASH = user_hash()
NOW = dt.datetime.now(dt.UTC)


def stored_hash(conn: psycopg.Connection[Any], user_id: int) -> str:
    row = conn.execute("SELECT hashed_password FROM users WHERE id = %s", [user_id]).fetchone()
    assert row is not None
    return str(row[0])


# --- users ---------------------------------------------------------------------------------------


def test_created_users_hash_verifies_with_bcrypt_at_cost_12(repos: Repositories) -> None:
    secret = "pässwörd with spaces"
    with repos.conn.transaction():
        user = repos.users.create("alice", "alice@example.org", hash_password(secret))

    stored = stored_hash(repos.conn, user.id)
    assert stored.startswith("$2b$12$")
    assert bcrypt.checkpw(secret.encode(), stored.encode())
    assert user.is_active and not user.is_superuser
    row = repos.conn.execute(
        "SELECT is_active, is_superuser, created_at FROM users WHERE id = %s", [user.id]
    ).fetchone()
    assert row is not None and row[0] is True and row[1] is False and row[2] is not None


def test_username_and_email_are_refused_in_any_case(repos: Repositories) -> None:
    make_user(repos, "Alice")

    with pytest.raises(errors.AlreadyExists) as taken:
        make_user(repos, "ALICE")
    assert taken.value.field == "username"
    assert str(taken.value) == "username 'ALICE' already in use"
    with pytest.raises(errors.AlreadyExists) as email, repos.conn.transaction():
        repos.users.create("bob", "ALICE@EXAMPLE.ORG", HASH)
    assert email.value.field == "email"
    assert "email" in str(email.value)
    assert repos.users.count() == 1


def test_a_violation_of_the_unique_index_names_the_field(repos: Repositories) -> None:
    # What a creation racing the app's registration meets: the index, not the check.
    make_user(repos, "carol")
    row = {"username": "carol", "email": "other@example.org", "hashed_password": HASH,
           "is_active": True, "is_superuser": False, "created_at": NOW}  # fmt: skip

    with pytest.raises(errors.AlreadyExists) as taken:
        repos.users.bulk_insert([row])
    assert taken.value.field == "username"
    assert str(taken.value) == "username already in use"


def test_lookups_search_list_and_count(repos: Repositories) -> None:
    make_user(repos, "dave", full_name="Dave 100%_Real", is_superuser=True)
    make_user(repos, "erin")
    erin = repos.users.get_by_username("ERIN")
    assert erin is not None and erin.username == "erin"
    assert repos.users.get(erin.id) == erin
    assert repos.users.get_by_email("Erin@Example.org") == erin
    assert repos.users.get_by_username("nobody") is None

    assert [u.username for u in repos.users.search("100%_")] == ["dave"]
    assert repos.users.search("0%x") == []  # % is a character, not a wildcard
    assert [u.username for u in repos.users.list(UserFilter(admins=True))] == ["dave"]
    with repos.conn.transaction():
        repos.users.disable(erin.id)
    assert [u.username for u in repos.users.list(UserFilter(inactive=True))] == ["erin"]
    assert repos.users.count_matching(UserFilter(search="example.org")) == 2
    assert repos.users.count(is_superuser=True) == 1
    assert repos.users.exists(username="dave") and not repos.users.exists(username="Dave")


def test_update_changes_only_whitelisted_fields(repos: Repositories) -> None:
    user_id = make_user(repos, "frank")
    make_user(repos, "grace")
    updated = repos.users.update(user_id, full_name="Frank", is_superuser=True)
    assert updated.full_name == "Frank" and updated.is_superuser and updated.updated_at

    with pytest.raises(ValueError, match="hashed_password"):
        repos.users.update(user_id, hashed_password="x")
    with pytest.raises(errors.AlreadyExists):
        repos.users.update(user_id, email="GRACE@example.org")
    with pytest.raises(errors.NotFound):
        repos.users.update(999_999, full_name="x")


def test_verify_password_checks_a_hash_even_for_unknown_users(repos: Repositories) -> None:
    user_id = make_user(repos, "heidi")

    assert repos.users.verify_password("heidi", PASSWORD) is not None
    assert repos.users.verify_password("heidi", PASSWORD + "!") is None
    # This process's CPU time, which other load on the machine does not stretch as it does the
    # wall clock: a cost-12 bcrypt check is some 4,096 rounds of hashing here, hundreds of
    # milliseconds; a lookup alone costs this process well under one.
    started = time.process_time()
    assert repos.users.verify_password("nobody", PASSWORD) is None
    unknown = time.process_time() - started
    started = time.process_time()
    repos.users.verify_password("heidi", "wrong password")
    known = time.process_time() - started
    assert unknown > 0.05 and known > 0.05
    with repos.conn.transaction():
        repos.users.disable(user_id)
    assert repos.users.verify_password("heidi", PASSWORD) is None


def test_set_password_and_last_login(repos: Repositories) -> None:
    user_id = make_user(repos, "ivan")
    repos.users.set_password(user_id, hash_password("a new password"))
    assert repos.users.verify_password("ivan", "a new password") is not None
    repos.users.record_login(user_id)
    user = repos.users.get(user_id)
    assert user is not None and user.last_login is not None


def test_sql_looking_input_is_stored_exactly(repos: Repositories) -> None:
    name = "Robert'); DROP TABLE users; --"
    email = "o'hara\"--;@example.org"
    with repos.conn.transaction():
        user = repos.users.create("bobby", email, HASH, full_name=name)

    assert repos.users.get(user.id) == user
    assert user.full_name == name and user.email == email
    assert repos.users.search("'); DROP")[0].id == user.id
    assert inspect_schema(repos.conn).compatible  # every table is still there


def test_passwords_over_72_bytes_are_refused() -> None:
    assert password_problems("é" * 37)  # 74 bytes, 37 characters
    assert not password_problems("é" * 36)
    assert password_problems("short")
    with pytest.raises(ValueError):
        hash_password("x" * 73)


def test_delete_with_a_referring_collection_deletes_nothing(repos: Repositories) -> None:
    user_id = make_user(repos, "judy")
    repos.refresh_tokens.save(user_id, "token-1", NOW + dt.timedelta(days=1))
    with repos.conn.transaction():
        repos.api_keys.create(user_id, "ci")
    repos.conn.execute("INSERT INTO collections VALUES ('c1', 'docs', %s, now())", [user_id])

    with pytest.raises(errors.StillReferenced) as referenced, repos.conn.transaction():
        repos.users.delete(user_id)
    assert referenced.value.table == "collections"
    assert "collections" in str(referenced.value)
    assert repos.users.exists(id=user_id)
    assert repos.refresh_tokens.count(user_id=user_id) == 1
    assert repos.api_keys.count(user_id=user_id) == 1

    repos.conn.execute("DELETE FROM collections")
    with repos.conn.transaction():
        assert repos.users.delete(user_id)
    assert repos.users.count() == repos.api_keys.count() == repos.refresh_tokens.count() == 0


# --- API keys ------------------------------------------------------------------------------------


def test_a_minted_key_is_found_by_the_apps_rule(repos: Repositories) -> None:
    user_id = make_user(repos, "kim")
    with repos.conn.transaction():
        made, key = repos.api_keys.create(user_id, "ci")

    assert KEY_FORM.fullmatch(key)
    assert key.startswith(f"smtk_{made.id.replace('-', '')[:8]}_")
    # The app's rule: the SHA-256 hex of the whole key, looked up as it is.
    digest = hashlib.sha256(key.encode()).hexdigest()
    row = repos.conn.execute(
        "SELECT id, user_id, is_active, expires_at - created_at FROM api_keys WHERE key_hash = %s",
        [digest],
    ).fetchone()
    assert row is not None
    assert (row[0], row[1], row[2], row[3]) == (made.id, user_id, True, dt.timedelta(days=365))
    assert key not in str(repos.conn.execute("SELECT * FROM api_keys").fetchall())
    assert "key_hash" not in made.as_json()
    assert repos.api_keys.verify(key).valid


def test_verify_refuses_revoked_expired_and_disabled_users_keys(repos: Repositories) -> None:
    user_id = make_user(repos, "leo")
    with repos.conn.transaction():
        revoked, revoked_key = repos.api_keys.create(user_id, "revoked")
        expired, expired_key = repos.api_keys.create(user_id, "expired")
        _, good_key = repos.api_keys.create(user_id, "good")
    repos.api_keys.revoke(revoked.id)
    repos.conn.execute(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s",
        [expired.id],
    )

    assert repos.api_keys.verify(revoked_key).refusal is Refusal.REVOKED
    assert repos.api_keys.verify(expired_key).refusal is Refusal.EXPIRED
    assert repos.api_keys.verify(good_key).valid
    assert repos.api_keys.verify("smtk_00000000_" + "A" * 43).refusal is Refusal.UNKNOWN
    assert repos.api_keys.verify("' OR 1=1 --").refusal is Refusal.MALFORMED
    with repos.conn.transaction():
        repos.users.disable(user_id)
    assert repos.api_keys.verify(good_key).refusal is Refusal.USER_DISABLED


def test_verify_is_not_a_use_but_touch_is(repos: Repositories) -> None:
    user_id = make_user(repos, "mia")
    with repos.conn.transaction():
        made, key = repos.api_keys.create(user_id, "ci")
    repos.api_keys.verify(key)
    [listed] = repos.api_keys.list(user_id=user_id)
    assert listed.last_used_at is None
    repos.api_keys.touch(made.id)
    [listed] = repos.api_keys.list(user_id=user_id)
    assert listed.last_used_at is not None


def test_key_names_are_unique_per_user_in_any_case_and_limited(repos: Repositories) -> None:
    ned, olga = make_user(repos, "ned"), make_user(repos, "olga")
    with repos.conn.transaction():
        repos.api_keys.create(ned, "Deploy")
        repos.api_keys.create(olga, "deploy")  # another user's name is not a clash
    with pytest.raises(errors.AlreadyExists, match="key name 'DEPLOY'"), repos.conn.transaction():
        repos.api_keys.create(ned, "DEPLOY")
    with repos.conn.transaction():
        for n in range(MAX_KEYS_PER_USER - 1):
            repos.api_keys.create(ned, f"key {n}")
    with pytest.raises(errors.LimitReached), repos.conn.transaction():
        repos.api_keys.create(ned, "one too many")
    assert repos.api_keys.count(user_id=ned) == MAX_KEYS_PER_USER


def test_cleanup_deletes_only_expired_keys(repos: Repositories) -> None:
    user_id = make_user(repos, "pat")
    with repos.conn.transaction():
        old, _ = repos.api_keys.create(user_id, "old", expires_in_days=1)
        repos.api_keys.create(user_id, "new", expires_in_days=1)
    repos.conn.execute(
        "UPDATE api_keys SET expires_at = now() - interval '1 day' WHERE id = %s", [old.id]
    )
    assert repos.api_keys.count_active() == 1
    assert repos.api_keys.cleanup_expired() == 1
    assert [key.name for key in repos.api_keys.list()] == ["new"]


# --- refresh tokens ------------------------------------------------------------------------------


def test_refresh_tokens_save_verify_revoke_and_clean_up(repos: Repositories) -> None:
    quinn, rose = make_user(repos, "quinn"), make_user(repos, "rose")
    tomorrow = NOW + dt.timedelta(days=1)
    tokens = RefreshTokenRepository(repos.conn)
    for n in range(3):
        tokens.save(quinn, f"quinn-{n}", tomorrow)
    tokens.save(rose, "rose-0", tomorrow)
    tokens.save(rose, "rose-old", NOW - dt.timedelta(seconds=1))
    stored = repos.conn.execute("SELECT token_hash FROM refresh_tokens").fetchall()
    assert ("quinn-0",) not in stored
    assert (hashlib.sha256(b"quinn-0").hexdigest(),) in stored

    assert tokens.verify("quinn-0") == quinn
    assert tokens.verify("rose-old") is None  # expired
    assert tokens.verify("nonsense") is None
    assert tokens.revoke("quinn-0") and not tokens.revoke("quinn-0")
    assert tokens.verify("quinn-0") is None
    assert tokens.count_active(quinn) == 2
    assert tokens.revoke_all(quinn) == 2  # exactly quinn's, in one statement
    assert tokens.count_active(rose) == 1
    assert tokens.count_active() == 1
    assert tokens.cleanup() == 4  # three revoked, one expired
    assert tokens.verify("rose-0") == rose


# --- the base repository -------------------------------------------------------------------------


def user_rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"username": f"bulk{n}", "email": f"bulk{n}@example.org", "hashed_password": HASH,
         "is_active": True, "is_superuser": False, "created_at": NOW}
        for n in range(start, start + count)
    ]  # fmt: skip


def test_bulk_insert_upsert_and_bulk_update(repos: Repositories) -> None:
    users = repos.users
    with repos.conn.transaction():
        assert users.bulk_insert(user_rows(1000)) == 1000
    assert users.count() == 1000

    skip = OnConflict(target=("username",))
    with repos.conn.transaction():
        assert users.bulk_insert(user_rows(1000, start=500), on_conflict=skip) == 500
    assert users.count() == 1500

    changed = [{**row, "email": row["email"].upper()} for row in user_rows(10, start=1495)]
    update = OnConflict(target=("username",), update=("email",))
    assert users.bulk_insert(changed, on_conflict=update) == 10
    assert users.count() == 1505
    assert users.get_by_username("bulk1499").email == "BULK1499@EXAMPLE.ORG"  # type: ignore[union-attr]

    row = users.upsert(
        {**user_rows(1, start=7)[0], "full_name": "Seven"},
        conflict=["username"],
        update=["full_name"],
    )
    assert row is not None and row["full_name"] == "Seven" and row["username"] == "bulk7"
    assert users.upsert(user_rows(1, start=7)[0], conflict=["username"]) is None

    ids = [user.id for user in users.list(limit=300)]
    later = NOW + dt.timedelta(hours=1)
    rows = [{"id": i, "is_active": i % 2 == 0, "last_login": later, "full_name": None} for i in ids]
    assert users.bulk_update(rows) == 300
    assert users.count(is_active=False) == 150
    assert users.count(last_login=later) == 300
    assert users.count(full_name=None) == 1505


def test_bulk_update_of_a_json_column(repos: Repositories) -> None:
    user_id = make_user(repos, "sam")
    with repos.conn.transaction():
        made, _ = repos.api_keys.create(user_id, "ci")
    keys = ApiKeyRepository(repos.conn)
    assert keys.bulk_update([{"id": made.id, "permissions": {"read": ["a", "b'c"]}}]) == 1
    [listed] = keys.list()
    assert listed.permissions == {"read": ["a", "b'c"]}


def test_a_batch_with_one_key_twice_is_refused(repos: Repositories) -> None:
    rows = user_rows(2) + user_rows(1)
    update = OnConflict(target=("username",), update=("email",))
    with pytest.raises(errors.InvalidInput):
        repos.users.bulk_insert(rows, on_conflict=update)


def test_unknown_columns_are_never_composed(repos: Repositories) -> None:
    with pytest.raises(ValueError, match="no column"):
        repos.users.count(**{"username = username OR TRUE --": "x"})
    with pytest.raises(ValueError, match="no column"):
        repos.users.bulk_insert([{"id; DROP TABLE users": 1}])


def test_a_key_for_a_user_who_does_not_exist_is_not_found(repos: Repositories) -> None:
    with pytest.raises(errors.NotFound), repos.conn.transaction():
        repos.api_keys.create(424242, "ci")


# --- the unit of work: retries -------------------------------------------------------------------


def accounts_over(db: AppDatabase) -> Accounts:
    return Accounts(lambda: connect(db, autocommit=True), sleep=lambda seconds: None)


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_a_serialization_failure_or_deadlock_is_retried(
    conn: psycopg.Connection[Any], db: AppDatabase, sqlstate: str
) -> None:
    calls = []

    def work(r: Repositories) -> int:
        calls.append(1)
        user_id = r.users.create(f"retry{len(calls)}", f"retry{len(calls)}@x.org", HASH).id
        if len(calls) == 1:
            r.users.count()  # a statement that fails the way PostgreSQL fails it:
            r.conn.execute(f"DO $$BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '{sqlstate}'; END$$")
        return user_id

    with accounts_over(db) as accounts:
        accounts.run(work)
    assert len(calls) == 2
    assert [u.username for u in UserRepository(conn).list()] == ["retry2"]  # the first rolled back


def test_a_terminated_connection_is_reopened_and_the_work_retried(
    conn: psycopg.Connection[Any], db: AppDatabase
) -> None:
    calls = []

    def work(r: Repositories) -> int:
        calls.append(r.conn.info.backend_pid)
        if len(calls) == 1:
            r.users.create("lost", "lost@x.org", HASH)
            r.conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return r.users.create("kept", "kept@x.org", HASH).id

    with accounts_over(db) as accounts:
        accounts.run(work)
    assert len(calls) == 2 and calls[0] != calls[1]
    assert [u.username for u in UserRepository(conn).list()] == ["kept"]


def test_a_connection_lost_during_commit_is_never_repeated(
    conn: psycopg.Connection[Any], db: AppDatabase
) -> None:
    # A deferred trigger that kills its own session when COMMIT runs: the client cannot know
    # whether the commit happened, so the work must not run again.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS commit_bomb (id int);"
        "CREATE OR REPLACE FUNCTION commit_bomb() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(1); "
        "RETURN NULL; END$$;"
        "DROP TRIGGER IF EXISTS commit_bomb ON commit_bomb;"
        "CREATE CONSTRAINT TRIGGER commit_bomb AFTER INSERT ON commit_bomb "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_bomb()"
    )
    calls = []

    def work(r: Repositories) -> None:
        calls.append(1)
        r.conn.execute("INSERT INTO commit_bomb VALUES (1)")

    try:
        with accounts_over(db) as accounts, pytest.raises(errors.OutcomeUnknown):
            accounts.run(work)
    finally:
        conn.execute("DROP TABLE commit_bomb; DROP FUNCTION commit_bomb()")
    assert calls == [1]


def test_retries_are_bounded(db: AppDatabase, conn: psycopg.Connection[Any]) -> None:
    calls = []

    def work(r: Repositories) -> None:
        calls.append(1)
        r.conn.execute("DO $$BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END$$")

    with accounts_over(db) as accounts, pytest.raises(errors.TransientError, match="gave up"):
        accounts.run(work)
    assert len(calls) == accounts.attempts


def test_other_errors_are_translated_and_not_retried(
    db: AppDatabase, conn: psycopg.Connection[Any]
) -> None:
    calls = []

    def work(r: Repositories) -> None:
        calls.append(1)
        r.conn.execute("SELECT 1/0")

    with accounts_over(db) as accounts, pytest.raises(errors.DatabaseError, match="22012"):
        accounts.run(work)
    assert calls == [1]


# --- the schema ----------------------------------------------------------------------------------


def test_a_database_without_the_tables_says_to_start_the_stack(postgres: AppDatabase) -> None:
    bare = accounts_database(postgres, schema=False)
    with connect(bare, autocommit=True) as conn:
        state = inspect_schema(conn)
        assert not state.present
        with pytest.raises(errors.SchemaMissing) as missing:
            require_schema(conn)
        assert str(missing.value) == NOT_CREATED
        conn.execute("CREATE TABLE users (id serial PRIMARY KEY, username varchar)")
        state = inspect_schema(conn)
        assert state.present and not state.compatible
        assert "users.email" in (state.problem() or "") and "api_keys" in (state.problem() or "")
