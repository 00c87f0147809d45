"""The one error hierarchy: each error carries its exit code; `wizard.cli` maps it to the exit.

Exit codes: 0 done; 1 a check or an operation failed (a port taken, the database refused, a
lock held, no such user); 2 invalid or missing input (every problem listed); 130 interrupted
(Ctrl-C, SIGTERM, Ctrl-D at a prompt) or cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    INPUT = 2
    INTERRUPTED = 130


class WizardError(Exception):
    """An error a person can act on: its message is one or more lines, never a traceback.

    `report` is added to the --json failure object (the files a run wrote before it failed).
    """

    exit_code = ExitCode.FAILED

    def __init__(self, message: str = "", report: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report: dict[str, Any] = dict(report or {})

    @property
    def problems(self) -> list[str]:
        return str(self).splitlines()


class Problem(str):
    """One problem sentence (a str, as it is printed) that also says which answer it is about and
    where that answer came from (a Source value: "flag", "environment", ...), so that code can
    decide by those and never by the wording."""

    key: str | None
    source: str | None

    def __new__(cls, text: str, *, key: str | None = None, source: str | None = None) -> Problem:
        problem = super().__new__(cls, text)
        problem.key, problem.source = key, source
        return problem


class InputError(WizardError):
    """Invalid or missing input (exit 2): every problem found, one sentence each."""

    exit_code = ExitCode.INPUT

    def __init__(self, problems: Iterable[str]) -> None:
        listed = list(problems)
        super().__init__("\n".join(listed))
        self._problems = listed

    @property
    def problems(self) -> list[str]:
        return self._problems


class CheckFailed(WizardError):
    """A check failed (exit 1): a taken port, a refused database, a held lock."""


class Interrupted(WizardError):
    """Ctrl-C or SIGTERM after the files were written (exit 130); the message names them.
    Before the write an interrupt stays a KeyboardInterrupt: nothing was written then."""

    exit_code = ExitCode.INTERRUPTED


class Cancelled(WizardError):
    """The person chose to stop; nothing was written (exit 130)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str = "cancelled: nothing was written") -> None:
        super().__init__(message)
