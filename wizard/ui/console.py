"""The one place that prints for people: progress and messages on stderr; on stdout only a
command's own output (the tables of `show` and `check`, a list, a generated password or key,
or one --json object).

Nothing printed here ever holds a secret: callers pass masked or redacted text.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from wizard.signals import interrupts_blocked

if TYPE_CHECKING:
    from rich.console import Console

    # Only types here: the message of an interrupt must not need the modules behind them.
    from wizard.result import CheckRow, ListTable, MessageKind, Result, Row

# Each kind of message: its prefix, and its ANSI colour on a terminal.
PREFIXES = {"info": "", "success": "✓ ", "warn": "! ", "problem": "✗ ", "error": "error: "}
ANSI = {"success": "32", "warn": "1;33", "problem": "1;31", "error": "1;31"}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class UI:
    """Messages to stderr, coloured on a terminal. rich is imported only for tables and the
    spinner, so neither a non-interactive run nor the way to the first prompt pays for it."""

    def __init__(self, *, color: bool | None = None) -> None:
        self.terminal = sys.stderr.isatty() if color is None else color
        self._console: Console | None = None
        self._output: Console | None = None

    @property
    def output(self) -> Console:
        """stdout, for a command's own output (`wizard show > f` holds the table)."""
        if self._output is None:
            from rich.console import Console

            self._output = Console(
                highlight=False, no_color=not sys.stdout.isatty(), soft_wrap=False
            )
        return self._output

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
        indent = " " * len(PREFIXES[kind])
        lines = [
            (prefix if number == 0 else indent)
            + (self._ansi(line, ANSI["warn"]) if kind == "warn" else line)
            for number, line in enumerate(self._folded(message, len(indent)))
        ]
        self._plain("\n".join(lines))

    def _folded(self, message: str, indent: int) -> list[str]:
        """At a terminal, `message` in lines that end between words and fit its width (a word
        longer than that stands alone): the terminal itself would cut mid-word. Elsewhere (a
        log, a pipe) one line, whole."""
        width = self.width()
        if width is None:
            return [message]
        import textwrap

        return [
            line
            for paragraph in message.splitlines() or [""]
            for line in textwrap.wrap(
                paragraph,
                max(width - indent, 20),
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [""]
        ]

    def width(self) -> int | None:
        """Columns of the terminal stderr shows on (COLUMNS first, as rich reads it); None
        when stderr is no terminal."""
        if not self.terminal:
            return None
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        try:
            return os.get_terminal_size(sys.stderr.fileno()).columns
        except (OSError, ValueError):
            return None

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
        if not self.terminal:
            yield
            return
        spinner = self.console.status(message)
        try:
            with interrupts_blocked():  # (rich's refresh thread)
                spinner.start()
            yield
        finally:
            spinner.stop()

    @contextmanager
    def counting(self, message: str, unit: str = "files") -> Iterator[Callable[[int], None]]:
        """A spinner with a live count for a long walk: yields the callback that takes the count
        (`documents.preview(..., progress=...)`); each call redraws the line, which is cleared at
        the end. Off a terminal the callback does nothing and nothing is printed. Plain ANSI, not
        rich: it may run on the way to a prompt."""
        if not self.terminal:
            yield _ignore
            return
        turn = 0

        def show(count: int) -> None:
            nonlocal turn
            frame = self._ansi(SPINNER[turn % len(SPINNER)], "36")
            turn += 1
            sys.stderr.write(f"\r\x1b[K{frame} {message} ({count:,} {unit})")
            sys.stderr.flush()

        sys.stderr.write(f"\r\x1b[K{self._ansi(SPINNER[0], '36')} {message}")
        sys.stderr.flush()
        try:
            yield show
        finally:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()

    def review_table(
        self, rows: Sequence[Row], title: str = "Review", *, output: bool = False
    ) -> None:
        """The review table; on stdout with `output` (a command's result), else on stderr."""
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("Setting", style="bold")
        # Folded, not cut with an ellipsis: a document directory must be readable in full.
        table.add_column("Value", overflow="fold")
        table.add_column("From", style="dim")
        marked = any(row.changed for row in rows)  # never on a first install: nothing was there
        if marked:
            table.add_column("Changed", style="yellow")
        for row in rows:
            mark = ["yes" if row.changed else ""] if marked else []
            table.add_row(row.setting, Text(row.value), row.source, *mark)
        (self.output if output else self.console).print(table)

    def diff(self, text: str) -> None:
        codes = {"+": "32", "-": "31", "@": "36"}
        for line in text.splitlines():
            code = "1" if line.startswith(("+++", "---")) else codes.get(line[:1], "")
            self._plain(self._ansi(line, code) if code else line)

    def checks(self, results: Sequence[CheckRow], title: str = "Checks") -> None:
        """The rows of a check, on stdout: the command's own output."""
        from rich.table import Table
        from rich.text import Text

        styles = {"ok": "green", "warn": "yellow", "fail": "red bold", "skip": "dim"}
        table = Table(title=title, title_justify="left")
        table.add_column("Check", style="bold")
        table.add_column("Result")
        table.add_column("Detail")
        for row in results:
            status = row.status.value
            table.add_row(row.name, Text(status, style=styles.get(status, "")), Text(row.detail))
        self.output.print(table)

    def listing(self, listing: ListTable) -> None:
        """A command's listing (users, keys), on stdout."""
        from rich.table import Table
        from rich.text import Text

        table = Table(title=listing.title or None, title_justify="left")
        for column in listing.columns:
            table.add_column(column, overflow="fold")
        for row in listing.rows:
            table.add_row(*(Text(cell) for cell in row))
        self.output.print(table)

    def say(self, kind: MessageKind, message: str) -> None:
        """A message of `kind` (wizard.result.MessageKind) on stderr."""
        self._message(kind.value, message)


def _ignore(count: int) -> None:
    pass


def print_text(text: str) -> None:
    """One line of a command's own output, on stdout (where `$(...)` and pipes take it)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def render(
    result: Result, json_output: bool, ui: UI | None = None, *, only_errors: bool = False
) -> None:
    """The one place a command's result is printed (wizard/result.py says where each part goes).
    With --json the object stands for the table: no table is printed, and the messages go to
    stderr (the run's log); with `only_errors` (check, show) only errors do, and the warnings
    go into the object as `warnings`."""
    from wizard.result import ChecksTable, ListTable, MessageKind, ReviewTable

    ui = ui or UI()
    messages, table = result.messages, result.table
    if json_output:
        data, messages = result.data, result.messages
        if only_errors:
            warnings = [text for kind, text in messages if kind is MessageKind.WARN]
            data = {**data, "warnings": warnings} if warnings else data
            messages = [(kind, text) for kind, text in messages if kind is MessageKind.PROBLEM]
        print_json(data)
        for kind, text in messages:
            ui.say(kind, text)
        return
    table = result.table
    if isinstance(table, ReviewTable):
        ui.review_table(table.rows, title=table.title, output=True)
    elif isinstance(table, ChecksTable):
        ui.checks(table.rows, title=table.title)
    elif isinstance(table, ListTable):
        ui.listing(table)
    for line in result.output:
        print_text(line)
    for kind, text in result.messages:
        ui.say(kind, text)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
