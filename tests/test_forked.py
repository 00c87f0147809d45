"""Work shared with forked children (`wizard.host.forked`), in real processes."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from helpers import children_of

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
        time.sleep(0.5)  # every child has sent its result and ended
        assert children.results(until=time.monotonic() - 1) == [1, 2, 3]


def test_a_child_closes_the_files_it_inherited_but_its_pipe(tmp_path: Path) -> None:
    lock = (tmp_path / "lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)

    def work(part: int, report: Report) -> bool:
        try:
            os.fstat(lock.fileno())
        except OSError:
            return True
        return False

    with forked([1], work, report=False) as children:
        assert children.results(until=time.monotonic() + 30) == [True]
    lock.close()


def test_no_forks_while_other_threads_run() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert workers() == 1
    finally:
        release.set()
        other.join()
