"""Share a walk with forked copies of this process, one part of the work each.

The document preview makes a stat() per document; in Python the interpreter's own work per
file costs as much as the system call, and threads would wait on each other for the GIL, so a
large tree is shared with child processes instead (issue 15 item 22: the preview must keep up
with `find -printf %s`, which is C). Each child is a fork of the walk as it stands, with its
part of the directories still to read; it sends back how far it got now and then (for the
spinner) and, at the end, one `marshal`led result, through its own pipe.

Nothing a child does can reach the caller's stack. SIGINT and SIGTERM (wizard.signals.INTERRUPTS)
are blocked from before the fork until the parent has recorded the child, so that no interrupt
(the wizard raises KeyboardInterrupt for both) lands in the child before it is inside its own
`finally: os._exit`, nor in the parent while a child is not yet known to it. The child then dies of
them by default (unless they were ignored), lets go of every file it inherited but its pipe
(the project's lock among them), collects no garbage, and flushes nothing. The parent,
leaving the block for whatever reason, kills and reaps every child, and does it again if a
second interrupt cuts that short. A child that fails or does not answer in time gives None;
the caller decides.
"""

from __future__ import annotations

import gc
import marshal
import math
import os
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from wizard.signals import INTERRUPTS, interrupts_blocked

Part = TypeVar("Part")
Result = TypeVar("Result")
# Each frame: one byte (P: progress, R: result), the payload's length, the payload.
_HEADER = struct.Struct(">cI")
_PROGRESS = struct.Struct(">Q")
MAX_WORKERS = 4
# How long `close` waits for killed children to be reaped: one in an uninterruptible read (a
# hung network filesystem) dies only when that read returns, and stays a zombie of this
# process until it ends.
_REAP_S = 2.0
# The shortest wait between two ticks while the children finish.
_TICK_FLOOR_S = 0.02
_CGROUP = Path("/sys/fs/cgroup")


def workers() -> int:
    """How many processes a walk may use: the CPUs this process may run on (its affinity, and
    the CPU quota of its cgroup and those above it, as in a container), at most MAX_WORKERS.
    1 where fork() is not safe to use: off Linux (macOS forks badly), and while other threads
    run (what they hold, a lock in the middle of a DNS lookup say, would stay held in the
    child, and signals could land in them rather than be held)."""
    if not sys.platform.startswith("linux") or _threads() > 1:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except OSError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _cgroup_cpus(), MAX_WORKERS))


def _threads() -> int:
    """This process's threads, those a C extension started included."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _cgroup_cpus() -> int:
    """The CPUs that the quotas of this process's cgroup and of those above it allow (cgroup v2
    `cpu.max`, else v1's at the root), rounded up; MAX_WORKERS where none is set."""
    try:
        with open("/proc/self/cgroup") as file:
            own = next((line.strip()[3:] for line in file if line.startswith("0::")), "/")
    except OSError:
        own = "/"
    here = Path(_CGROUP, own.lstrip("/"))
    limits = [_cpus(_read(directory / "cpu.max")) for directory in (here, *here.parents)
              if directory.is_relative_to(_CGROUP)]  # fmt: skip
    v1 = _CGROUP / "cpu"
    limits.append(_cpus(f"{_read(v1 / 'cpu.cfs_quota_us')} {_read(v1 / 'cpu.cfs_period_us')}"))
    return min(limits)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _cpus(quota_and_period: str) -> int:
    """The CPUs a "QUOTA PERIOD" allows, rounded up; MAX_WORKERS for none ("max", -1, "")."""
    quota, _, period = quota_and_period.partition(" ")
    if not (quota.isdigit() and period.strip().isdigit() and int(period)):
        return MAX_WORKERS
    return max(1, math.ceil(int(quota) / int(period)))


@dataclass
class _Child:
    pid: int
    fd: int
    buffer: bytearray = field(default_factory=bytearray)
    seen: int = 0
    result: Any = None
    done: bool = False


@dataclass
class Children(Generic[Part, Result]):
    """The running children, in the order of their parts."""

    parts: Sequence[Part]
    _children: list[_Child] = field(default_factory=list)

    def progress(self) -> int:
        """What the children have reported so far (their counts, summed; not those of a child
        that ended without a result); never blocks."""
        live = {child.fd: child for child in self._children if not child.done}
        if live:
            poller = select.poll()
            for fd in live:
                poller.register(fd, select.POLLIN)
            for fd, _ in poller.poll(0):
                self._read(live[fd])
        return sum(c.seen for c in self._children if not (c.done and c.result is None))

    def results(
        self, until: float, tick: Callable[[], None] | None = None, every: float = 0.1
    ) -> list[Result | None]:
        """Each child's result, in order; None for one that failed, or that had not sent it by
        `until` (time.monotonic()); what has arrived by then is always read. `tick`, when
        given, is called about every `every` seconds of the wait."""
        waiting = {child.fd: child for child in self._children if not child.done}
        poller = select.poll()
        for fd in waiting:
            poller.register(fd, select.POLLIN)
        while waiting:
            left = max(until - time.monotonic(), 0.0)
            wait = left if tick is None else min(left, max(every, _TICK_FLOOR_S))
            events = poller.poll(1000 * wait)
            for fd, _ in events:
                if self._read(waiting[fd]):
                    poller.unregister(fd)
                    del waiting[fd]
            if tick is not None:
                tick()
            if not events and left == 0:
                break
        missing = [None] * (len(self.parts) - len(self._children))  # forks that failed
        return [child.result for child in self._children] + missing

    def _read(self, child: _Child) -> bool:
        """Take what `child` has written; True once it has closed its end."""
        chunk = os.read(child.fd, 65536)
        if not chunk:
            child.done = True
            return True
        buffer = child.buffer
        buffer += chunk
        while len(buffer) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(buffer)
            end = _HEADER.size + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[_HEADER.size : end])
            del buffer[:end]
            if kind == b"P":
                (child.seen,) = _PROGRESS.unpack(payload)
            elif kind == b"R":
                child.result = marshal.loads(payload)
        return False

    def close(self) -> None:
        """Kill every child, then reap them (a second Ctrl-C waits until this is done)."""
        with interrupts_blocked():
            for child in self._children:
                os.close(child.fd)
                with suppress(ProcessLookupError):  # (a child not yet reaped is never gone)
                    os.kill(child.pid, signal.SIGKILL)
            left = {child.pid for child in self._children}
            self._children.clear()
            give_up = time.monotonic() + _REAP_S
            while left and time.monotonic() < give_up:
                for pid in list(left):
                    try:
                        reaped, _ = os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:  # reaped elsewhere, or SIGCHLD ignored
                        reaped = pid
                    if reaped:
                        left.discard(pid)
                if left:
                    time.sleep(0.005)


@contextmanager
def forked(
    parts: Sequence[Part],
    work: Callable[[Part, Callable[[int], None] | None], Result],
    *,
    report: bool,
) -> Iterator[Children[Part, Result]]:
    """Fork a child for each of `parts`, which returns `work(part, progress)` (a value
    `marshal` can send); `progress` (a count) is None unless `report`. Leaving the block kills
    and reaps whatever still runs."""
    children: Children[Part, Result] = Children(parts)
    try:
        for part in parts:
            with interrupts_blocked():
                try:
                    read_end, write_end = os.pipe()
                except OSError:  # out of file descriptors: the caller does these parts itself
                    break
                try:
                    pid = os.fork()
                except OSError:  # out of processes, or of memory
                    os.close(read_end)
                    os.close(write_end)
                    break
                if pid == 0:  # pragma: no cover - runs in the child, which never returns
                    try:
                        _child(write_end, part, work, report)
                    finally:
                        os._exit(1)
                os.close(write_end)
                children._children.append(_Child(pid, read_end))
        yield children
    finally:
        # Until `close` holds the interrupts, a second Ctrl-C could cut it short: do it again,
        # then pass that interrupt on.
        again: KeyboardInterrupt | None = None
        while True:
            try:
                children.close()
                break
            except KeyboardInterrupt as exc:
                again = exc
        if again is not None:
            raise again


def _child(
    write_end: int,
    part: Part,
    work: Callable[[Part, Callable[[int], None] | None], Any],
    report: bool,
) -> None:  # pragma: no cover - runs in the child
    # Files this process inherited may still belong to objects here (a file in uncollected
    # garbage, say): a collection would close one by its number, which the walk may have
    # reused by then. No collection, then, and none of those numbers freed.
    gc.disable()
    for signum in INTERRUPTS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # (one the user ignores stays so)
            signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS)
    _let_go_of_inherited_files(write_end)

    def send(kind: bytes, payload: bytes) -> None:
        data = _HEADER.pack(kind, len(payload)) + payload
        while data:
            data = data[os.write(write_end, data) :]

    def progress(seen: int) -> None:
        send(b"P", _PROGRESS.pack(seen))

    send(b"R", marshal.dumps(work(part, progress if report else None)))
    os._exit(0)


def _let_go_of_inherited_files(keep: int) -> None:  # pragma: no cover - runs in the child
    """Point every inherited descriptor but `keep` at /dev/null: the parent's files stay the
    parent's (its lock, its sockets, its stdout, which a pipe reader waits on, the other
    children's pipes), and their numbers stay taken."""
    try:
        inherited = [int(name) for name in os.listdir("/proc/self/fd")]
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:  # no /proc: they are let go when this child ends, soon
        return
    for fd in inherited:
        if fd not in (keep, null):
            with suppress(OSError):  # (one that cannot be replaced is left as it is)
                os.dup2(null, fd)
