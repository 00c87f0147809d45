"""What a command gives back: its --json object, what stdout shows people, its closing messages.

Commands build a Result and return it; `ui.console.render` is the one place that prints it:
with --json the object is the one thing on stdout and the table is not printed (for check and
show, only errors reach stderr: their warnings go into the object as `warnings`); without, the
table is the command's output on stdout. Messages go to stderr. Progress said while
a command runs (a spinner, a warning before a question) is not part of the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wizard.ui.review import Row


@dataclass(frozen=True)
class ReviewTable:
    rows: Sequence[Row]
    title: str


@dataclass(frozen=True)
class ChecksTable:
    rows: Sequence[tuple[str, str, str]]  # (check, status, detail)
    title: str = "Checks"


@dataclass
class Result:
    data: dict[str, Any]
    table: ReviewTable | ChecksTable | None = None
    # (kind, sentence): kind is "info", "success" or "warn"; shown after the table.
    messages: list[tuple[str, str]] = field(default_factory=list)
    ok: bool = True  # False: a check failed (the CLI's exit 1)

    def say(self, kind: str, text: str) -> None:
        self.messages.append((kind, text))
