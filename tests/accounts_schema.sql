-- The stack's account tables as its web UI's Alembic migrations create them, written from the
-- facts in the accounts issue (DESIGN.md "Accounts"): no column has a server default, the
-- unique indexes are case-sensitive, api_keys cascade on user deletion, refresh_tokens do not.
-- `collections` stands for the stack's other tables that refer to users without a cascade.
-- Run by the tests as the app's role, so the role owns them as it would in the stack.

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
CREATE UNIQUE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

CREATE TABLE refresh_tokens (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id),
    token_hash varchar NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    is_revoked boolean NULL
);
CREATE UNIQUE INDEX ix_refresh_tokens_token_hash ON refresh_tokens (token_hash);

CREATE TABLE collections (
    id varchar PRIMARY KEY,
    name varchar NOT NULL,
    owner_id integer NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL
);
