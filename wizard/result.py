"""What every command gives back: its --json object, the table stdout shows people, and its
closing messages. Commands build a Result and return it; `wizard.ui.console.render` is the one
place that prints it: with --json the object is the one thing on stdout (and nothing but errors
goes to stderr); without, the table is the command's output on stdout and the messages go to
stderr. Progress said while a command runs (a spinner, a warning before a question) is not part
of the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class MessageKind(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARN = "warn"
    PROBLEM = "problem"


class Status(StrEnum):
    """A check's verdict: FAIL makes the command exit 1."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Row:
    """A review row: a setting, its value (masked if secret), where it came from."""

    setting: str
    value: str
    source: str
    changed: bool
    # The .env keys behind the row: what decides which services it reaches.
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckRow:
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class ReviewTable:
    rows: Sequence[Row]
    title: str


@dataclass(frozen=True)
class ChecksTable:
    rows: Sequence[CheckRow]
    title: str = "Checks"


@dataclass(frozen=True)
class ListTable:
    """Rows of a listing (`wizard user list`): column headings and one tuple per row."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    title: str = ""


@dataclass
class Result:
    data: dict[str, Any]
    table: ReviewTable | ChecksTable | ListTable | None = None
    # Shown after the table, on stderr.
    messages: list[tuple[MessageKind, str]] = field(default_factory=list)
    ok: bool = True  # False: a check failed (exit 1)
    # Lines printed on stdout without --json (a listing, a generated password, a new API key:
    # what `KEY=$(wizard api-key create ...)` takes).
    output: list[str] = field(default_factory=list)

    def say(self, kind: MessageKind, text: str) -> None:
        self.messages.append((kind, text))
