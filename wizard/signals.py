"""SIGTERM taken as Ctrl-C: the one handler, installed by the process entry before anything else
is imported (so this module imports nothing of the wizard) and again by the CLI.

Python drops an exception raised where none can propagate (a weak-reference callback of the
import machinery, a `__del__`) and prints "Exception ignored" instead: an interrupt landing
there would be lost, and the run would go on as if no signal had come. `redeliver_dropped`
makes such an interrupt come again a millisecond later, from a timer (SIGALRM), to land at the
next step where it can end the run. Not by sending the signal again: `os.kill` runs the handler
before it returns, inside the hook, where the interrupt is dropped once more. Only while every
interrupt so far was dropped: once one has propagated, the run is ending already, and one more
would only cut its clean-up short.
"""

from __future__ import annotations

import signal
import sys
from contextlib import suppress
from typing import Any

REDELIVER_AFTER_S = 0.001
# What ends a run: Ctrl-C, SIGTERM, and the timer that redelivers a dropped one. A block that must
# not be cut in two holds all three.
INTERRUPTS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGALRM})

_raised = 0
_dropped = 0


class _Run:
    over = False  # set by whoever ends the process: its exit code is decided


RUN = _Run()


def interrupt(signum: int, frame: object) -> None:
    global _raised
    if RUN.over:
        return
    _raised += 1
    raise KeyboardInterrupt


def _redelivered(signum: int, frame: object) -> None:
    if _dropped >= _raised:  # (else one raised since has propagated, or is still on its way)
        interrupt(signum, frame)


def redeliver_dropped() -> None:
    """Install a `sys.unraisablehook` that has a dropped interrupt raised again, where it can
    propagate. Whoever ends the process blocks all of INTERRUPTS: a redelivery still due then
    would end it with the timer's default action."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        global _dropped
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)
            return
        _dropped += 1
        while _dropped >= _raised:
            try:
                signal.signal(signal.SIGALRM, _redelivered)
                signal.setitimer(signal.ITIMER_REAL, REDELIVER_AFTER_S)
                return
            except KeyboardInterrupt:  # a second one landed in here: dropped too
                _dropped += 1
            except ValueError:  # not the main thread, where no signal handler raises anyway
                previous(unraisable)
                return

    sys.unraisablehook = hook


def hold_interrupts() -> None:
    """Block INTERRUPTS for the rest of the process. The caller sets `RUN.over` first, in its own
    frame: Python runs a handler that is already due at the entry of the next function called
    (this one), where it must find the run over rather than raise into the caller's clean-up."""
    RUN.over = True
    with suppress(ValueError, OSError):  # (no such mask here: nothing to hold)
        signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
