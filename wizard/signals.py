"""Ctrl-C and SIGTERM, one way: the handler, installed by the process entry before anything else
is imported (so this module imports nothing of the wizard) and again by the CLI.

Python drops an exception raised where none can propagate (a weak-reference callback of the
import machinery, a `__del__`) and prints "Exception ignored" instead: an interrupt landing
there would be lost, and the run would go on as if no signal had come. `redeliver_dropped`
makes such an interrupt come again a millisecond later, from a timer (SIGALRM), to land at the
next step where it can end the run. Not by sending the signal again: `os.kill` runs the handler
before it returns, inside the hook, where the interrupt is dropped once more. Only while every
interrupt so far was dropped: once one has propagated, the run is ending already, and one more
would only cut its clean-up short.

Python runs a handler in the main thread whichever thread the signal reached, so blocking a
signal in the main thread does not hold it while another thread runs. A block that must not be
cut in two (`held`) therefore defers the interrupt in the handler itself; and the threads that
may outlive a step are started with INTERRUPTS blocked (`interrupts_blocked`), so that a signal
reaches the main thread and, once it blocks them as the process ends, waits there.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

REDELIVER_AFTER_S = 0.001
# What ends a run: Ctrl-C, SIGTERM, and the timer that redelivers a dropped one.
INTERRUPTS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGALRM})


class _Run:
    over = False  # set by whoever ends the process: its exit code is decided
    raised = 0  # interrupts raised ...
    dropped = 0  # ... and those of them Python dropped
    holding = 0  # `held` blocks entered and not yet left
    deferred = False  # an interrupt came during one


RUN = _Run()
_hook_code: object = None


def interrupt(signum: int, frame: FrameType | None) -> None:
    if RUN.over:
        return
    if RUN.holding:
        RUN.deferred = True
        return
    RUN.raised += 1
    if frame is not None and frame.f_code is _hook_code:
        # Due as the hook runs (a second interrupt): raised there, it would be dropped with the
        # first and nothing would bring either back. Counted as dropped, it keeps the counts
        # even, and the hook's timer (started, or about to be) brings it.
        RUN.dropped += 1
        return
    raise KeyboardInterrupt


def _redelivered(signum: int, frame: FrameType | None) -> None:
    if RUN.dropped >= RUN.raised:  # (else one raised since has propagated, or is on its way)
        interrupt(signum, frame)


def take_interrupts() -> Callable[[], None]:
    """Have SIGINT and SIGTERM raise KeyboardInterrupt through `interrupt` (one the user chose
    to ignore stays ignored; off the main thread, signals belong to whoever runs us). Returns
    what puts the previous handlers back."""
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        before = signal.getsignal(signum)
        if before is signal.SIG_IGN:
            continue
        try:
            signal.signal(signum, interrupt)
        except ValueError:
            break
        previous[signum] = signal.SIG_DFL if before is None else before

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def redeliver_dropped() -> None:
    """Install a `sys.unraisablehook` that has a dropped interrupt raised again, where it can
    propagate. Whoever ends the process blocks all of INTERRUPTS: a redelivery still due then
    would end it with the timer's default action."""
    global _hook_code
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        # Only C calls in here: a handler due runs after each, in this frame, where `interrupt`
        # knows not to raise.
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)
            return
        RUN.dropped += 1
        if RUN.dropped >= RUN.raised and not RUN.over:
            signal.signal(signal.SIGALRM, _redelivered)
            signal.setitimer(signal.ITIMER_REAL, REDELIVER_AFTER_S)

    _hook_code = hook.__code__
    sys.unraisablehook = hook


@contextmanager
def held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends, then end the run as usual. The block must be
    bounded (here: by a database timeout, or one file write)."""
    RUN.holding += 1
    try:
        yield
    finally:
        RUN.holding -= 1
        if not RUN.holding and RUN.deferred:
            RUN.deferred = False
            RUN.raised += 1
            raise KeyboardInterrupt


@contextmanager
def interrupts_blocked() -> Iterator[None]:
    """INTERRUPTS blocked in this thread for the block, then delivered. What starts in it inherits
    them blocked: a forked child, or a thread, which then never takes one (so that they reach the
    main thread); a program such a thread runs would keep them blocked too (exec keeps the mask),
    so it must run none. A handler already due runs inside the first call (Python checks for
    signals there), before anything has changed."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def hold_interrupts() -> None:
    """Block INTERRUPTS for the rest of the process. The caller sets `RUN.over` first, in its own
    frame: Python runs a handler that is already due at the entry of the next function called
    (this one), where it must find the run over rather than raise into the caller's clean-up."""
    RUN.over = True
    with suppress(ValueError, OSError):  # (no such mask here: nothing to hold)
        signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
