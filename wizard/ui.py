"""The one place that prints for people. Everything goes to stderr: stdout carries only --json.

Nothing printed here ever holds a secret: callers pass masked or redacted text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from wizard.review import Row

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# Plain-text prefixes for each kind of message (rich styles them on a terminal).
PREFIXES = {"info": "", "success": "✓ ", "warn": "! ", "problem": "✗ ", "error": "error: "}
STYLES = {"success": "green", "warn": "yellow bold", "problem": "red bold", "error": "red bold"}


class UI:
    """Messages to stderr. Without a terminal (CI, pipes) they are plain lines and rich is not
    even imported: non-interactive runs pay nothing for colours nobody sees."""

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
        if not self.terminal:
            self._plain(f"\nStep {number} of {total}  {title}")
            return
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        self.console.print()
        line = Text.assemble((f"Step {number} of {total}", "bold"), "  ", (title, "bold cyan"))
        self.console.print(line)
        # A bare ProgressBar ends without a newline (it is meant for table cells), so the next
        # line, or a prompt drawn over it, would start on the bar's line: a grid row ends it.
        bar = Table.grid()
        bar.add_row(ProgressBar(total=total, completed=number, width=40))
        self.console.print(bar)

    def _plain(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _message(self, kind: str, message: str) -> None:
        if not self.terminal:
            self._plain(PREFIXES[kind] + message)
            return
        from rich.text import Text

        text = Text(PREFIXES[kind], style=STYLES.get(kind, "")) + Text(
            message, style="yellow" if kind == "warn" else ""
        )
        self._line(text)

    def _line(self, text: Text) -> None:
        # Messages are never wrapped: a path or a command must stay copyable.
        self.console.print(text, soft_wrap=True)

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
        if not self.terminal:
            for line in text.splitlines():
                self._plain(line)
            return
        from rich.text import Text

        styles = {"+": "green", "-": "red", "@": "cyan"}
        for line in text.splitlines():
            style = "bold" if line.startswith(("+++", "---")) else styles.get(line[:1], "")
            self._line(Text(line, style=style))

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
