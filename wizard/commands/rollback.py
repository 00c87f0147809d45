"""`wizard rollback`: restore a backup set, itself backed up first (a second rollback undoes it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wizard.errors import Cancelled, CheckFailed, InputError
from wizard.files.lock import LockedError, project_lock
from wizard.files.writer import backup_sets
from wizard.files.writer import rollback as restore
from wizard.result import MessageKind, Result
from wizard.stack.envfile import EnvParseError, read_env


def rollback(
    project_dir: Path,
    *,
    to: str | None,
    confirm: Callable[[str], bool] | None,
    force: bool = False,
) -> Result:
    """Restore backup set `to` (default the newest). `confirm`, when given, is asked first and
    may cancel (Cancelled). Raises InputError for a missing set, CheckFailed for a held lock and,
    unless `force`, for a set whose PostgreSQL password the server does not take."""
    root = project_dir.resolve()
    sets = backup_sets(root)
    if not sets:
        raise InputError([f"rollback: {root} has no backups to restore"])
    stamp = to or sets[0]
    if stamp not in sets:
        raise InputError([f"--to: no backup set {stamp!r}; available: {', '.join(sets)}"])
    if confirm is not None and not confirm(f"Restore the files backed up at {stamp}?"):
        raise Cancelled()
    try:
        with project_lock(root):
            replaced = _postgres_password(root)
            if not force and (problem := _refused_password(root, stamp, replaced)):
                raise CheckFailed(problem)
            result = restore(root, stamp)
            restored = _postgres_password(root)
    except LockedError as exc:
        raise CheckFailed(str(exc)) from None
    done = Result(
        {
            "ok": True,
            "restored": stamp,
            "written": list(result.written),
            "backup": result.backup_stamp,
        }
    )
    done.say(
        MessageKind.SUCCESS,
        f"Restored {', '.join(result.written) or 'nothing (already identical)'} from {stamp}",
    )
    if result.backup_stamp:
        done.say(
            MessageKind.INFO, f"What it replaced is saved as backup set {result.backup_stamp}."
        )
    if None not in (replaced, restored) and replaced != restored:
        # A rollback changes .env only: the server keeps the password a rotation gave it.
        done.say(
            MessageKind.WARN,
            "The restored .env holds another PostgreSQL password than the one it replaced. "
            "If the server uses the replaced one (it was rotated or corrected since), the "
            "stack cannot log in: run `wizard rollback` again to undo this rollback.",
        )
    return done


def _refused_password(root: Path, stamp: str, current: str | None) -> str | None:
    """Why restoring set `stamp` would lock the stack out, or None: its .env holds another
    PostgreSQL password than `current`, and the server does not take it (or cannot be asked).
    A rollback changes files only; the server keeps the password a rotation gave it."""
    from wizard.commands.rotation import pending_password
    from wizard.config.model import DEFAULT_DB_TIMEOUT
    from wizard.host.database import check_database
    from wizard.host.db_values import DbProblem
    from wizard.host.targets import target_for_env

    try:
        restored = read_env((root / f".env.bak.{stamp}").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, EnvParseError):
        return None  # no .env in the set: .env stays as it is
    password = restored.get("POSTGRES_PASSWORD")
    if current is None or password is None or password == current:
        return None
    if pending_password(restored) == current:
        return None  # a rotation's write-ahead: the next setup or check settles it to `current`
    target, reason = target_for_env(restored)
    if target is not None:
        result = check_database(target, DEFAULT_DB_TIMEOUT)
        # Logged in: the server reports a missing database only after the password passed.
        if result.server_version is not None or result.problem is DbProblem.NO_DATABASE:
            return None
        reason = result.message
        if result.problem is DbProblem.AUTH:
            reason = "the server refuses it"
    return (
        f"Nothing was restored: the .env of backup set {stamp} holds another PostgreSQL "
        f"password than the current one, and it cannot be shown to work ({reason}). A rollback "
        "changes files only, and the server keeps the password it was given since (rotated or "
        "corrected), so the stack could not log in. Keep the current .env, or restore it "
        "anyway with --force and then give the server's password to `wizard setup` "
        "(WIZARD_POSTGRES_PASSWORD)."
    )


def _postgres_password(root: Path) -> str | None:
    try:
        env = read_env((root / ".env").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, EnvParseError):
        return None
    return env.get("POSTGRES_PASSWORD")
