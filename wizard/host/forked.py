"""Share a walk with forked copies of this process, one part of the work each.

The document preview makes a stat() per document; in Python the interpreter's own work per
file costs as much as the system call, and threads would wait on each other for the GIL, so a
large tree is shared with child processes instead (issue 15 item 22: the preview must keep up
with `find -printf %s`, which is C). Each child is a fork of the walk as it stands, with its
part of the directories still to read; it sends back how far it got now and then (for the
spinner) and, at the end, one `marshal`led result, through its own pipe.

Nothing a child does can reach the caller's stack: it ends with `os._exit` whatever happens,
flushes nothing (what the parent had buffered is the parent's to print), and dies of SIGINT and
SIGTERM, which the parent handles (it kills and reaps every child before passing an interrupt
on). A child that fails or does not answer in time gives None, and the caller decides.
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Part = TypeVar("Part")
Result = TypeVar("Result")
# Each frame: one byte (P: progress, R: result), the payload's length, the payload.
_HEADER = struct.Struct(">cI")
_PROGRESS = struct.Struct(">Q")
MAX_WORKERS = 4


def workers() -> int:
    """How many processes a walk may use: the CPUs this process may run on, at most
    MAX_WORKERS; 1 where fork() is not what it is on Linux (macOS forks badly with threads)."""
    if not sys.platform.startswith("linux"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except OSError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


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
        """What the children have reported so far (their counts, summed); never blocks."""
        for child in self._children:
            if not child.done and select.select([child.fd], [], [], 0)[0]:
                self._read(child)
        return sum(child.seen for child in self._children)

    def results(self, until: float) -> list[Result | None]:
        """Each child's result, in order; None for one that failed, or that had not finished
        by `until` (time.monotonic()): it is killed."""
        waiting = {child.fd: child for child in self._children if not child.done}
        while waiting:
            left = until - time.monotonic()
            ready = select.select(list(waiting), [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                break
            for fd in ready:
                if self._read(waiting[fd]):
                    del waiting[fd]
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
        """Kill what is still running and reap every child."""
        for child in self._children:
            os.close(child.fd)
            with suppress(ProcessLookupError):  # (a child not yet reaped is never gone)
                os.kill(child.pid, signal.SIGKILL)
            os.waitpid(child.pid, 0)
        self._children.clear()


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
                _child(read_end, write_end, part, work, report)
            os.close(write_end)
            children._children.append(_Child(pid, read_end))
        yield children
    finally:
        children.close()


def _child(
    read_end: int,
    write_end: int,
    part: Part,
    work: Callable[[Part, Callable[[int], None] | None], Any],
    report: bool,
) -> None:  # pragma: no cover - runs in the child
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(read_end)

        def send(kind: bytes, payload: bytes) -> None:
            data = _HEADER.pack(kind, len(payload)) + payload
            while data:
                data = data[os.write(write_end, data) :]

        def progress(seen: int) -> None:
            send(b"P", _PROGRESS.pack(seen))

        send(b"R", marshal.dumps(work(part, progress if report else None)))
        code = 0
    finally:
        os._exit(code)
