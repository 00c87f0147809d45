"""The validated configuration: enums for every choice, frozen dataclasses for values.

Nothing here does I/O. Validation functions return a problem sentence (naming the field, what is
wrong and how to fix it) or None, so the prompts, the flags and the answers file share one rule.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

MIN_POSTGRES_PASSWORD = 16
MIN_JWT_SECRET = 32
MIN_POSTGRES_VERSION = 13
# A secret reaches the stack as one environment variable, which Linux caps at 128 KiB; no
# password or key needs more than a few KiB, and a longer one is a wrong file (or /dev/zero).
MAX_SECRET_BYTES = 4096
# Minutes; an access token valid for more than a year is a typo (and past what the stack's
# token expiry, a datetime, represents for huge values).
MAX_TOKEN_EXPIRY_MINUTES = 525_600
DEFAULT_DB_TIMEOUT = 5
# Seconds; a longer wait for one connection attempt is a typo (and past what a thread join takes).
MAX_DB_TIMEOUT = 600
BUNDLED_HOST = "postgres"
BUNDLED_PORT = 5432
# Where the override mounts an external server's CA certificate inside the app's containers:
# the host path in POSTGRES_SSLROOTCERT means nothing there.
CA_TARGET = "/run/wizard/postgres-root.crt"


E = TypeVar("E", bound=StrEnum)


class Deployment(StrEnum):
    CPU = "cpu"
    GPU = "gpu"


class PostgresMode(StrEnum):
    BUNDLED = "bundled"
    EXTERNAL = "external"


class SslMode(StrEnum):
    DISABLE = "disable"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"

    @property
    def verifies(self) -> bool:
        return self in (SslMode.VERIFY_CA, SslMode.VERIFY_FULL)


class Environment(StrEnum):
    """The stack's ENVIRONMENT: in development the web UI's 500 responses carry the exception's
    type and message; in production the services refuse to start without INTERNAL_API_KEY."""

    PRODUCTION = "production"
    DEVELOPMENT = "development"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def generate_fernet_key() -> str:
    """A Fernet key: url-safe base64 of 32 random bytes (what `Fernet.generate_key()` makes)."""
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def check_fernet_key(value: str, field_name: str) -> str | None:
    import base64
    import binascii

    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != 32 or len(value) != 44:
        return (
            f"{field_name}: is not a Fernet key (url-safe base64 of 32 bytes, 44 characters); "
            "let the wizard generate one"
        )
    return None


# Characters that stand for themselves inside a URL's userinfo: the base pastes some secrets
# into redis:// and postgresql:// URLs without encoding them.
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


def check_url_safe_secret(value: str, field_name: str) -> str | None:
    if len(value) < MIN_POSTGRES_PASSWORD:
        return (
            f"{field_name}: {_characters(len(value))} is too short; use at least "
            f"{MIN_POSTGRES_PASSWORD} (or let the wizard generate one)"
        )
    if not _URL_SAFE.fullmatch(value):
        return (
            f"{field_name}: holds characters that break the URLs the stack pastes it into; use "
            "only letters, digits and . _ ~ - (or let the wizard generate one)"
        )
    return None


def generate_secret() -> str:
    """64 hex characters (32 random bytes): needs no quoting in .env, a URL or a shell."""
    # What secrets.token_hex(32) does, without importing `secrets` (hmac, OpenSSL: ~6 ms of a
    # run that must start fast).
    return os.urandom(32).hex()


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the app finds PostgreSQL, and how the wizard reaches the same server from the host."""

    mode: PostgresMode
    host: str
    port: int
    name: str
    user: str
    password: str = field(repr=False)
    sslmode: SslMode = SslMode.PREFER
    sslrootcert: str = ""
    # Host side of the bundled server's published port (unused for an external server).
    host_port: int = BUNDLED_PORT
    # With an external server: the bundled server's password, which its data volume keeps.
    kept_bundled_password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        """DATABASE_URL as the app sees it, the password percent-encoded."""
        user = quote(self.user, safe="")
        password = quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else self.host
        # No query parameters: the app hands the URL to SQLAlchemy + asyncpg, which pass them on
        # as keyword arguments (`?sslmode=` raises TypeError). TLS reaches both drivers as
        # PGSSLMODE / PGSSLROOTCERT in the services' environment instead.
        return f"postgresql://{user}:{password}@{host}:{self.port}/{quote(self.name, safe='')}"


@dataclass(frozen=True)
class DocumentDir:
    """A host directory and where the stack's containers see it (read-only)."""

    source: Path
    target: str


@dataclass(frozen=True)
class Config:
    deployment: Deployment
    database: DatabaseSettings
    documents: tuple[DocumentDir, ...]
    jwt_secret: str = field(repr=False)
    # The plain settings (config/settings.py), parsed, by answer key.
    values: Mapping[str, Any]
    gpu_ids: tuple[str, ...] = ()
    # The stack's other secrets (templates/stack.yaml), by .env key.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Variables the base requires that the wizard has no setting for, as answered at the prompt.
    required_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def token_expiry_minutes(self) -> int:
        return int(self.values["token_expiry_minutes"])

    @property
    def log_level(self) -> LogLevel:
        return LogLevel(self.values["log_level"])

    @property
    def bind_address(self) -> str:
        return str(self.values["bind_address"])

    @property
    def host_address(self) -> str:
        """The address the wizard uses from the host to reach what the stack publishes."""
        return host_address(self.bind_address)


def host_address(bind_address: str) -> str:
    """The address to connect to for a port published at `bind_address`: an address of every
    interface (0.0.0.0, ::) is reached on its loopback."""
    if bind_address in ("0.0.0.0", ""):
        return "127.0.0.1"
    return "::1" if bind_address == "::" else bind_address


def is_loopback(address: str) -> bool:
    """Published on this host only (127.0.0.0/8, ::1)."""
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


# --- validation: each returns a problem sentence or None ---------------------------------------


# ASCII digits only (str.isdigit() accepts "²", which int() refuses), and no more than int()
# converts (4300 digits).
_DIGITS = re.compile(r"[0-9]{1,4000}")


def _whole_number(text: str) -> int | None:
    return int(text) if _DIGITS.fullmatch(text) else None


def _characters(count: int) -> str:
    return "1 character" if count == 1 else f"{count} characters"


# The stack's own example file ships these; its entrypoint refuses to start with them.
PLACEHOLDERS = frozenset({"CHANGE_THIS_TO_A_STRONG_PASSWORD", "CHANGE_THIS_TO_A_STRONG_SECRET_KEY"})


def weak_secret(value: str) -> bool:
    """The stack's own rule (its entrypoint runs scripts/validate_env.py --strict before every
    app service and refuses weak JWT_SECRET_KEY and POSTGRES_PASSWORD values): at least three of
    upper case, lower case, digits and other characters, or at least 32 characters of two."""
    classes = sum(
        (
            any(c.isupper() for c in value),
            any(c.islower() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    return classes < 3 and not (len(value) >= 32 and classes >= 2)


_WEAK = (
    "mixes too few kinds of characters, and the stack's services refuse to start with it; "
    "use three of upper case, lower case, digits and symbols, or 32+ characters of two "
    "(or let the wizard generate one)"
)


SECRET_LIMIT = (
    f"a secret can be at most {MAX_SECRET_BYTES} bytes (a process cannot receive much more in "
    "one environment variable)"
)


def check_secret_size(value: str, field_name: str) -> str | None:
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_SECRET_BYTES:
        return f"{field_name}: {size} bytes is too long; {SECRET_LIMIT}"
    return None


def check_postgres_password(value: str, field_name: str = "PostgreSQL password") -> str | None:
    if value in PLACEHOLDERS:
        return (
            f"{field_name}: is the stack example's placeholder, which the stack's services "
            "refuse to start with; give a password of your own (or let the wizard generate one)"
        )
    if len(value) < MIN_POSTGRES_PASSWORD:
        return (
            f"{field_name}: {_characters(len(value))} is too short; use at least "
            f"{MIN_POSTGRES_PASSWORD} (or let the wizard generate one)"
        )
    if weak_secret(value):
        return f"{field_name}: {_WEAK}"
    return None


def check_jwt_secret(value: str, field_name: str = "JWT secret") -> str | None:
    if len(value) < MIN_JWT_SECRET:
        return (
            f"{field_name}: {_characters(len(value))} is too short; use at least "
            f"{MIN_JWT_SECRET} (or let the wizard generate one)"
        )
    if weak_secret(value):
        return f"{field_name}: {_WEAK}"
    return None


# The stack's scripts/validate_env.py: INTERNAL_API_KEY and JWT_SECRET_KEY at least 16 characters.
MIN_STACK_KEY = 16


def check_stack_key(value: str, field_name: str) -> str | None:
    """The rule the stack's entrypoint (scripts/validate_env.py --strict) applies to a key it
    checks for strength (INTERNAL_API_KEY): at least 16 characters, three kinds or 32+ of two."""
    if len(value) < MIN_STACK_KEY or weak_secret(value):
        return (
            f"{field_name}: is too weak for the stack, whose entrypoint (scripts/validate_env.py "
            f"--strict) refuses to start with it: use at least {MIN_STACK_KEY} characters mixing "
            "three of upper case, lower case, digits and symbols, or 32+ characters of two "
            "(or let the wizard generate one)"
        )
    return None


def parse_port(value: object, field_name: str) -> tuple[int | None, str | None]:
    number = _whole_number(str(value).strip())
    if number is None or not 1 <= number <= 65535:
        return None, f"{field_name}: {value!r} is not a port; use a whole number from 1 to 65535"
    return number, None


def parse_positive_int(
    value: object, field_name: str, minimum: int = 1, maximum: int | None = None
) -> tuple[int | None, str | None]:
    number = _whole_number(str(value).strip())
    if number is None or number < minimum or (maximum is not None and number > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        return None, f"{field_name}: {value!r} is not valid; use a whole number {bound}"
    return number, None


def loopback_host_warning(host: str) -> str | None:
    """An external server at a loopback address is, seen from inside a container, that container
    itself: the stack would never reach it."""
    if not is_loopback(host):
        return None
    return (
        f"The external server is at {host}: inside a container that is the container itself. "
        "Give the host's address on the network the containers reach it by."
    )


def parse_db_timeout(value: object, field_name: str) -> tuple[int | None, str | None]:
    """The seconds of one database connection attempt: whole, 2 to 600 (libpq raises smaller
    values to 2). The one parse of --db-timeout, WIZARD_DB_TIMEOUT and the answers file."""
    return parse_positive_int(value, field_name, minimum=2, maximum=MAX_DB_TIMEOUT)


def db_timeout_or_default(value: object) -> int:
    """A timeout validated elsewhere (exit 2 there), or none given: the default stands in."""
    seconds, _ = parse_db_timeout(value, "db timeout") if value not in (None, "") else (None, None)
    return seconds or DEFAULT_DB_TIMEOUT


def parse_bind_address(
    value: object, field_name: str = "bind address"
) -> tuple[str | None, str | None]:
    text = str(value).strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None, (
            f"{field_name}: {value!r} is not an IP address; use 127.0.0.1 (this host only) or "
            "0.0.0.0 (every network interface)"
        )
    return text, None


def parse_choice(enum: type[E], value: object, field_name: str) -> tuple[E | None, str | None]:
    text = str(value).strip()
    for member in enum:
        if text.lower() == member.value.lower():
            return member, None
    allowed = ", ".join(m.value for m in enum)
    return None, f"{field_name}: {value!r} is not one of {allowed}"


def parse_bool(value: object, field_name: str) -> tuple[bool | None, str | None]:
    if isinstance(value, bool):
        return value, None
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True, None
    if text in ("0", "false", "no", "off", ""):
        return False, None
    return None, f"{field_name}: {value!r} is not a yes/no value; use true or false"
