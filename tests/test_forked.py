"""Work shared with forked children (`wizard.host.forked`), in real processes."""

from __future__ import annotations

import fcntl
import gc
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest
from helpers import children_of

from wizard.host import forked as forked_module
from wizard.host.forked import forked, workers

Report = Callable[[int], None] | None


def test_each_child_returns_its_parts_result_in_order() -> None:
    before = children_of(os.getpid())

    def double(part: int, report: Report) -> int:
        return part * 2

    with forked([1, 2, 3], double, report=False) as children:
        assert len(children_of(os.getpid()) - before) == 3
        results = children.results(until=time.monotonic() + 30)

    assert results == [2, 4, 6]
    assert children_of(os.getpid()) == before


def test_a_child_that_fails_or_dies_gives_none_and_the_others_their_results() -> None:
    before = children_of(os.getpid())

    def work(part: str, report: Report) -> str:
        if part == "raise":
            raise RuntimeError("in the child")
        if part == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        return part.upper()

    with forked(["a", "raise", "die", "b"], work, report=False) as children:
        results = children.results(until=time.monotonic() + 30)

    assert results == ["A", None, None, "B"]
    assert children_of(os.getpid()) == before


def test_a_child_late_for_its_deadline_is_killed_and_gives_none() -> None:
    before = children_of(os.getpid())

    def work(part: float, report: Report) -> float:
        time.sleep(part)
        return part

    started = time.monotonic()
    with forked([0.0, 60.0], work, report=False) as children:
        results = children.results(until=time.monotonic() + 2)
    took = time.monotonic() - started

    assert results == [0.0, None]
    assert took < 10  # not the 60 s the late one would have taken
    assert children_of(os.getpid()) == before


def test_progress_sums_what_each_child_last_reported() -> None:
    def work(part: int, report: Report) -> int:
        assert report is not None
        for seen in range(part + 1):
            report(seen)
        return part

    with forked([3, 40], work, report=True) as children:
        assert children.results(until=time.monotonic() + 30) == [3, 40]
        assert children.progress() == 43


def test_no_progress_is_sent_unless_asked_for() -> None:
    def work(part: int, report: Report) -> bool:
        return report is None

    with forked([1], work, report=False) as children:
        assert children.results(until=time.monotonic() + 30) == [True]
        assert children.progress() == 0


def test_an_interrupt_in_the_parent_kills_and_reaps_every_child() -> None:
    before = children_of(os.getpid())

    def work(part: int, report: Report) -> int:
        time.sleep(60)
        return part

    started = time.monotonic()
    try:
        with forked([1, 2], work, report=False):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert time.monotonic() - started < 10
    assert children_of(os.getpid()) == before


def test_results_already_sent_are_taken_even_past_the_deadline() -> None:
    def work(part: int, report: Report) -> int:
        return part

    with forked([1, 2, 3], work, report=False) as children:
        for pid in children_of(os.getpid()):  # each has sent its result and ended (not reaped)
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        assert children.results(until=time.monotonic() - 1) == [1, 2, 3]


def test_a_child_does_not_hold_what_the_parent_lets_go_of(tmp_path: Path) -> None:
    # The project's lock, say: once the wizard lets go of it, another wizard may take it.
    lock = (tmp_path / "lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    ready, done = tmp_path / "ready", tmp_path / "done"

    def work(part: int, report: Report) -> bool:
        ready.touch()
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return True

    with forked([1], work, report=False) as children:
        while not ready.exists():
            time.sleep(0.01)
        lock.close()
        with (tmp_path / "lock").open("w") as other:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        done.touch()
        assert children.results(until=time.monotonic() + 30) == [True]


def test_no_forks_while_other_threads_run() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert workers() == 1
    finally:
        release.set()
        other.join()


def test_a_second_interrupt_as_the_clean_up_starts_still_kills_and_reaps_every_child() -> None:
    # A second Ctrl-C can land as `close` starts, before it holds the interrupts; here it is
    # raised exactly there, once, by a trace function (as a signal handler raises it).
    before = children_of(os.getpid())

    def work(part: int, report: Report) -> int:
        time.sleep(60)
        return part

    landed = []

    def second_interrupt(frame: FrameType, event: str, arg: object) -> None:
        code = frame.f_code
        if (code.co_filename, code.co_name) == (forked_module.__file__, "close") and not landed:
            landed.append(event)
            raise KeyboardInterrupt

    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt), forked([1, 2], work, report=False):
            sys.settrace(second_interrupt)
            raise KeyboardInterrupt
    finally:
        sys.settrace(None)
    assert landed
    assert time.monotonic() - started < 10
    assert children_of(os.getpid()) == before


def test_a_collection_in_a_child_cannot_close_a_file_it_opened(tmp_path: Path) -> None:
    # A file object in cyclic garbage owns a descriptor the child inherited; collected in the
    # child, it closes that number, which must not have been handed out again meanwhile.
    gc.disable()
    try:
        owned = open(tmp_path / "owned", "w")  # noqa: SIM115
        number = owned.fileno()
        garbage: list[object] = [owned, None]
        garbage[1] = garbage
        del garbage, owned

        def work(part: int, report: Report) -> bool:
            # Enough opens to be handed `number`, were it free.
            opened = [os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY) for _ in range(number + 1)]
            gc.collect()
            return all(stat.S_ISDIR(os.fstat(fd).st_mode) for fd in opened)

        with forked([1], work, report=False) as children:
            assert children.results(until=time.monotonic() + 30) == [True]
    finally:
        gc.enable()
        gc.collect()
