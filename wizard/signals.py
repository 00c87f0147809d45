"""SIGTERM taken as Ctrl-C: the one handler, installed by the process entry before anything else
is imported (so this module imports nothing of the wizard) and again by the CLI.

Python drops an exception raised where none can propagate (a weak-reference callback of the
import machinery, a `__del__`) and prints "Exception ignored" instead: an interrupt landing
there would be lost, and the run would go on as if no signal had come. `redeliver_dropped`
makes such an interrupt be sent again, to land at the next step where it can end the run.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

_last_signal: int | None = None


def interrupt(signum: int, frame: object) -> None:
    global _last_signal
    _last_signal = signum
    raise KeyboardInterrupt


def redeliver_dropped() -> None:
    """Install a `sys.unraisablehook` that sends a dropped interrupt's signal again."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            os.kill(os.getpid(), _last_signal or signal.SIGINT)
            return
        previous(unraisable)

    sys.unraisablehook = hook
