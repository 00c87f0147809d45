"""The writer against real files: modes, backups, failures half-way, rollback and the project lock.

Failures are provoked by making a standard-library call fail (os.replace, os.fsync, os.write) or by
a real full filesystem; the writer itself is never replaced.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import small_tmpfs

from wizard.files.lock import LOCK_NAME, LockedError, project_lock
from wizard.files.writer import (
    KEEP_BACKUP_SETS,
    TEMP_PREFIX,
    PlannedFile,
    WriteError,
    backup_sets,
    rollback,
    write_files,
)

REPO = Path(__file__).resolve().parents[1]
ENV = ".env"
OVERRIDE = "docker-compose.override.yml"
T0 = datetime(2026, 11, 26, 7, 40, 1, 123456, tzinfo=UTC)


def env(content: str) -> PlannedFile:
    return PlannedFile(ENV, content, 0o600, secret=True)


def override(content: str) -> PlannedFile:
    return PlannedFile(OVERRIDE, content, 0o644)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def temp_files(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if name.startswith(TEMP_PREFIX)]


def backup_files(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if ".bak." in name)


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    original = os.umask(0o022)
    os.umask(original)
    yield os.umask
    os.umask(original)


def fail_for(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    when: Callable[..., bool],
    error: BaseException,
) -> None:
    """Make os.<name> raise `error` for the calls where `when(*args)` is true."""
    real = getattr(os, name)

    def failing(*args: Any, **kwargs: Any) -> Any:
        if when(*args):
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, failing)


def renaming_onto(name: str) -> Callable[..., bool]:
    """Selects the os.replace calls whose destination is the project file `name`."""
    return lambda src, dst, *_: os.path.basename(dst) == name


def os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


# --- writing -------------------------------------------------------------------------------------


def test_new_env_is_private_from_the_moment_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: Callable[[int], int]
) -> None:
    umask(0)  # a careless open() would now create 0666
    modes_at_creation: list[int] = []
    real_open = os.open

    def recording_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd = real_open(path, flags, *args, **kwargs)
        if os.path.basename(path).startswith(TEMP_PREFIX):
            modes_at_creation.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return fd

    monkeypatch.setattr(os, "open", recording_open)
    write_files(tmp_path, [env("POSTGRES_PASSWORD='s3cret'\n")])

    assert modes_at_creation == [0o600]
    assert mode_of(tmp_path / ENV) == 0o600
    assert (tmp_path / ENV).read_text() == "POSTGRES_PASSWORD='s3cret'\n"


def test_override_gets_its_mode_whatever_the_umask(
    tmp_path: Path, umask: Callable[[int], int]
) -> None:
    umask(0o077)
    result = write_files(tmp_path, [env("A=1\n"), override("services: {}\n")])

    assert result.written == (ENV, OVERRIDE)
    assert result.backup_stamp is None and result.backups == ()
    assert mode_of(tmp_path / ENV) == 0o600
    assert mode_of(tmp_path / OVERRIDE) == 0o644
    assert listing(tmp_path) == [ENV, OVERRIDE]


def test_rerun_with_same_content_touches_nothing_and_makes_no_backup(tmp_path: Path) -> None:
    files = [env("A=1\n"), override("services: {}\n")]
    write_files(tmp_path, files)
    before = {n: (tmp_path / n).stat() for n in (ENV, OVERRIDE)}

    result = write_files(tmp_path, files, now=T0)

    assert result.written == () and result.backup_stamp is None and result.backups == ()
    for name, old in before.items():
        new = (tmp_path / name).stat()
        assert (new.st_ino, new.st_mtime_ns) == (old.st_ino, old.st_mtime_ns)
    assert backup_sets(tmp_path) == []
    assert listing(tmp_path) == [ENV, OVERRIDE]


def test_rerun_makes_a_chmodded_env_private_again_without_rewriting_it(tmp_path: Path) -> None:
    write_files(tmp_path, [env("A=1\n")])
    (tmp_path / ENV).chmod(0o644)
    old = (tmp_path / ENV).stat()

    result = write_files(tmp_path, [env("A=1\n")])

    assert mode_of(tmp_path / ENV) == 0o600
    assert result.permissions_fixed == (ENV,) and result.written == ()
    assert (tmp_path / ENV).stat().st_mtime_ns == old.st_mtime_ns
    assert backup_sets(tmp_path) == []


def test_replaced_env_is_backed_up_byte_identical_and_private(tmp_path: Path) -> None:
    # Whatever the user had, byte for byte: CRLF, non-UTF-8, no final newline, world-readable.
    original = b"A=1\r\nNAME=caf\xe9\r\nB=2"
    (tmp_path / ENV).write_bytes(original)
    (tmp_path / ENV).chmod(0o644)

    result = write_files(tmp_path, [env("A=2\n")], now=T0)

    assert result.written == (ENV,)
    assert result.backup_stamp == "20261126T074001.123456Z"
    backup = tmp_path / f"{ENV}.bak.20261126T074001.123456Z"
    assert result.backups == (backup,)
    assert backup.read_bytes() == original
    assert mode_of(backup) == 0o600
    assert (tmp_path / ENV).read_text() == "A=2\n"
    assert mode_of(tmp_path / ENV) == 0o600
    assert backup_sets(tmp_path) == ["20261126T074001.123456Z"]


def test_one_run_makes_one_backup_set_of_only_the_files_it_replaces(tmp_path: Path) -> None:
    write_files(tmp_path, [env("A=1\n"), override("x: 1\n"), PlannedFile("notes", "same\n")])

    result = write_files(
        tmp_path, [env("A=2\n"), override("x: 2\n"), PlannedFile("notes", "same\n")], now=T0
    )

    stamp = "20261126T074001.123456Z"
    assert result.backup_stamp == stamp
    assert backup_files(tmp_path) == [f"{ENV}.bak.{stamp}", f"{OVERRIDE}.bak.{stamp}"]
    assert (tmp_path / f"{OVERRIDE}.bak.{stamp}").read_text() == "x: 1\n"
    assert mode_of(tmp_path / f"{OVERRIDE}.bak.{stamp}") == 0o600


def test_only_the_newest_five_backup_sets_are_kept(tmp_path: Path) -> None:
    (tmp_path / ENV).write_text("v0\n")
    stamps = []
    for i in range(1, 8):
        result = write_files(tmp_path, [env(f"v{i}\n")], now=T0 + timedelta(minutes=i))
        assert result.backup_stamp is not None
        stamps.append(result.backup_stamp)

    kept = stamps[-KEEP_BACKUP_SETS:][::-1]
    assert backup_sets(tmp_path) == kept
    assert len(backup_files(tmp_path)) == KEEP_BACKUP_SETS
    # Each kept set holds what was replaced at that run: run i replaced v(i-1).
    for i, stamp in enumerate(stamps, start=1):
        backup = tmp_path / f"{ENV}.bak.{stamp}"
        assert backup.exists() == (stamp in kept)
        if stamp in kept:
            assert backup.read_text() == f"v{i - 1}\n"


def test_two_runs_in_the_same_second_get_distinct_backup_sets(tmp_path: Path) -> None:
    write_files(tmp_path, [env("v0\n")])
    first = write_files(tmp_path, [env("v1\n")]).backup_stamp
    second = write_files(tmp_path, [env("v2\n")]).backup_stamp
    # Even two runs told the very same moment.
    third = write_files(tmp_path, [env("v3\n")], now=T0 + timedelta(days=1)).backup_stamp
    fourth = write_files(tmp_path, [env("v4\n")], now=T0 + timedelta(days=1)).backup_stamp

    assert None not in (first, second, third, fourth)
    assert backup_sets(tmp_path) == [fourth, third, second, first]
    assert len(set(backup_sets(tmp_path))) == 4


def test_clock_going_back_still_makes_the_newest_set_the_last_one(tmp_path: Path) -> None:
    write_files(tmp_path, [env("v0\n")])
    later = write_files(tmp_path, [env("v1\n")], now=T0).backup_stamp
    earlier = write_files(tmp_path, [env("v2\n")], now=T0 - timedelta(hours=1)).backup_stamp

    assert backup_sets(tmp_path) == [earlier, later]
    assert (tmp_path / f"{ENV}.bak.{earlier}").read_text() == "v1\n"


def test_leftover_temp_file_of_a_killed_run_is_cleaned_up(tmp_path: Path) -> None:
    (tmp_path / f"{TEMP_PREFIX}dead1234-{ENV}").write_text("half a secret")

    write_files(tmp_path, [env("A=1\n")])

    assert listing(tmp_path) == [ENV]


def test_symlinked_env_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "real.env").write_text("A=1\n")
    (tmp_path / ENV).symlink_to("real.env")

    with pytest.raises(WriteError, match=r"\.env is a symbolic link"):
        write_files(tmp_path, [env("A=2\n")])

    assert (tmp_path / ENV).is_symlink()
    assert (tmp_path / "real.env").read_text() == "A=1\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_run_with_sudo_keeps_the_users_ownership_of_env(tmp_path: Path) -> None:
    (tmp_path / ENV).write_text("A=1\n")
    os.chown(tmp_path / ENV, 1234, 1234)

    result = write_files(tmp_path, [env("A=2\n")])

    new, backup = (tmp_path / ENV).stat(), result.backups[0].stat()
    assert (new.st_uid, new.st_gid) == (1234, 1234)
    assert (backup.st_uid, backup.st_gid) == (1234, 1234)


def test_secret_file_cannot_be_planned_readable_by_others() -> None:
    with pytest.raises(ValueError, match="must be 0600"):
        PlannedFile(ENV, "A=1\n", 0o644, secret=True)


@pytest.mark.parametrize(
    "name", ["", ".", "..", "sub/.env", LOCK_NAME, ".env.bak.20261126T074001.123456Z"]
)
def test_planned_file_name_must_be_a_plain_file_name(name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        PlannedFile(name, "x")


# --- failures ------------------------------------------------------------------------------------

ENOSPC_OVER = 10_000  # writes bigger than this hit a "full disk"
BIG = "X=" + "y" * 50_000 + "\n"


def break_replace_of_env(monkeypatch: pytest.MonkeyPatch) -> str:
    fail_for(monkeypatch, "replace", renaming_onto(ENV), os_error(errno.EACCES))
    return "Permission denied"


def break_every_replace(monkeypatch: pytest.MonkeyPatch) -> str:
    fail_for(monkeypatch, "replace", lambda *_: True, os_error(errno.EXDEV))
    return "Invalid cross-device link"


def break_fsync(monkeypatch: pytest.MonkeyPatch) -> str:
    fail_for(monkeypatch, "fsync", lambda *_: True, os_error(errno.EIO))
    return "Input/output error"


def fill_disk(monkeypatch: pytest.MonkeyPatch) -> str:
    fail_for(monkeypatch, "write", lambda fd, data: len(data) > ENOSPC_OVER, os_error(errno.ENOSPC))
    return "No space left on device"


@pytest.mark.parametrize(
    "break_it",
    [break_replace_of_env, break_every_replace, break_fsync, fill_disk],
    ids=["rename-refused", "backup-rename-refused", "fsync-fails", "disk-full"],
)
def test_failed_write_leaves_previous_env_readable_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, break_it: Callable[[pytest.MonkeyPatch], str]
) -> None:
    original = b"POSTGRES_PASSWORD='old'\n"
    (tmp_path / ENV).write_bytes(original)
    (tmp_path / ENV).chmod(0o600)
    reason = break_it(monkeypatch)

    with pytest.raises(WriteError) as raised:
        write_files(tmp_path, [env(BIG)])

    monkeypatch.undo()
    assert (tmp_path / ENV).read_bytes() == original
    assert mode_of(tmp_path / ENV) == 0o600
    assert listing(tmp_path) == [ENV]  # no temp file, no backup of a run that changed nothing
    message = str(raised.value)
    assert str(tmp_path / ENV) in message
    assert reason in message
    assert "the previous .env is intact" in message


def test_disk_full_on_a_real_small_filesystem_keeps_previous_env(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small", "64k") as mount_point:
        original = b"A=1\n" * 100
        (mount_point / ENV).write_bytes(original)

        with pytest.raises(WriteError, match=r"No space left on device.*previous \.env is intact"):
            write_files(mount_point, [env("B=" + "z" * 200_000 + "\n")])

        assert (mount_point / ENV).read_bytes() == original
        assert listing(mount_point) == [ENV]


@pytest.mark.parametrize("override_existed", [True, False], ids=["replaced", "new"])
def test_failure_of_the_second_file_puts_the_first_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override_existed: bool
) -> None:
    old_env = b"A=1\n"
    (tmp_path / ENV).write_bytes(old_env)
    (tmp_path / ENV).chmod(0o600)
    if override_existed:
        (tmp_path / OVERRIDE).write_text("x: 1\n")
    expected = listing(tmp_path)
    fail_for(monkeypatch, "replace", renaming_onto(OVERRIDE), os_error(errno.EROFS))

    with pytest.raises(WriteError) as raised:
        write_files(tmp_path, [env("A=2\n"), override("x: 2\n")], now=T0)

    monkeypatch.undo()
    assert (tmp_path / ENV).read_bytes() == old_env
    assert mode_of(tmp_path / ENV) == 0o600
    if override_existed:
        assert (tmp_path / OVERRIDE).read_text() == "x: 1\n"
    assert listing(tmp_path) == expected
    assert f"could not write {tmp_path / OVERRIDE} (Read-only file system)" in str(raised.value)


def test_failed_backup_of_the_second_file_leaves_no_half_backup_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, [env("A=1\n"), override("x: 1\n")])
    backup_of_override = f"{OVERRIDE}.bak."
    fail_for(
        monkeypatch,
        "replace",
        lambda src, dst, *_: os.path.basename(dst).startswith(backup_of_override),
        os_error(errno.ENOSPC),
    )

    with pytest.raises(WriteError, match=r"could not back up .*override\.yml .*No space left"):
        write_files(tmp_path, [env("A=2\n"), override("x: 2\n")])

    monkeypatch.undo()
    assert listing(tmp_path) == [ENV, OVERRIDE]
    assert (tmp_path / ENV).read_text() == "A=1\n"


def test_failed_directory_sync_after_replacing_puts_the_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ENV).write_text("A=1\n")
    directory_syncs = []

    def second_directory_sync(fd: int) -> bool:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            directory_syncs.append(fd)
            return len(directory_syncs) == 2  # the first syncs the backups, the second the .env
        return False

    fail_for(monkeypatch, "fsync", second_directory_sync, os_error(errno.EIO))

    with pytest.raises(WriteError, match=r"Input/output error.*previous \.env is intact"):
        write_files(tmp_path, [env("A=2\n")])

    monkeypatch.undo()
    assert (tmp_path / ENV).read_text() == "A=1\n"
    assert listing(tmp_path) == [ENV]


def test_failure_after_creating_a_new_file_removes_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ENV).write_text("A=1\n")
    fail_for(monkeypatch, "replace", renaming_onto(ENV), os_error(errno.EIO))

    with pytest.raises(WriteError):
        write_files(tmp_path, [override("x: 1\n"), env("A=2\n")])

    monkeypatch.undo()
    assert listing(tmp_path) == [ENV]
    assert (tmp_path / ENV).read_text() == "A=1\n"


def test_ctrl_c_between_two_files_puts_the_first_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, [env("A=1\n"), override("x: 1\n")])
    fail_for(monkeypatch, "replace", renaming_onto(OVERRIDE), KeyboardInterrupt())

    with pytest.raises(KeyboardInterrupt):
        write_files(tmp_path, [env("A=2\n"), override("x: 2\n")])

    monkeypatch.undo()
    assert (tmp_path / ENV).read_text() == "A=1\n"
    assert (tmp_path / OVERRIDE).read_text() == "x: 1\n"
    assert listing(tmp_path) == [ENV, OVERRIDE]


# --- rollback ------------------------------------------------------------------------------------


def test_rollback_restores_the_previous_files_byte_for_byte(tmp_path: Path) -> None:
    original = b"A=1\r\nNAME=caf\xe9"
    (tmp_path / ENV).write_bytes(original)
    write_files(tmp_path, [env("A=2\n"), override("x: 2\n")], now=T0)

    result = rollback(tmp_path, now=T0 + timedelta(minutes=1))

    assert (tmp_path / ENV).read_bytes() == original
    assert mode_of(tmp_path / ENV) == 0o600
    assert result.written == (ENV,)
    # The override did not exist before that run: it is not in the set and stays as it is.
    assert (tmp_path / OVERRIDE).read_text() == "x: 2\n"


def test_second_rollback_undoes_the_first(tmp_path: Path) -> None:
    write_files(tmp_path, [env("v1\n"), override("o1\n")], now=T0)
    write_files(tmp_path, [env("v2\n"), override("o2\n")], now=T0 + timedelta(minutes=1))

    first = rollback(tmp_path, now=T0 + timedelta(minutes=2))
    assert (tmp_path / ENV).read_text() == "v1\n"
    assert (tmp_path / OVERRIDE).read_text() == "o1\n"
    assert first.backup_stamp == backup_sets(tmp_path)[0]  # what it replaced is now the newest set

    second = rollback(tmp_path, now=T0 + timedelta(minutes=3))
    assert (tmp_path / ENV).read_text() == "v2\n"
    assert (tmp_path / OVERRIDE).read_text() == "o2\n"
    assert second.written == (ENV, OVERRIDE)


def test_rollback_twice_with_full_history_and_a_clock_gone_back(tmp_path: Path) -> None:
    (tmp_path / ENV).write_text("v0\n")
    for i in range(1, KEEP_BACKUP_SETS + 1):
        write_files(tmp_path, [env(f"v{i}\n")], now=T0 + timedelta(minutes=i))
    assert len(backup_sets(tmp_path)) == KEEP_BACKUP_SETS

    # The set made by rollback must be the newest one and must survive pruning, even when the
    # clock now reads earlier than the existing stamps.
    first = rollback(tmp_path, now=T0)
    assert (tmp_path / ENV).read_text() == "v4\n"
    assert backup_sets(tmp_path)[0] == first.backup_stamp
    assert len(backup_sets(tmp_path)) == KEEP_BACKUP_SETS

    rollback(tmp_path, now=T0)
    assert (tmp_path / ENV).read_text() == "v5\n"
    assert len(backup_sets(tmp_path)) == KEEP_BACKUP_SETS


def test_rollback_to_an_older_set_restores_that_set(tmp_path: Path) -> None:
    write_files(tmp_path, [env("v0\n")])
    oldest = write_files(tmp_path, [env("v1\n")], now=T0).backup_stamp
    write_files(tmp_path, [env("v2\n")], now=T0 + timedelta(minutes=1))

    rollback(tmp_path, oldest, now=T0 + timedelta(minutes=2))

    assert (tmp_path / ENV).read_text() == "v0\n"
    rollback(tmp_path, now=T0 + timedelta(minutes=3))
    assert (tmp_path / ENV).read_text() == "v2\n"


def test_rollback_to_an_unknown_stamp_names_the_available_ones(tmp_path: Path) -> None:
    write_files(tmp_path, [env("v0\n")])
    stamp = write_files(tmp_path, [env("v1\n")], now=T0).backup_stamp

    with pytest.raises(
        WriteError, match=f"no backup set 20200101T000000.000000Z .*available: {stamp}"
    ):
        rollback(tmp_path, "20200101T000000.000000Z")
    assert (tmp_path / ENV).read_text() == "v1\n"


def test_rollback_without_backups_says_there_are_none(tmp_path: Path) -> None:
    write_files(tmp_path, [env("v0\n")])

    with pytest.raises(WriteError, match="no backups"):
        rollback(tmp_path)


def test_failed_rollback_leaves_current_files_and_backups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, [env("v0\n")])
    write_files(tmp_path, [env("v1\n")], now=T0)
    before = listing(tmp_path)
    fail_for(monkeypatch, "fsync", lambda *_: True, os_error(errno.EIO))

    with pytest.raises(WriteError, match="Input/output error"):
        rollback(tmp_path)

    monkeypatch.undo()
    assert (tmp_path / ENV).read_text() == "v1\n"
    assert listing(tmp_path) == before


# --- lock ----------------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from wizard.files.lock import project_lock
with project_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def lock_holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another wizard process that holds the lock on tmp_path until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_second_wizard_is_refused_naming_the_first_ones_pid(
    tmp_path: Path, lock_holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockedError) as raised, project_lock(tmp_path):
        pytest.fail("took a lock another process holds")

    message = str(raised.value)
    assert f"another wizard (pid {lock_holder.pid}, started " in message
    assert " UTC, command -c)" in message
    assert f"is changing {tmp_path}; wait for it or stop it" in message


def test_lock_of_a_killed_wizard_is_taken_over(
    tmp_path: Path, lock_holder: subprocess.Popen[str]
) -> None:
    lock_holder.send_signal(signal.SIGKILL)
    lock_holder.wait()

    with project_lock(tmp_path):
        assert f"pid={os.getpid()}\n" in (tmp_path / LOCK_NAME).read_text()


def test_lock_names_the_holder_privately_and_leaves_nothing_behind(
    tmp_path: Path, umask: Callable[[int], int]
) -> None:
    umask(0)
    with project_lock(tmp_path):
        assert mode_of(tmp_path / LOCK_NAME) == 0o600
        assert (tmp_path / LOCK_NAME).read_text().startswith(f"pid={os.getpid()}\n")
        with pytest.raises(LockedError, match=f"pid {os.getpid()}"), project_lock(tmp_path):
            pass
    assert list(tmp_path.iterdir()) == []  # a run that wrote nothing left nothing
    with project_lock(tmp_path):  # free again
        pass


def test_holder_note_left_by_a_killed_wizard_is_replaced(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("pid=999999\nstarted=long ago\ncommand=gone\n")
    with project_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().startswith(f"pid={os.getpid()}\n")
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_file_changed_since_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    """The plan was made from what .env held then; someone wrote it meanwhile (another wizard,
    an editor): writing over that would lose their change, so nothing is written."""
    env = tmp_path / ".env"
    env.write_text("LOG_LEVEL=INFO\n")
    read_when_planned = env.read_text()
    env.write_text("LOG_LEVEL=INFO\nADDED_BY_HAND=1\n")  # meanwhile
    planned = [PlannedFile(".env", "LOG_LEVEL=DEBUG\n", secret=True)]

    with pytest.raises(WriteError, match=r"\.env changed while the wizard ran"):
        write_files(tmp_path, planned, expected={".env": read_when_planned})

    assert env.read_text() == "LOG_LEVEL=INFO\nADDED_BY_HAND=1\n"
    assert backup_sets(tmp_path) == []
    # Unchanged since it was read: written as usual.
    env.write_text(read_when_planned)
    assert write_files(tmp_path, planned, expected={".env": read_when_planned}).written == (".env",)
