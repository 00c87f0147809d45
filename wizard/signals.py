"""SIGTERM taken as Ctrl-C: the one handler, installed by the process entry before anything else
is imported (so this module imports nothing of the wizard) and again by the CLI."""

from __future__ import annotations

import os


def interrupt(signum: int, frame: object) -> None:
    """Raise KeyboardInterrupt. Inside the import machinery's weak-reference callbacks an
    exception is printed as "Exception ignored" and dropped, and the run would go on as if no
    signal had come: there the signal is sent again, to land at the next step outside them."""
    code = getattr(frame, "f_code", None)
    if code is not None and code.co_filename.startswith("<frozen importlib"):
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt
