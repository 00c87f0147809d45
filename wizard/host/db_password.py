"""Rotating a role's password on the live server: ALTER ROLE with a SCRAM verifier computed
here, proven by a fresh login, and the old password set back over the first session whenever
the proof fails or an interrupt lands after the ALTER was sent. No message holds a password.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from wizard.config.model import DEFAULT_DB_TIMEOUT
from wizard.host.database import ConnectFailed, open_session
from wizard.host.db_failures import error_detail, failed_check, is_utf8, scrubbed
from wizard.host.db_values import DbProblem, DbTarget, PasswordChangeError

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow


def change_password(
    target: DbTarget,
    new_password: str,
    timeout: int = DEFAULT_DB_TIMEOUT,
    *,
    before_change: Callable[[], None] | None = None,
    on_changed: Callable[[], None] | None = None,
) -> None:
    """Set the password of `target.user` on the live server to `new_password`.

    Logs in with `target.password`, sends `ALTER ROLE ... PASSWORD` with a SCRAM-SHA-256 verifier
    computed by libpq on this machine (the plaintext never reaches the server, its log or
    pg_stat_activity), then proves that a fresh login with the new password works. If it does not,
    or anything else ends the call once the ALTER was sent (Ctrl-C, SIGTERM mapped to
    KeyboardInterrupt), the old password is set back over the still-open first session (the old
    password no longer opens a new one) before the error or the interrupt goes on.

    `before_change` runs once the login succeeded, just before the ALTER is sent (a caller writes
    the new password down there, so that no kill can leave it only on the server); whatever it
    raises ends the call with nothing changed. `on_changed` runs once the new password is
    proven, still inside that guard: a caller that must undo the change later registers its undo
    there (or notes that it must), so that there is no moment at which neither would set the old
    password back. (Should an interrupt land just after it, both do;
    the caller's undo then finds the old password in place.)

    Raises ValueError for an empty password, or one libpq cannot carry (NUL, or not encodable as
    UTF-8), and PasswordChangeError when the login, the change or the proof fails, or when setting
    the old password back after an interrupt fails; its message says which password the role has
    afterwards whenever that is in doubt.
    """
    if not new_password or "\x00" in new_password or not is_utf8(new_password):
        raise ValueError(
            "the new PostgreSQL password must be non-empty, without NUL, and valid Unicode"
        )

    secrets = (target.password, new_password)
    user = f'user "{target.user}" at {target.where}'
    try:
        conn = open_session(target, timeout, secrets)
    except ConnectFailed as failed:
        raise PasswordChangeError(failed.check, logged_in=False) from None
    with conn:
        role = _alter(conn, target, new_password, before_change, user, secrets)
        _prove(conn, role, target, new_password, timeout, on_changed, user, secrets)


def _alter(
    conn: Connection[TupleRow],
    target: DbTarget,
    new_password: str,
    before_change: Callable[[], None] | None,
    user: str,
    secrets: tuple[str, ...],
) -> str:
    """Send the ALTER over the first session; the role's name. Raises PasswordChangeError."""
    import psycopg

    role = target.user
    sent = False  # once the ALTER may have reached the server, an interrupt undoes it
    try:
        row = conn.execute("SELECT current_user").fetchone()
        role = str(row[0]) if row else target.user
        if before_change is not None:
            before_change()
        sent = True
        _set_password(conn, role, new_password)
    except psycopg.Error as exc:
        if sent and conn.broken:
            # The server went away with the ALTER in flight: it may have committed it.
            message = (
                f"The connection to {user} broke while the new password was being set "
                f"({error_detail(exc, secrets)}): the role may have the NEW password now."
            )
            raise PasswordChangeError(
                scrubbed(failed_check(DbProblem.OTHER, message), secrets), server_has_new=True
            ) from None
        message = (
            f"Changing the password of {user} failed ({error_detail(exc, secrets)}); "
            "the old password is unchanged."
        )
        raise PasswordChangeError(
            scrubbed(failed_check(DbProblem.OTHER, message), secrets)
        ) from None
    except BaseException:
        # Interrupted, perhaps after the server applied the ALTER: setting the old password
        # again is harmless if it did not.
        if sent:
            _set_back_after_interrupt(conn, role, target.password, user, secrets)
        raise
    return role


def _prove(
    conn: Connection[TupleRow],
    role: str,
    target: DbTarget,
    new_password: str,
    timeout: int,
    on_changed: Callable[[], None] | None,
    user: str,
    secrets: tuple[str, ...],
) -> None:
    """A fresh login with the new password; when it fails, the old one set back over `conn` and
    PasswordChangeError saying which password the role has."""
    import psycopg

    try:
        open_session(replace(target, password=new_password), timeout, secrets).close()
        if on_changed is not None:
            on_changed()
    except ConnectFailed as failed:
        proof = failed
    except BaseException:
        _set_back_after_interrupt(conn, role, target.password, user, secrets)
        raise
    else:
        return
    try:
        _set_password(conn, role, target.password)
    except psycopg.Error as exc:
        message = (
            f"The password of {user} was changed but a fresh login with the new one failed "
            f"({proof.detail}), and setting the old one back failed too "
            f"({error_detail(exc, secrets)}): the role most likely has the NEW password now."
        )
        raise PasswordChangeError(
            scrubbed(replace(proof.check, message=message), secrets), server_has_new=True
        ) from None
    message = (
        f"A fresh login as {user} with the new password failed ({proof.detail}), so the "
        "old password was set back and nothing changed."
    )
    raise PasswordChangeError(scrubbed(replace(proof.check, message=message), secrets))


def _set_back_after_interrupt(
    conn: Connection[TupleRow], role: str, password: str, user: str, secrets: tuple[str, ...]
) -> None:
    """The old password back after an interrupt; PasswordChangeError (from the interrupt) if the
    server refuses, since the person must then learn that the role has the NEW password."""
    import psycopg

    try:
        _set_password(conn, role, password)
    except psycopg.Error as exc:
        message = (
            f"Interrupted after the password of {user} was changed, and setting the old one "
            f"back failed ({error_detail(exc, secrets)}): the role most likely has the NEW "
            "password now."
        )
        raise PasswordChangeError(
            scrubbed(failed_check(DbProblem.OTHER, message), secrets), server_has_new=True
        ) from None


def _set_password(conn: Connection[TupleRow], role: str, password: str) -> None:
    from psycopg import sql

    # The verifier is computed by libpq on this side, so the statement (which the server may log
    # under log_statement=ddl, and shows in pg_stat_activity) never holds the plaintext.
    verifier = conn.pgconn.encrypt_password(
        password.encode("utf-8"), role.encode("utf-8"), b"scram-sha-256"
    )
    conn.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(verifier.decode("ascii"))
        )
    )
