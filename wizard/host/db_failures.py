"""Why a connection failed, in one sentence for a person: psycopg's errors classified (they carry
no SQLSTATE in the connection phase: by class and message), every password scrubbed first."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

from wizard.host.db_values import SCRUBBED, DbCheck, DbProblem, DbTarget


def classify(exc: Exception) -> DbProblem:
    """The problem behind a connection-phase error.

    Errors before the session exists carry no SQLSTATE, so the class and libpq's (English)
    message text are all there is. The order matters: "does not exist" is also said of a missing
    root certificate file, and the pg_hba.conf rejections mention encryption.
    """
    import psycopg

    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return DbProblem.TIMEOUT
    text = str(exc).lower()
    if "failed to resolve host" in text or "could not translate host name" in text:
        return DbProblem.DNS
    if "pg_hba.conf" in text:
        # PostgreSQL 14+ says "no encryption", older versions "SSL off".
        if "no encryption" in text or "ssl off" in text:
            return DbProblem.SSL_REQUIRED
        return DbProblem.OTHER
    if any(
        phrase in text
        for phrase in (
            "the database system is starting up",
            "the database system is not yet accepting connections",
            "the database system is in recovery mode",
            "the database system is shutting down",
        )
    ):
        return DbProblem.STARTING
    if (
        "authentication failed" in text  # password, md5, scram, ident, peer, ldap, ...
        or "no password supplied" in text
        or ('role "' in text and "does not exist" in text)  # said only under trust auth
    ):
        return DbProblem.AUTH
    if 'database "' in text and "does not exist" in text:
        return DbProblem.NO_DATABASE
    if "connection refused" in text:
        return DbProblem.REFUSED
    if "timeout expired" in text or "timed out" in text:
        return DbProblem.TIMEOUT
    if text.startswith("invalid ") or ": invalid " in text:
        return DbProblem.OTHER  # a parameter libpq rejects, such as sslmode=bogus
    if "ssl" in text or "certificate" in text:
        return DbProblem.SSL_FAILED
    return DbProblem.OTHER


def classified(problem: DbProblem, target: DbTarget, timeout: int, detail: str) -> DbCheck:
    """The one-sentence message for a failed connection; `detail` is already scrubbed."""
    who = f'user "{target.user}" on database "{target.dbname}"'
    at = f"PostgreSQL at {target.where}"
    lower = detail.lower()
    if problem is DbProblem.AUTH:
        if "no password supplied" in lower:
            message = f"{at} asks for a password for {who} but none was given; set the password."
        else:
            message = (
                f"{at} refused {who}: wrong password or no such user; check both "
                "(a bundled server keeps the password it was first started with until it is "
                "rotated)."
            )
    elif problem is DbProblem.NO_DATABASE:
        message = (
            f'{at} has no database "{target.dbname}"; create it (CREATE DATABASE '
            f'"{target.dbname}" OWNER "{target.user}") or correct the database name.'
        )
    elif problem is DbProblem.REFUSED:
        message = (
            f"Nothing is listening at {target.where} (connection refused); start PostgreSQL "
            "or correct the host and port."
        )
    elif problem is DbProblem.TIMEOUT:
        message = (
            f"{at} did not answer within {timeout} s; check the host, the port and any "
            "firewall in between, or allow a longer timeout."
        )
    elif problem is DbProblem.SSL_REQUIRED:
        if target.sslmode == "disable":
            message = (
                f'{at} accepts {who} only over SSL but sslmode is "disable"; set sslmode to '
                '"require" (or "verify-full" with the server\'s CA certificate).'
            )
        else:
            message = (
                f"{at} accepts {who} only over SSL, which this connection did not use "
                f'(sslmode "{target.sslmode}"); the server must offer SSL, or use sslmode '
                '"require".'
            )
    elif problem is DbProblem.SSL_FAILED:
        message = _ssl_message(target, detail)
    elif problem is DbProblem.DNS:
        message = (
            f'The host name "{target.host}" cannot be resolved ({detail}); check its spelling '
            "or use an IP address."
        )
    elif problem is DbProblem.STARTING:
        message = f"{at} is not ready yet ({detail}); wait a few seconds and try again."
    elif "pg_hba.conf" in lower:
        message = (
            f"{at} does not accept {who} from this address ({detail}); ask its "
            "administrator to allow it in pg_hba.conf."
        )
    else:
        message = f"Connecting as {who} to {at} failed: {detail}."
    return failed_check(problem, message)


def _ssl_message(target: DbTarget, detail: str) -> str:
    at = f"PostgreSQL at {target.where}"
    lower = detail.lower()
    ca = f'"{target.sslrootcert}"' if target.sslrootcert else "~/.postgresql/root.crt (the default)"
    if "server does not support ssl" in lower:
        return (
            f'{at} does not offer SSL but sslmode is "{target.sslmode}"; enable SSL on the '
            'server or use sslmode "prefer".'
        )
    if "root certificate file" in lower:
        return (
            f'sslmode "{target.sslmode}" needs a CA certificate but {ca} does not exist or '
            "cannot be read; set sslrootcert to the CA file that issued the server's certificate."
        )
    if "certificate verify failed" in lower:
        return (
            f"The certificate of {at} is not signed by the CA in {ca}; set sslrootcert to the "
            "CA file that issued the server's certificate."
        )
    if "does not match host name" in lower:
        return (
            f'The certificate of {at} is not valid for the name "{target.host}" ({detail}); '
            'connect using a name the certificate lists, or use sslmode "verify-ca".'
        )
    return f'SSL with {at} failed ({detail}); check sslmode "{target.sslmode}" and sslrootcert.'


def failed_check(problem: DbProblem, message: str) -> DbCheck:
    return DbCheck(ok=False, problem=problem, message=message, server_version=None, can_create=None)


def error_detail(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """libpq's reason in one line, without the "connection to server at ..." preamble."""
    text = scrub(str(exc), secrets)
    text = text.removeprefix("connection failed: ").removeprefix("connection is bad: ")
    if text.startswith("connection to server at ") and " failed: " in text:
        text = text.split(" failed: ", 1)[1]
    text = text.replace("FATAL:  ", "").replace("ERROR:  ", "")
    # libpq adds hints and DETAIL lines after the first; keep them, on one line.
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "; ".join(_strip_period(line) for line in lines if line)


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strip_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def scrubbed(check: DbCheck, secrets: tuple[str, ...]) -> DbCheck:
    """`check` with every secret masked in its message.

    Applied to whole messages, not only to libpq's part: a secret that is also a path or a name
    the message repeats (absurd, but possible) is masked there too.
    """
    return replace(check, message=scrub(check.message, secrets))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace each secret, also as libpq conninfo-escaped and URL-encoded, with "***"."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(secret.replace("\\", "\\\\").replace("'", "\\'"))
            forms.add(quote(secret, safe=""))
    # Longest first, so a form containing another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, SCRUBBED)
    return text
