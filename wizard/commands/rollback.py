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
) -> Result:
    """Restore backup set `to` (default the newest). `confirm`, when given, is asked first and
    may cancel (Cancelled). Raises InputError for a missing set, CheckFailed for a held lock."""
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


def _postgres_password(root: Path) -> str | None:
    try:
        env = read_env((root / ".env").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, EnvParseError):
        return None
    return env.get("POSTGRES_PASSWORD")
