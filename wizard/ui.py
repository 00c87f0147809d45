"""The one place that prints for people. Everything goes to stderr: stdout carries only --json.

Nothing printed here ever holds a secret: callers pass masked or redacted text.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    # Only a type here: the message of an interrupt must not need the modules behind it.
    from wizard.review import Row

# Each kind of message: its prefix, and its ANSI colour on a terminal.
PREFIXES = {"info": "", "success": "✓ ", "warn": "! ", "problem": "✗ ", "error": "error: "}
ANSI = {"success": "32", "warn": "1;33", "problem": "1;31", "error": "1;31"}


class UI:
    """Messages to stderr, coloured on a terminal. rich is imported only for tables and the
    spinner, so neither a non-interactive run nor the way to the first prompt pays for it."""

    def __init__(self, *, color: bool | None = None) -> None:
        self.terminal = sys.stderr.isatty() if color is None else color
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                stderr=True, highlight=False, no_color=not self.terminal, soft_wrap=False
            )
        return self._console

    def step_header(self, number: int, total: int, title: str) -> None:
        # Plain ANSI rather than rich: this is on the way to the first prompt, and importing
        # rich there costs more than the whole header.
        width = 40
        done = round(width * number / total)
        bar = self._ansi("━" * done, "36") + self._ansi("━" * (width - done), "2")
        heading = self._ansi(f"Step {number} of {total}", "1") + "  " + self._ansi(title, "1;36")
        self._plain(f"\n{heading}\n{bar}")

    def _ansi(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    @property
    def colour(self) -> bool:
        return self.terminal and not os.environ.get("NO_COLOR")

    def _plain(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _message(self, kind: str, message: str) -> None:
        prefix = self._ansi(PREFIXES[kind], ANSI[kind]) if PREFIXES[kind] else ""
        text = self._ansi(message, ANSI["warn"]) if kind == "warn" else message
        self._plain(prefix + text)

    def info(self, message: str) -> None:
        self._message("info", message)

    def success(self, message: str) -> None:
        self._message("success", message)

    def warn(self, message: str) -> None:
        self._message("warn", message)

    def problem(self, message: str) -> None:
        self._message("problem", message)

    def problems(self, messages: Sequence[str]) -> None:
        for message in messages:
            self._message("error", message)

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        if self.terminal:
            with self.console.status(message):
                yield
        else:
            yield

    def review_table(self, rows: Sequence[Row], title: str = "Review") -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("Setting", style="bold")
        # Folded, not cut with an ellipsis: a document directory must be readable in full.
        table.add_column("Value", overflow="fold")
        table.add_column("From", style="dim")
        table.add_column("", style="yellow")
        for row in rows:
            table.add_row(
                row.setting, Text(row.value), row.source, "changed" if row.changed else ""
            )
        self.console.print(table)

    def diff(self, text: str) -> None:
        codes = {"+": "32", "-": "31", "@": "36"}
        for line in text.splitlines():
            code = "1" if line.startswith(("+++", "---")) else codes.get(line[:1], "")
            self._plain(self._ansi(line, code) if code else line)

    def checks(self, results: Sequence[tuple[str, str, str]], title: str = "Checks") -> None:
        """(check, status, detail) rows; status is ok / warn / fail / skip."""
        from rich.table import Table
        from rich.text import Text

        styles = {"ok": "green", "warn": "yellow", "fail": "red bold", "skip": "dim"}
        table = Table(title=title, title_justify="left")
        table.add_column("Check", style="bold")
        table.add_column("Result")
        table.add_column("Detail")
        for name, status, detail in results:
            table.add_row(name, Text(status, style=styles.get(status, "")), Text(detail))
        self.console.print(table)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
