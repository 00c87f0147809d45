"""Writing the project's files: atomically, 0600 from the first instant, with a backup set per run.

Every run that changes files first copies each file it will replace into one backup set
(`<name>.bak.<UTC stamp>`, 0600, byte-identical), then replaces the files one by one through a
temporary file in the same directory. A failure leaves the previous files in place: a file that was
already replaced in this run is put back. The newest `KEEP_BACKUP_SETS` sets are kept.

`write_files` and `rollback` expect the caller to hold the project lock (wizard.files.lock).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wizard.errors import CheckFailed
from wizard.files.lock import LOCK_NAME

KEEP_BACKUP_SETS = 5
SECRET_MODE = 0o600
# Temporary files start with this prefix; any left behind by a killed run are removed by the next
# run (which holds the lock, so no other writer can own them).
TEMP_PREFIX = ".wizard-tmp-"

_STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_BACKUP_NAME = re.compile(r"^(?P<name>.+)\.bak\.(?P<stamp>\d{8}T\d{6}\.\d{6}Z)$")
# How long a refused run waits for the holder to finish recording who it is (it writes that just
# after taking the lock).


class WriteError(CheckFailed):
    """A file could not be written; the message names it, the reason, and what state it is in."""


@dataclass(frozen=True)
class PlannedFile:
    """One file the wizard wants in the project directory, exactly as it should be on disk.

    `name` is a plain file name (no directory part). A `secret` file must not be readable by
    group or others. Raises ValueError for a name or mode that breaks these rules.
    """

    name: str
    content: str
    mode: int = SECRET_MODE
    secret: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not 0 <= self.mode <= 0o777:
            raise ValueError(f"{self.name}: mode {self.mode:#o} is not a permission mode")
        if self.secret and self.mode & 0o077:
            raise ValueError(f"{self.name}: holds secrets, so mode {self.mode:#o} must be 0600")


@dataclass(frozen=True)
class WriteResult:
    """What a write or rollback changed.

    `written`: names whose content changed (created or replaced), in the order given.
    `backup_stamp`/`backups`: the backup set made of the replaced files (None/() if none).
    `permissions_fixed`: names whose content was already right but whose mode was not.
    """

    written: tuple[str, ...]
    backup_stamp: str | None
    backups: tuple[Path, ...]
    permissions_fixed: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Change:
    name: str
    data: bytes
    mode: int
    # write_files enforces the mode of a file whose content is already right; rollback does not,
    # since it only restores content.
    fix_mode_if_unchanged: bool


@dataclass(frozen=True)
class _OnDisk:
    data: bytes
    mode: int
    owner: tuple[int, int]


def write_files(
    project_dir: Path,
    files: Sequence[PlannedFile],
    *,
    now: datetime | None = None,
    expected: Mapping[str, str | None] | None = None,
    backup: bool = True,
) -> WriteResult:
    """Make each planned file exist in `project_dir` with exactly its content and mode.

    Files whose content is already right are not touched (only their mode is corrected). The others
    are first copied into one new backup set, then replaced atomically. `now` (default: the current
    time; naive values are UTC) names the backup set; a stamp is always newer than every existing
    set. Afterwards only the newest `KEEP_BACKUP_SETS` sets remain. `backup=False` makes no set (a
    rotation's write-ahead of .env: the run's own write makes the set).

    `expected` maps a file name to the text the plan was made from (None: absent): read again
    here, under the lock, a file that no longer holds it was changed by someone else meanwhile,
    and nothing is written (WriteError).

    Raises WriteError when anything fails; every file is then as it was before the call.
    The caller must hold `project_lock`.
    """
    changes = [
        _Change(f.name, f.content.encode("utf-8"), f.mode, fix_mode_if_unchanged=True)
        for f in files
    ]
    return _commit(project_dir, changes, now, expected or {}, backup=backup)


def backup_sets(project_dir: Path) -> list[str]:
    """Stamps of the backup sets in `project_dir`, newest first ([] when there are none)."""
    return sorted(_backup_files(project_dir), reverse=True)


def rollback(
    project_dir: Path, stamp: str | None = None, *, now: datetime | None = None
) -> WriteResult:
    """Put back the files of backup set `stamp` (default: the newest), each with mode 0600.

    The files it replaces are first saved as a new, newest backup set, so a second rollback undoes
    the first. A file that did not exist when the set was made is not in it and is left alone.
    Raises WriteError for an unknown stamp (naming the available ones) or when a file cannot be
    written (every file is then as it was). The caller must hold `project_lock`.
    """
    sets = _backup_files(project_dir)
    if not sets:
        raise WriteError(f"there are no backups in {project_dir} to roll back to")
    chosen = stamp or max(sets)
    if chosen not in sets:
        available = ", ".join(sorted(sets, reverse=True))
        raise WriteError(
            f"there is no backup set {chosen} in {project_dir}; available: {available}"
        )
    changes = []
    for name, path in sorted(sets[chosen].items()):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise WriteError(
                f"could not read the backup {path} ({exc.strerror}); nothing was changed"
            ) from exc
        changes.append(_Change(name, data, SECRET_MODE, fix_mode_if_unchanged=False))
    return _commit(project_dir, changes, now)


def _commit(
    project_dir: Path,
    changes: Sequence[_Change],
    now: datetime | None,
    expected: Mapping[str, str | None] | None = None,
    *,
    backup: bool = True,
) -> WriteResult:
    names = [c.name for c in changes]
    if len(set(names)) != len(names):
        raise ValueError(f"a file is planned twice: {names}")
    _remove_stale_temp_files(project_dir)

    before = {c.name: _read_current(project_dir / c.name) for c in changes}
    for name, text in (expected or {}).items():
        if name in before and _content(before[name]) != (None if text is None else text.encode()):
            raise WriteError(
                f"{project_dir / name} changed while the wizard ran (another wizard, or an "
                "edit); nothing was written: run it again"
            )
    to_write = [c for c in changes if _content(before[c.name]) != c.data]
    to_back_up = [c.name for c in to_write if before[c.name] is not None and backup]
    written = {c.name for c in to_write}

    stamp = _next_stamp(project_dir, now) if to_back_up else None
    backups = _make_backup_set(project_dir, to_back_up, before, stamp) if stamp else {}

    replaced: list[str] = []
    failed: str | None = None
    try:
        for change in to_write:
            failed = change.name
            current = before[change.name]
            owner = current.owner if current else None
            _write_atomic(project_dir / change.name, change.data, change.mode, owner)
            replaced.append(change.name)
            _fsync_dir(project_dir)
    except BaseException as exc:
        # Ctrl-C lands here as well: the set of files must stay consistent either way.
        message = _undo(project_dir, replaced, before, backups)
        if isinstance(exc, OSError) and failed is not None:
            raise WriteError(_failure_message(project_dir, failed, exc, before, message)) from exc
        raise

    fixed = _fix_modes(project_dir, [c for c in changes if c.name not in written], before)
    _prune(project_dir)
    return WriteResult(
        written=tuple(c.name for c in to_write),
        backup_stamp=stamp,
        backups=tuple(backups.values()),
        permissions_fixed=tuple(fixed),
    )


def _read_current(path: Path) -> _OnDisk | None:
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise WriteError(
                f"{path} is a symbolic link; the wizard replaces files whole and would break the "
                "link: replace it with the file it points to; nothing was changed"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteError(f"could not read {path} ({exc.strerror}); nothing was changed") from exc
    return _OnDisk(data, stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid))


def _make_backup_set(
    project_dir: Path, names: Sequence[str], before: dict[str, _OnDisk | None], stamp: str
) -> dict[str, Path]:
    made: dict[str, Path] = {}
    for name in names:
        current = before[name]
        assert current is not None
        backup = project_dir / f"{name}.bak.{stamp}"
        try:
            # Through a temporary file too: a half-written backup must never look like a real one.
            _write_atomic(backup, current.data, SECRET_MODE, current.owner)
        except OSError as exc:
            _remove(made.values())
            raise WriteError(
                f"could not back up {project_dir / name} as {backup.name} ({exc.strerror}); "
                f"the previous {name} is intact and nothing was changed"
            ) from exc
        made[name] = backup
    try:
        _fsync_dir(project_dir)
    except OSError as exc:
        _remove(made.values())
        raise WriteError(
            f"could not save the backups of {', '.join(names)} in {project_dir} ({exc.strerror}); "
            "nothing was changed"
        ) from exc
    return made


def _fix_modes(
    project_dir: Path, unchanged: Sequence[_Change], before: dict[str, _OnDisk | None]
) -> list[str]:
    fixed = []
    for change in unchanged:
        current = before[change.name]
        if not change.fix_mode_if_unchanged or current is None or current.mode == change.mode:
            continue
        path = project_dir / change.name
        try:
            os.chmod(path, change.mode)
        except OSError as exc:
            raise WriteError(
                f"could not set the mode of {path} to {change.mode:o} ({exc.strerror}); "
                "its content is unchanged"
            ) from exc
        fixed.append(change.name)
    return fixed


def _write_atomic(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None) -> None:
    """Replace `path` by `data` in one rename; on failure `path` is untouched, no temp remains."""
    temp = path.with_name(f"{TEMP_PREFIX}{os.urandom(4).hex()}-{path.name}")
    # O_EXCL with the final mode: the file never exists with wider permissions, not for an instant;
    # fchmod then sets exactly `mode` whatever the umask took away.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)
            if owner is not None and os.geteuid() == 0 and owner != (os.getuid(), os.getgid()):
                # Run with sudo, the wizard must not leave the user unable to read their own .env.
                os.fchown(fd, *owner)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise


def _fsync_dir(directory: Path) -> None:
    """Make the renames in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some filesystems (certain FUSE and network mounts) cannot fsync a directory; the rename is
        # still atomic there, only its durability is up to them.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _undo(
    project_dir: Path,
    replaced: Sequence[str],
    before: dict[str, _OnDisk | None],
    backups: dict[str, Path],
) -> str:
    """Put the files replaced in this run back; return '' or a sentence about what could not be."""
    lost = []
    for name in reversed(replaced):
        path = project_dir / name
        previous = before[name]
        try:
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                _write_atomic(path, previous.data, previous.mode, previous.owner)
        except OSError as exc:
            where = f"its previous content is in {backups[name].name}" if name in backups else ""
            lost.append(
                f"{name} could not be put back ({exc.strerror}){'; ' if where else ''}{where}"
            )
    with suppress(OSError):
        _fsync_dir(project_dir)
    if lost:
        return "; ".join(lost)
    # Everything is as before the run, so this run's backups would only be copies of the live files.
    _remove(backups.values())
    return ""


def _failure_message(
    project_dir: Path,
    name: str,
    exc: OSError,
    before: dict[str, _OnDisk | None],
    undo_problem: str,
) -> str:
    path = project_dir / name
    reason = exc.strerror or str(exc)
    if undo_problem:
        return f"could not write {path} ({reason}); {undo_problem}"
    state = f"the previous {name} is intact" if before[name] else f"{name} was not created"
    return f"could not write {path} ({reason}); {state} and no other file was changed"


# --- backup sets ---------------------------------------------------------------------------------


def _backup_files(project_dir: Path) -> dict[str, dict[str, Path]]:
    """stamp -> {file name -> backup path}."""
    sets: dict[str, dict[str, Path]] = {}
    try:
        entries = list(os.scandir(project_dir))
    except FileNotFoundError:
        return sets
    for entry in entries:
        match = _BACKUP_NAME.match(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            sets.setdefault(match["stamp"], {})[match["name"]] = Path(entry.path)
    return sets


def _next_stamp(project_dir: Path, now: datetime | None) -> str:
    moment = now or datetime.now(UTC)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    existing = backup_sets(project_dir)
    if existing:
        # Newer than every set, even when two runs share a microsecond or the clock went back:
        # "newest" must always be the set made last, or rollback would restore the wrong one.
        newest = datetime.strptime(existing[0], _STAMP_FORMAT).replace(tzinfo=UTC)
        moment = max(moment, newest + timedelta(microseconds=1))
    return moment.strftime(_STAMP_FORMAT)


def _prune(project_dir: Path) -> None:
    sets = _backup_files(project_dir)
    for stamp in sorted(sets, reverse=True)[KEEP_BACKUP_SETS:]:
        # Best effort: the files are written; an old backup that stays is not worth failing for.
        _remove(sets[stamp].values())


def _remove_stale_temp_files(project_dir: Path) -> None:
    with suppress(FileNotFoundError):
        for entry in os.scandir(project_dir):
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                with suppress(OSError):
                    os.unlink(entry.path)


def _content(on_disk: _OnDisk | None) -> bytes | None:
    return None if on_disk is None else on_disk.data


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        with suppress(OSError):
            os.unlink(path)


def _check_name(name: str) -> None:
    if (
        not name
        or name in (".", "..", LOCK_NAME)
        or "/" in name
        or "\0" in name
        or name.startswith(TEMP_PREFIX)
        or _BACKUP_NAME.match(name)
    ):
        raise ValueError(f"{name!r} is not a plain file name the wizard may write")
