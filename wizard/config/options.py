"""The answers that have a flag, as data: flag `--name`, variable `WIZARD_NAME`, key `name` in
an answers file, and the flag's help. The CLI builds setup's options from these rows at every
start, so this module imports nothing heavy (no YAML, no stack profile): `wizard --help` pays
for a table, not for reading templates/stack.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.config.settings import SETTINGS


@dataclass(frozen=True)
class Option:
    """An answer: flag `--name`, variable `WIZARD_NAME`, key `name` in the answers file.
    `help` is the flag's help text; a secret has no flag (it would show in `ps`)."""

    key: str
    kind: str = "str"  # "str", "bool" or "list"
    secret: bool = False
    help: str = ""
    short: str | None = None  # a one-letter alias (-y)

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def env_var(self) -> str:
        return "WIZARD_" + self.key.upper()


_BOOL, _LIST = "bool", "list"

FLAGGED: tuple[Option, ...] = (
    Option("deployment", help="cpu or gpu."),
    Option("gpu_ids", help="GPU indexes or UUIDs, comma-separated (default all)."),
    Option("doc_dir", _LIST, help="Document directory (repeatable)."),
    Option("create_doc_dirs", _BOOL, help="Create missing document directories."),
    Option("postgres_mode", help="bundled (default) or external."),
    Option("postgres_host", help="External server host."),
    Option("postgres_port", help="External server port (default 5432)."),
    Option("postgres_db", help="Database name (default: the stack's own, semantik)."),
    Option("postgres_user", help="Role name (default: the stack's own, semantik)."),
    Option("postgres_sslmode", help="disable, prefer, require, verify-ca or verify-full."),
    Option("postgres_sslrootcert", help="CA file for the verify modes."),
    Option("postgres_host_port", help="Host port of the bundled PostgreSQL (default 5432)."),
    Option("postgres_password", secret=True),
    Option(
        "postgres_password_file",
        help="Read the PostgreSQL password from this file ('-' = stdin), or use "
        "WIZARD_POSTGRES_PASSWORD. Default: keep the current one, or generate.",
    ),
    Option(
        "rotate_postgres_password", _BOOL, help="Change the PostgreSQL password, on the server too."
    ),
    Option("jwt_secret", secret=True),
    Option(
        "jwt_secret_file",
        help="Read the JWT secret from this file ('-' = stdin), or use WIZARD_JWT_SECRET.",
    ),
    Option("rotate_jwt_secret", _BOOL, help="Generate a new JWT secret (signs every user out)."),
    # The stack's other secrets (templates/stack.yaml): `--rotate KEY`, or a value from WIZARD_KEY.
    Option(
        "rotate",
        _LIST,
        help="Generate a new value for one of the stack's other secrets, named by its .env key "
        "(repeatable; templates/stack.yaml lists them: REDIS_PASSWORD, QDRANT_API_KEY, ...).",
    ),
    *(Option(setting.key, help=setting.help) for setting in SETTINGS),
    Option("db_timeout", help="Seconds per database connection attempt (default 5)."),
    Option("skip_db_check", _BOOL, help="Do not validate the database connection."),
    Option("skip_port_check", _BOOL, help="Do not check the published ports."),
    Option("start_db", _BOOL, help="Start the bundled PostgreSQL and validate it (needs docker)."),
    Option("yes", _BOOL, help="Skip the confirmation.", short="-y"),
    Option("dry_run", _BOOL, help="Show the diff and checks; write nothing."),
)
