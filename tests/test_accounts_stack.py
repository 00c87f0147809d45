"""The accounts repositories read the stack's data as the stack itself does (issue 16): NULL
flags, the 20-key limit, the foreign keys to `users` read from the catalog, one clock. Against
a real PostgreSQL holding the mirrored schema (tests/accounts_schema.sql), in-process."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from accounts_db import accounts_database, connect, make_user, user_hash
from pg import AppDatabase

from wizard.accounts import errors
from wizard.accounts.api_keys import ApiKeyRepository, Refusal
from wizard.accounts.references import OnDelete, deletion_plan, references
from wizard.accounts.refresh_tokens import RefreshTokenRepository
from wizard.accounts.rules import MAX_KEYS_PER_USER
from wizard.accounts.schema import REQUIRED, alembic_revision, revision_warning
from wizard.accounts.unit import Repositories
from wizard.accounts.users import UserFilter, UserRepository

HASH = user_hash()
NOW = dt.datetime.now(dt.UTC)


def add_keys(conn: psycopg.Connection[Any], user_id: int, count: int, expires: str) -> None:
    """`count` active keys of `user_id` expiring at `expires` (an SQL expression)."""
    conn.execute(
        "INSERT INTO api_keys (id, user_id, name, key_hash, expires_at, created_at, is_active) "
        f"SELECT gen_random_uuid()::text, %s, 'k' || n || %s, md5(random()::text || n), "
        f"{expires}, now(), true FROM generate_series(1, %s) n",
        [user_id, expires, count],
    )


# --- NULL flags ----------------------------------------------------------------------------------


def test_a_null_is_active_user_is_inactive_as_the_stack_reads_it(repos: Repositories) -> None:
    admin = make_user(repos, "nulladmin", is_superuser=True)
    with repos.conn.transaction():
        _, key = repos.api_keys.create(admin, "ci")
    repos.conn.execute("UPDATE users SET is_active = NULL WHERE id = %s", [admin])

    # The stack: `if not user.is_active` refuses the key, get_current_user answers 403.
    assert repos.api_keys.verify(key).refusal is Refusal.USER_DISABLED
    assert repos.users.count_admins() == 0
    user = repos.users.get(admin)
    assert user is not None and user.is_active is False
    assert [u.username for u in repos.users.list(UserFilter(inactive=True))] == ["nulladmin"]
    assert repos.users.verify_password("nulladmin", "correct horse battery") is None
    [listed] = repos.api_keys.list(user_id=admin)
    assert listed.user_active is False


def test_a_null_is_revoked_refresh_token_is_revoked_as_the_stack_reads_it(
    repos: Repositories,
) -> None:
    user_id = make_user(repos, "nullrev")
    tokens = repos.refresh_tokens
    tokens.save(user_id, "live", NOW + dt.timedelta(days=1))
    tokens.save(user_id, "null", NOW + dt.timedelta(days=1))
    repos.conn.execute("UPDATE refresh_tokens SET is_revoked = NULL WHERE id = 2")

    # The stack's refresh filters on `~is_revoked`, which is NULL (not true) for NULL.
    assert tokens.verify("null") is None
    assert tokens.verify("live") == user_id
    assert tokens.count_active(user_id) == 1
    assert tokens.revoke_all(user_id) == 1
    assert tokens.cleanup() == 2


# --- the 20-key limit ----------------------------------------------------------------------------


def test_expired_keys_do_not_count_toward_the_limit(repos: Repositories) -> None:
    user_id = make_user(repos, "limits")
    add_keys(repos.conn, user_id, MAX_KEYS_PER_USER - 1, "now() + interval '1 day'")
    add_keys(repos.conn, user_id, 2, "now() - interval '1 day'")

    # 21 keys, 2 expired: the stack counts 19 and gives a 20th; so does the wizard.
    with repos.conn.transaction():
        made, _ = repos.api_keys.create(user_id, "twentieth")
    assert made.is_active
    with pytest.raises(errors.LimitReached, match="has 20 active"), repos.conn.transaction():
        repos.api_keys.create(user_id, "twenty-first")


# --- one clock -----------------------------------------------------------------------------------


def test_every_repository_reads_the_one_clock(conn: psycopg.Connection[Any]) -> None:
    today = Repositories.over(conn)
    user_id = make_user(today, "clocked")
    with conn.transaction():
        _, key = today.api_keys.create(user_id, "day", expires_in_days=1)
    today.refresh_tokens.save(user_id, "tok", NOW + dt.timedelta(hours=30))

    later = Repositories.over(conn, clock=lambda: NOW + dt.timedelta(days=2))
    assert later.api_keys.verify(key).refusal is Refusal.EXPIRED
    assert later.api_keys.count_active() == 0
    assert later.refresh_tokens.count_active() == 0
    assert later.api_keys.cleanup_expired() == 1
    assert today.refresh_tokens.count_active() == 1


def test_the_schema_check_requires_exactly_the_repositories_columns() -> None:
    # The very tuples the repositories compose their SQL from, not a copy that could drift.
    for repository in (UserRepository, ApiKeyRepository, RefreshTokenRepository):
        assert REQUIRED[repository.table] is repository.columns
    assert len(REQUIRED) == 3


# --- what refers to users ------------------------------------------------------------------------


def test_the_mirrored_schema_has_the_stacks_fifteen_foreign_keys_to_users(
    conn: psycopg.Connection[Any],
) -> None:
    found = {(ref.table, ref.column): ref.action for ref in references(conn)}

    assert {key for key, action in found.items() if action is OnDelete.BLOCKS} == {
        ("collections", "owner_id"), ("operations", "user_id"),
        ("collection_audit_log", "user_id"), ("refresh_tokens", "user_id"),
    }  # fmt: skip
    assert found[("system_settings", "updated_by")] is OnDelete.SET_NULL
    assert {key for key, action in found.items() if action is OnDelete.CASCADE} == {
        ("api_keys", "user_id"), ("collection_permissions", "user_id"),
        ("chunking_config_profiles", "created_by"), ("mcp_profiles", "owner_id"),
        ("llm_provider_configs", "user_id"), ("llm_usage_events", "user_id"),
        ("user_preferences", "user_id"), ("benchmark_datasets", "owner_id"),
        ("benchmarks", "owner_id"), ("agent_conversations", "user_id"),
    }  # fmt: skip
    assert len(found) == 15


def test_a_deletion_plan_counts_each_referring_table_from_the_catalog(
    postgres: AppDatabase,
) -> None:
    # A database of its own: this test adds a table the next stack release might have.
    app = accounts_database(postgres)
    with connect(app, autocommit=True) as conn:
        repos = Repositories.over(conn)
        gus = make_user(repos, "gus")
        conn.execute(
            "CREATE TABLE future_things (id serial PRIMARY KEY, "
            "owner integer NOT NULL REFERENCES users (id) ON DELETE CASCADE)"
        )
        conn.execute("INSERT INTO future_things (owner) VALUES (%s), (%s)", [gus, gus])
        conn.execute("INSERT INTO benchmark_datasets VALUES ('b1', 'bench', %s)", [gus])
        conn.execute("INSERT INTO system_settings VALUES ('k', '1', %s)", [gus])
        repos.refresh_tokens.save(gus, "t", NOW + dt.timedelta(days=1))
        user = repos.users.get(gus)
        assert user is not None

        plan = deletion_plan(conn, user)

        held = {(h.reference.table, h.rows) for h in plan.held}
        assert held == {
            ("future_things", 2), ("benchmark_datasets", 1), ("system_settings", 1),
            ("refresh_tokens", 1),
        }  # fmt: skip
        assert [h.reference.table for h in plan.credentials] == ["refresh_tokens"]
        assert {h.reference.table for h in plan.cascading} == {"benchmark_datasets",
                                                               "future_things"}  # fmt: skip
        assert [h.reference.table for h in plan.kept] == ["system_settings"]
        assert plan.blocking == ()


# --- the schema's revision -----------------------------------------------------------------------


def test_an_unknown_alembic_revision_is_a_warning(conn: psycopg.Connection[Any]) -> None:
    assert alembic_revision(conn) == "202601301900"
    assert revision_warning("202601301900") is None
    warning = revision_warning("209901010000")
    assert warning is not None and "209901010000" in warning and "202601301900" in warning
    assert revision_warning(None) is not None
