"""The project lock: two wizards never change one project at the same time.

An flock on the project directory itself, so taking it creates nothing a run must clean up; the
kernel drops it when the holder exits, however it exits.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from wizard.errors import CheckFailed

LOCK_NAME = ".wizard.lock"
_HOLDER_READ_TRIES = 5
_HOLDER_READ_PAUSE_S = 0.01


class LockWriteError(CheckFailed):
    """The lock could not be taken (the directory cannot be opened or locked)."""


class LockedError(CheckFailed):
    """Another wizard holds the project lock; the message names its pid, start time and command."""


@contextmanager
def project_lock(project_dir: Path) -> Iterator[None]:
    """Hold the project's exclusive lock for the duration of the block.

    The lock is an flock on the project directory itself, so taking it creates nothing: a run that
    stops before writing leaves the directory exactly as it was. The kernel drops the lock when
    the holder exits however it exits, so a lock left by a dead process is free. While held,
    `.wizard.lock` (0600) names the holder, so a refused run can say who it is; it is removed on
    release, and a stale one left by a killed holder is simply overwritten by the next.

    Raises LockedError when another process holds it, LockWriteError when it cannot be taken.
    """
    try:
        # Python opens descriptors non-inheritable, so commands the wizard starts (docker compose)
        # cannot keep the lock alive after the wizard ends.
        fd = os.open(project_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise LockWriteError(
            f"could not open {project_dir} ({exc.strerror}); nothing was changed"
        ) from exc
    info = project_dir / LOCK_NAME
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"another wizard ({_read_holder(info)}) is changing {project_dir}; "
                "wait for it or stop it"
            ) from None
        except OSError as exc:
            raise LockWriteError(
                f"could not lock {project_dir} ({exc.strerror}); nothing was changed"
            ) from exc
        _record_holder(info)
        try:
            yield
        finally:
            with suppress(OSError):
                info.unlink()
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _record_holder(info: Path) -> None:
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    # Only argv[0]: the rest of the command line may carry a password.
    command = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    text = f"pid={os.getpid()}\nstarted={started}\ncommand={command}\n"
    with suppress(OSError):
        # Best effort: the flock is the lock; this file only lets a refused run name the holder.
        info.unlink(missing_ok=True)
        fd = os.open(info, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def _read_holder(info: Path) -> str:
    for _ in range(_HOLDER_READ_TRIES):
        try:
            text = info.read_text(errors="replace")
        except OSError:
            text = ""
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        if "pid" in fields:
            return (
                f"pid {fields['pid']}, started {fields.get('started', 'at an unknown time')}, "
                f"command {fields.get('command', 'unknown')}"
            )
        # The holder writes this just after taking the lock: give it a moment.
        time.sleep(_HOLDER_READ_PAUSE_S)
    return "pid unknown"


# --- writing -------------------------------------------------------------------------------------
