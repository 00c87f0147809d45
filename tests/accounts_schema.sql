-- The stack's account tables and EVERY table that references `users`, as the web UI's Alembic
-- migrations create them (alembic/versions of jbmiller10/semantik, head 202601301900). Mirrored:
-- table names, the foreign keys with their ON DELETE actions, and the nullability of each
-- column kept here; columns the wizard never touches are left out. No column the wizard
-- writes has a server default; the unique indexes are case-sensitive. 15 foreign keys point at
-- users: 4 block a delete (NO ACTION), 1 sets NULL, 10 cascade.
-- Run by the tests as the app's role, so the role owns the tables as it would in the stack.

-- 005a8fe3aedc (initial unified schema)
CREATE TABLE users (
    id serial PRIMARY KEY,
    username varchar NOT NULL,
    email varchar NOT NULL,
    full_name varchar NULL,
    hashed_password varchar NOT NULL,
    is_active boolean NULL,
    is_superuser boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NULL,
    last_login timestamptz NULL
);
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE UNIQUE INDEX ix_users_email ON users (email);

-- 005a8fe3aedc
CREATE TABLE api_keys (
    id varchar PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name varchar NOT NULL,
    key_hash varchar NOT NULL,
    permissions json NULL,
    last_used_at timestamptz NULL,
    expires_at timestamptz NULL,
    created_at timestamptz NOT NULL,
    is_active boolean NOT NULL
);
CREATE INDEX ix_api_keys_is_active ON api_keys (is_active);
CREATE UNIQUE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

-- 005a8fe3aedc: owner_id without ON DELETE (blocks)
CREATE TABLE collections (
    id varchar PRIMARY KEY,
    name varchar NOT NULL,
    owner_id integer NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL
);

-- 005a8fe3aedc: user_id without ON DELETE (blocks)
CREATE TABLE refresh_tokens (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id),
    token_hash varchar NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    is_revoked boolean NULL
);
CREATE UNIQUE INDEX ix_refresh_tokens_token_hash ON refresh_tokens (token_hash);

-- 005a8fe3aedc
CREATE TABLE collection_permissions (
    id serial PRIMARY KEY,
    collection_id varchar NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    user_id integer NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id varchar NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    permission varchar NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT check_user_or_api_key CHECK (
        (user_id IS NOT NULL AND api_key_id IS NULL) OR (user_id IS NULL AND api_key_id IS NOT NULL)
    )
);

-- 005a8fe3aedc: user_id without ON DELETE (blocks)
CREATE TABLE operations (
    id serial PRIMARY KEY,
    uuid varchar NOT NULL UNIQUE,
    collection_id varchar NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    user_id integer NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL
);

-- 005a8fe3aedc: user_id nullable, without ON DELETE (blocks)
CREATE TABLE collection_audit_log (
    id serial PRIMARY KEY,
    collection_id varchar NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    operation_id integer NULL REFERENCES operations (id),
    user_id integer NULL REFERENCES users (id),
    action varchar NOT NULL,
    created_at timestamptz NOT NULL
);

-- 202511201200 (add_chunking_config_profiles)
CREATE TABLE chunking_config_profiles (
    id serial PRIMARY KEY,
    name varchar NOT NULL,
    created_by integer NOT NULL REFERENCES users (id) ON DELETE CASCADE
);

-- 202601061000 (add_mcp_profiles)
CREATE TABLE mcp_profiles (
    id varchar PRIMARY KEY,
    name varchar(64) NOT NULL,
    owner_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE
);

-- 202601131000 (add_llm_provider_tables): the configs hold the encrypted provider keys' parent
CREATE TABLE llm_provider_configs (
    id serial PRIMARY KEY,
    user_id integer NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE
);
CREATE TABLE llm_provider_api_keys (
    id serial PRIMARY KEY,
    config_id integer NOT NULL REFERENCES llm_provider_configs (id) ON DELETE CASCADE,
    provider varchar(32) NOT NULL,
    ciphertext bytea NOT NULL
);
CREATE TABLE llm_usage_events (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE
);

-- 202601140001 (add_user_preferences_table)
CREATE TABLE user_preferences (
    id serial PRIMARY KEY,
    user_id integer NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE
);

-- 202601140002 (add_system_settings_table): updated_by SET NULL
CREATE TABLE system_settings (
    key varchar(64) PRIMARY KEY,
    value json NOT NULL,
    updated_by integer NULL REFERENCES users (id) ON DELETE SET NULL
);

-- 202601181000 (add_benchmark_tables)
CREATE TABLE benchmark_datasets (
    id varchar PRIMARY KEY,
    name varchar(255) NOT NULL,
    owner_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE TABLE benchmarks (
    id varchar PRIMARY KEY,
    name varchar(255) NOT NULL,
    owner_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE
);

-- 202601241000 (add_agent_conversations): fk_agent_conversations_user_id
CREATE TABLE agent_conversations (
    id uuid PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE
);

-- Alembic's own bookkeeping: the head revision the wizard was tested with.
CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL PRIMARY KEY
);
INSERT INTO alembic_version VALUES ('202601301900');
