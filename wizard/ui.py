"""The one place that prints for people. Everything goes to stderr: stdout carries only --json.

Nothing printed here ever holds a secret: callers pass masked or redacted text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from wizard.review import Row


class UI:
    def __init__(self, *, color: bool | None = None) -> None:
        self.console = Console(
            stderr=True, highlight=False, no_color=color is False, soft_wrap=False
        )

    def step_header(self, number: int, total: int, title: str) -> None:
        self.console.print()
        line = Text.assemble((f"Step {number} of {total}", "bold"), "  ", (title, "bold cyan"))
        self.console.print(line)
        # A bare ProgressBar ends without a newline (it is meant for table cells), so the next
        # line, or a prompt drawn over it, would start on the bar's line: a grid row ends it.
        bar = Table.grid()
        bar.add_row(ProgressBar(total=total, completed=number, width=40))
        self.console.print(bar)

    def _line(self, text: Text) -> None:
        # Messages are never wrapped: a path or a command must stay copyable.
        self.console.print(text, soft_wrap=True)

    def info(self, message: str) -> None:
        self._line(Text(message))

    def success(self, message: str) -> None:
        self._line(Text("✓ ", style="green") + Text(message))

    def warn(self, message: str) -> None:
        self._line(Text("! ", style="yellow bold") + Text(message, style="yellow"))

    def problem(self, message: str) -> None:
        self._line(Text("✗ ", style="red bold") + Text(message))

    def problems(self, messages: Sequence[str]) -> None:
        for message in messages:
            self._line(Text("error: ", style="red bold") + Text(message))

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        if self.console.is_terminal:
            with self.console.status(message):
                yield
        else:
            yield

    def review_table(self, rows: Sequence[Row], title: str = "Review") -> None:
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
        styles = {"+": "green", "-": "red", "@": "cyan"}
        for line in text.splitlines():
            style = "bold" if line.startswith(("+++", "---")) else styles.get(line[:1], "")
            self._line(Text(line, style=style))

    def checks(self, results: Sequence[tuple[str, str, str]], title: str = "Checks") -> None:
        """(check, status, detail) rows; status is ok / warn / fail / skip."""
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
