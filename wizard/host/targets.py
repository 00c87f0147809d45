"""Where the wizard reaches the stack's database from this host: one DbTarget, whatever the input.

A Config (setup, check), the answers so far (step 2's connection check) and raw .env values (a
.env whose other settings do not validate; the accounts commands) all come here, so they agree on
the one rule that matters: the bundled server is reached on its published port at the bind
address, and an address of every interface (0.0.0.0, ::) is reached on its loopback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from wizard.config.model import (
    BUNDLED_PORT,
    Config,
    PostgresMode,
    SslMode,
    host_address,
    parse_choice,
    parse_port,
)

if TYPE_CHECKING:
    from wizard.config.answers import Answers
    from wizard.host.db_values import DbTarget


def target_for(config: Config, password: str | None = None) -> DbTarget:
    """The configured database (bundled: via its published port), with `password` instead of
    the configured one when given (a rotation proves the old and the new)."""
    from wizard.host.db_values import DbTarget

    db = config.database
    secret = db.password if password is None else password
    if db.mode is PostgresMode.BUNDLED:
        # The bundled server speaks plain TCP unless it offers TLS: prefer takes either.
        return DbTarget(
            host=host_address(config.bind_address),
            port=db.host_port,
            dbname=db.name,
            user=db.user,
            password=secret,
            sslmode=SslMode.PREFER.value,
        )
    return DbTarget(
        host=db.host,
        port=db.port,
        dbname=db.name,
        user=db.user,
        password=secret,
        sslmode=db.sslmode.value,
        sslrootcert=db.sslrootcert,
    )


def target_for_answers(answers: Answers) -> tuple[DbTarget | None, str]:
    """The external server as the answers so far describe it: (target, "") or (None, the one
    sentence that says which value cannot be used)."""
    from wizard.config.collect import DEFAULTS
    from wizard.host.db_values import DbTarget

    user = str(answers.value("postgres_user") or DEFAULTS["postgres_user"])
    port, port_problem = parse_port(answers.value("postgres_port") or BUNDLED_PORT, "port")
    sslmode, sslmode_problem = parse_choice(
        SslMode, answers.value("postgres_sslmode") or SslMode.PREFER.value, "sslmode"
    )
    password = str(answers.value("postgres_password") or "")
    if port_problem or sslmode_problem or port is None or sslmode is None:
        return None, port_problem or sslmode_problem or "the connection settings are incomplete"
    if not password:
        return None, (
            f"No password was given for the external server; enter the password of role {user}."
        )
    return (
        DbTarget(
            host=str(answers.value("postgres_host") or "").strip(),
            port=port,
            dbname=str(answers.value("postgres_db") or DEFAULTS["postgres_db"]),
            user=user,
            password=password,
            sslmode=sslmode.value,
            sslrootcert=os.path.expanduser(
                str(answers.value("postgres_sslrootcert") or "").strip()
            ),
        ),
        "",
    )


def target_for_env(env: Mapping[str, str]) -> tuple[DbTarget | None, str]:
    """The database as .env describes it, for a .env whose other settings may not validate:
    (target, "") or (None, why not)."""
    from wizard.host.db_values import DbTarget

    mode, _ = parse_choice(PostgresMode, env.get("POSTGRES_MODE", ""), "POSTGRES_MODE")
    if mode is None:
        return None, "POSTGRES_MODE is not bundled or external"
    keys = ["POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"]
    port_key = "POSTGRES_HOST_PORT" if mode is PostgresMode.BUNDLED else "POSTGRES_PORT"
    keys += [port_key] if mode is PostgresMode.BUNDLED else ["POSTGRES_HOST", port_key]
    absent = [key for key in keys if not env.get(key)]
    if absent:
        return None, f"{', '.join(absent)} missing from .env"
    port, problem = parse_port(env[port_key], port_key)
    if port is None:
        return None, problem or f"{port_key} is not a port"
    if mode is PostgresMode.BUNDLED:
        host = host_address(env.get("BIND_ADDRESS", "") or "127.0.0.1")
        sslmode, sslrootcert = SslMode.PREFER.value, ""
    else:
        host = env["POSTGRES_HOST"]
        sslmode = env.get("POSTGRES_SSLMODE", "") or SslMode.PREFER.value
        sslrootcert = env.get("POSTGRES_SSLROOTCERT", "")
    return (
        DbTarget(
            host=host,
            port=port,
            dbname=env["POSTGRES_DB"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            sslmode=sslmode,
            sslrootcert=sslrootcert,
        ),
        "",
    )
