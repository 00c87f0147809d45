"""A password rotation the server's death left unfinished: kept in .env, then settled.

When the server stops in the middle of `--rotate-postgres-password` (after ALTER ROLE, before the
proof or the set-back could run), nobody knows which password it has. The new one must not be
lost: `.env` then keeps the old one as POSTGRES_PASSWORD and the new one as
POSTGRES_PASSWORD_PENDING (0600, like every secret; no other file holds one). The next
`wizard setup` or `wizard check` asks the server which of the two it accepts and finishes the
rotation (the new one becomes POSTGRES_PASSWORD, DATABASE_URL follows) or undoes it (the pending
one is dropped).

Nothing here prints; messages never contain a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from wizard.config.model import db_timeout_or_default
from wizard.files.project import ENV_NAME, Project, load_project
from wizard.stack import resources
from wizard.stack.envfile import read_env, update_env

PENDING_KEY = "POSTGRES_PASSWORD_PENDING"

# What the person is told, wherever the rotation stopped.
KEPT = (
    f".env keeps the old password as POSTGRES_PASSWORD and the new one as {PENDING_KEY}; once "
    "the server runs again, `wizard setup` or `wizard check` finds out which one it accepts and "
    "finishes or undoes the rotation"
)


class Verdict(StrEnum):
    NEW = "new"  # the server accepts the pending password: finish the rotation
    OLD = "old"  # it accepts the current one: undo it
    UNKNOWN = "unknown"  # it could not be asked, or it refuses both


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    reason: str  # for UNKNOWN: why, in a sentence (the connection check's, where it failed)


def pending_password(env: Mapping[str, str]) -> str | None:
    """The new password of an unfinished rotation, or None when none is pending."""
    return env.get(PENDING_KEY) or None


def find_out(env: Mapping[str, str], timeout: int, wait_seconds: float = 0.0) -> Finding:
    """Which password the server accepts: the pending one is tried first (the rotation got as
    far as ALTER ROLE whenever it is in doubt), then the current one."""
    from wizard.host.database import check_database, wait_for_database
    from wizard.host.db_values import DbProblem
    from wizard.host.targets import target_for_env

    target, reason = target_for_env(env)
    pending = pending_password(env)
    if target is None or pending is None:
        return Finding(Verdict.UNKNOWN, f"The server cannot be tried: {reason}.")
    for verdict, password in ((Verdict.NEW, pending), (Verdict.OLD, target.password)):
        tried = replace(target, password=password)
        if wait_seconds > 0:
            result = wait_for_database(tried, timeout, wait_seconds)
        else:
            result = check_database(tried, timeout)
        # Logged in: the server reports a missing database only after the password passed.
        if result.server_version is not None or result.problem is DbProblem.NO_DATABASE:
            return Finding(verdict, "")
        if result.problem is not DbProblem.AUTH:
            return Finding(Verdict.UNKNOWN, result.message)
    return Finding(
        Verdict.UNKNOWN,
        f'The server refuses both the old and the new password of user "{target.user}" (changed '
        f"by hand since?); empty {PENDING_KEY} in .env, then give the role's password to "
        "`wizard setup` (WIZARD_POSTGRES_PASSWORD) to correct it.",
    )


def settled_text(text: str, env: Mapping[str, str], verdict: Verdict) -> str:
    """The .env text with the rotation finished (NEW) or undone (OLD)."""
    values = {PENDING_KEY: ""}
    new = pending_password(env)
    if verdict is Verdict.NEW and new is not None:
        values["POSTGRES_PASSWORD"] = new
        if "DATABASE_URL" in env:
            values["DATABASE_URL"] = _with_password(
                env["DATABASE_URL"], env.get("POSTGRES_PASSWORD", ""), new
            )
    return update_env(text, values, resources.template("env.template"))


def _with_password(url: str, old: str, new: str) -> str:
    """`url` with its password `old` replaced by `new` (percent-encoded); any other URL as it is
    (`wizard check` names what in it disagrees)."""
    try:
        parts = urlsplit(url)
        if parts.password is None or unquote(parts.password) != old:
            return url
    except ValueError:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(new, safe='')}@{hostport}"))


@dataclass(frozen=True)
class Settled:
    """The outcome of settling: `project` as it is with the rotation settled (None when it could
    not be), and the sentence for the person."""

    project: Project | None
    message: str


def settle(project: Project, timeout: object = None, wait_seconds: float = 0.0) -> Settled:
    """The project with its pending rotation finished or undone, in memory (nothing is
    written). `timeout` is the --db-timeout as given (default 5 seconds)."""
    finding = find_out(project.env, db_timeout_or_default(timeout), wait_seconds)
    if finding.verdict is Verdict.UNKNOWN:
        return Settled(
            None,
            f"A PostgreSQL password rotation is unfinished: {finding.reason} Meanwhile {KEPT}.",
        )
    text = settled_text(project.env_text or "", project.env, finding.verdict)
    if finding.verdict is Verdict.NEW:
        message = (
            "An unfinished PostgreSQL password rotation is finished: the server accepts the new "
            "password, which becomes POSTGRES_PASSWORD (and DATABASE_URL follows)."
        )
    else:
        message = (
            "An unfinished PostgreSQL password rotation is undone: the server still accepts the "
            f"old password, which stays; the new one is dropped from {PENDING_KEY}."
        )
    return Settled(replace(project, env_text=text, env=read_env(text)), message)


def settle_on_disk(project_dir: Path, timeout: int, wait_seconds: float) -> Settled:
    """`settle`, then write .env (what `wizard check` does). Takes the project lock and reads
    .env again under it; the message of a failure says what failed and that .env is as it was."""
    from wizard.errors import InputError
    from wizard.files.lock import LockedError, project_lock
    from wizard.files.writer import PlannedFile, WriteError, write_files

    try:
        with project_lock(project_dir):
            settled = settle(load_project(project_dir), timeout, wait_seconds)
            if settled.project is None:
                return settled
            planned = PlannedFile(ENV_NAME, settled.project.env_text or "", 0o600, secret=True)
            result = write_files(project_dir, [planned])
    except (LockedError, WriteError) as exc:
        return Settled(None, f"A PostgreSQL password rotation is unfinished: {exc}")
    except InputError as exc:
        return Settled(None, "; ".join(exc.problems))
    stamp = result.backup_stamp
    return Settled(
        settled.project,
        settled.message + (f" The previous .env is .env.bak.{stamp}." if stamp else ""),
    )
