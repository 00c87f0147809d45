"""Step 2's answers -> DatabaseSettings: bundled or external, names, password, TLS."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path

from wizard.config.answers import Answers, Source
from wizard.config.collect import Collector, has_control_characters, take_secret
from wizard.config.model import (
    BUNDLED_HOST,
    BUNDLED_PORT,
    PLACEHOLDERS,
    DatabaseSettings,
    PostgresMode,
    SslMode,
    check_postgres_password,
    parse_choice,
    parse_port,
    weak_secret,
)
from wizard.stack.envfile import EnvValueError, quote_value


def switches_server(answers: Answers, mode: PostgresMode | None) -> bool:
    """True when the current .env describes the other kind of PostgreSQL server than `mode`:
    its password and sslmode were meant for that one."""
    existing = answers.layer(Source.EXISTING)
    if mode is None or not existing:
        return False
    return str(existing.get("postgres_mode") or PostgresMode.BUNDLED.value).lower() != mode.value


def _external_password_rule(value: str, field_name: str) -> str | None:
    if not value:
        return f"{field_name}: the password is empty; give the role's password"
    # The stack's services check POSTGRES_PASSWORD at start (12 characters and the mix rule)
    # whichever server it belongs to.
    if len(value) < 12 or weak_secret(value) or value in PLACEHOLDERS:
        return (
            f"{field_name}: the stack's services refuse to start with a password this weak (at "
            "least 12 characters mixing three of upper case, lower case, digits and symbols, "
            "or 32+ characters of two); change the role's password on the server"
        )
    return None


def resolve_database(
    c: Collector, options: Mapping[str, bool], cwd: Path
) -> tuple[DatabaseSettings, str | None]:
    """(the settings, the password before this run) from step 2's answers."""
    mode = c.take("postgres_mode", parse_choice, PostgresMode)
    name, user = _names(c)
    host_port = c.take("postgres_host_port", parse_port)
    external = mode is PostgresMode.EXTERNAL
    switched = switches_server(c.answers, mode)
    password, previous, kept = _password(c, external, switched, options)
    sslmode_raw = c.answers.get("postgres_sslmode")
    if sslmode_raw is not None and sslmode_raw.source is Source.EXISTING and switched:
        # The current sslmode was chosen for the other kind of server: the bundled one's
        # `disable` must not become an external server's, nor an external `verify-full` (with
        # no CA for the bundled server) the bundled one's. The new kind starts at its default.
        sslmode_raw = None
        c.sources["postgres_sslmode"] = Source.DEFAULT
    if external:
        host, port, sslmode, sslrootcert = _external(c, cwd, bool(sslmode_raw))
    else:
        host, port, sslmode, sslrootcert = _bundled(c, bool(sslmode_raw))
    settings = DatabaseSettings(
        mode=mode or PostgresMode.BUNDLED,
        host=host,
        port=port or BUNDLED_PORT,
        name=name,
        user=user,
        password=password,
        sslmode=sslmode or SslMode.PREFER,
        sslrootcert=sslrootcert,
        host_port=host_port or BUNDLED_PORT,
        kept_bundled_password=kept,
    )
    return settings, previous


def _names(c: Collector) -> tuple[str, str]:
    name = str(c.raw("postgres_db") or "").strip()
    user = str(c.raw("postgres_user") or "").strip()
    for key, value in (("postgres_db", name), ("postgres_user", user)):
        if not value or len(value) > 63 or has_control_characters(value):
            c.problem(
                key,
                f"{c.label(key)}: {value!r} is not a PostgreSQL name; use 1-63 characters "
                "without control characters",
            )
    return name, user


def _password(
    c: Collector, external: bool, switched: bool, options: Mapping[str, bool]
) -> tuple[str, str | None, str]:
    """(password, the one before this run, the bundled server's kept while an external one is
    used)."""
    given = c.answers.get("postgres_password")
    # The current password is the other server's: the bundled one's cannot log in to an
    # external server, nor is an external server's a password the wizard chose.
    other_servers = switched and given is not None and given.source is Source.EXISTING
    if external and (given is None or other_servers):
        c.problem(
            "postgres_password",
            "--postgres-password-file: an external server needs the password of its role; give "
            "it with --postgres-password-file or WIZARD_POSTGRES_PASSWORD"
            + (" (the one in the current .env is the bundled server's)" if other_servers else ""),
        )
    existing = c.answers.layer(Source.EXISTING)
    # While an external server is used, the bundled server's password stays in .env: its data
    # volume still has it, and a switch back must find it (the volume applies a password only
    # when it is first created).
    kept = str(existing.get("postgres_bundled_password") or "")
    previous: str | None
    if switched and not external and kept and (given is None or given.source is Source.EXISTING):
        password, previous = kept, kept
        c.sources["postgres_password"] = Source.EXISTING
    else:
        password, previous = take_secret(
            c,
            "postgres_password",
            # The wizard chooses a bundled server's password, so it sets the bar; an external
            # server's password is whatever that server has.
            _external_password_rule if external else check_postgres_password,
            "POSTGRES_PASSWORD",
            options["rotate_postgres_password"],
            keep_existing=not switched,
        )
    if not external:
        kept = ""
    elif switched:
        kept = str(existing.get("postgres_password") or "")
    return password, previous, kept


def _external(
    c: Collector, cwd: Path, sslmode_given: bool
) -> tuple[str, int | None, SslMode | None, str]:
    """(host, port, sslmode, CA file) of an external server."""
    host = str(c.raw("postgres_host") or "").strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address as written in a URL; DATABASE_URL adds them back
    if not host:
        c.problem(
            "postgres_host",
            "--postgres-host: an external PostgreSQL server needs a host name or address",
        )
    elif re.search(r"[\s/@?#\[\]]", host) or has_control_characters(host):
        c.problem(
            "postgres_host", f"{c.label('postgres_host')}: {host!r} is not a host name or address"
        )
    elif ":" in host and not _is_ipv6(host):
        c.problem(
            "postgres_host",
            f"{c.label('postgres_host')}: {host!r} is not a host name or address; "
            "give the port separately with --postgres-port",
        )
    port = c.take("postgres_port", parse_port)
    sslmode = c.take("postgres_sslmode", parse_choice, SslMode) if sslmode_given else SslMode.PREFER
    return host, port, sslmode, _ca_file(c, cwd, sslmode)


def _ca_file(c: Collector, cwd: Path, sslmode: SslMode | None) -> str:
    """The CA file, absolute. It counts with every sslmode (libpq verifies with `require` too
    once one is given), and the override mounts it: always checked, and made absolute, since
    compose would read a relative path from the project directory."""
    key = "postgres_sslrootcert"
    given = str(c.raw(key) or "").strip()
    if not given:
        if sslmode is not None and sslmode.verifies:
            c.problem(
                key,
                f"--postgres-sslrootcert: sslmode {sslmode.value} needs the CA certificate "
                "file that signed the server's certificate",
            )
        return ""
    if has_control_characters(given):
        c.problem(key, f"{c.label(key)}: the path contains control characters; rename the file")
        return given
    path = os.path.join(cwd, os.path.expanduser(given))
    if not os.path.isfile(path):
        c.problem(
            key, f"{c.label(key)}: {given} is not a file; give the path of the CA certificate (PEM)"
        )
        return given
    path = os.path.normpath(path)
    try:
        quote_value("POSTGRES_SSLROOTCERT", path)
    except EnvValueError as exc:
        c.problem(key, f"{c.label(key)}: {exc}")
    return path


def _bundled(c: Collector, sslmode_given: bool) -> tuple[str, int, SslMode | None, str]:
    """(host, port, sslmode, CA file) of the bundled server, inside the compose network."""
    for key in ("postgres_host", "postgres_port", "postgres_sslrootcert"):
        if c.answers.given(key):
            c.problem(
                key,
                f"{c.label(key)}: applies only to an external server; "
                "add --postgres-mode external or leave it out",
            )
    # Inside the compose network the bundled server speaks plain TCP unless told otherwise.
    sslmode = (
        c.take("postgres_sslmode", parse_choice, SslMode) if sslmode_given else SslMode.DISABLE
    )
    if sslmode is not None and sslmode not in (SslMode.DISABLE, SslMode.PREFER):
        c.problem(
            "postgres_sslmode",
            f"{c.label('postgres_sslmode')}: {sslmode.value} needs TLS, and the bundled "
            "PostgreSQL (postgres:16-alpine) serves none, so the app could not connect; use "
            "disable or prefer, or an external server that offers TLS",
        )
    return BUNDLED_HOST, BUNDLED_PORT, sslmode, ""


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False
