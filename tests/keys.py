"""Keystrokes for prompt tests, and two ways to type them.

`drive` runs a function in-process with every prompt reading a pipe (DESIGN: "Prompts in-process")
and rendering to a captured VT100 screen; a `Terminal` runs the real wizard in a real terminal: a
pseudo-terminal read through a VT100 screen (`PtyTerminal`, pexpect and pyte from PyPI), or tmux
where it is installed (`Tmux`). All wait for text on the screen with a deadline instead of
sleeping.
"""

from __future__ import annotations

import io
import os
import re
import select
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pexpect
import pyte
from prompt_toolkit.application import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.posix_pipe import PosixPipeInput
from prompt_toolkit.input.typeahead import get_typeahead
from prompt_toolkit.output.vt100 import Vt100_Output
from pyte import modes as mo
from pyte.screens import Char, StaticDefaultDict

DOWN = "\x1b[B"
UP = "\x1b[A"
ENTER = "\r"
CTRL_C = "\x03"
CTRL_U = "\x15"  # erase the line: clears a prompt's pre-filled default


def down(times: int) -> str:
    return DOWN * times


def replace(text: str) -> str:
    """Clear the pre-filled answer, type `text`, press Enter."""
    return CTRL_U + text + ENTER


def typed(text: str) -> str:
    return text + ENTER


@dataclass(frozen=True)
class Expect:
    """In a script: wait until the prompts have drawn `text` (after the last Expect's match)."""

    text: str


Step = str | Expect
T = TypeVar("T")

_CURSOR_FORWARD = re.compile(r"\x1b\[(\d*)C")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]")


def screen_text(raw: str) -> str:
    """VT100 output as plain text: cursor-forward moves become spaces, other controls vanish."""
    text = _CURSOR_FORWARD.sub(lambda m: " " * int(m.group(1) or 1), raw)
    return _CONTROL.sub("", text).replace("\r\n", "\n")


class FlowStalled(AssertionError):
    pass


@dataclass
class Driven(Generic[T]):
    result: T
    screen: str  # everything the prompts drew, as plain text


def drive(action: Callable[[], T], *script: Step, timeout: float = 30.0) -> Driven[T]:
    """Run `action` with its prompts reading the keys of `script`.

    Plain strings are typed as soon as the script reaches them (prompt_toolkit keeps type-ahead
    from one prompt to the next); an `Expect` waits for the screen first, for the moments a test
    must see (a validation message shown before the text is corrected). When the flow asks for
    more than the script gives, or ends leaving keys unread, the test fails saying so, rather than
    hanging or passing on a flow that asked fewer questions than the test believes.
    """
    raw = io.StringIO()
    output = Vt100_Output(raw, lambda: Size(rows=40, columns=120), term="xterm", enable_cpr=False)
    done = threading.Event()
    failure: list[str] = []
    unsent: list[str] = []

    def feed(pipe: PosixPipeInput) -> None:
        seen = 0
        for position, step in enumerate(script):
            if isinstance(step, str):
                pipe.send_text(step)
                continue
            deadline = time.monotonic() + timeout
            while True:
                found = screen_text(raw.getvalue()).find(step.text, seen)
                if found >= 0:
                    seen = found + len(step.text)
                    break
                if done.is_set():
                    unsent.extend(s if isinstance(s, str) else repr(s) for s in script[position:])
                    return
                if time.monotonic() > deadline:
                    failure.append(f"the screen never showed {step.text!r}")
                    pipe.close()  # the waiting prompt gets EOFError
                    return
                time.sleep(0.005)
        if not done.wait(timeout):
            failure.append("the flow still waited for input after the whole script was typed")
            pipe.close()

    with create_pipe_input() as pipe, create_app_session(input=pipe, output=output):
        assert isinstance(pipe, PosixPipeInput)
        feeder = threading.Thread(target=feed, args=(pipe,), daemon=True)
        feeder.start()
        try:
            result = action()
        except EOFError:
            raise FlowStalled(_report(failure, raw.getvalue())) from None
        finally:
            done.set()
            feeder.join(timeout)
        left = [press.data for press in get_typeahead(pipe)]
        if select.select([pipe.pipe.read_fd], [], [], 0)[0]:
            left.append(os.read(pipe.pipe.read_fd, 65536).decode("utf-8", "replace"))
        if left or unsent:
            raise AssertionError(
                f"the flow ended with keys left unread: {left + unsent!r}\n"
                + _report([], raw.getvalue())
            )
    return Driven(result, screen_text(raw.getvalue()))


def _report(failure: list[str], raw: str) -> str:
    reason = "; ".join(failure) or "the flow asked for more input than the script gave"
    return f"{reason}. Last prompts drawn:\n{screen_text(raw)[-2000:]}"


# --- a real terminal -----------------------------------------------------------------------------

COLUMNS, LINES = 100, 30
# What a VT100 terminal sends for the keys the tests press, by tmux's names for them.
KEY_BYTES = {"Enter": ENTER, "Down": DOWN, "Up": UP, "C-c": CTRL_C, "C-d": "\x04", "C-u": CTRL_U}


class Terminal(ABC):
    """A real 100x30 terminal running one command, read and typed into as a person does.

    `PtyTerminal` needs nothing from the system; `Tmux` runs the same in tmux, where installed.
    `press` takes key names (Enter, Down, Up, C-c, C-u); `type` types text as it is.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    @abstractmethod
    def start(self, argv: Sequence[str], cwd: Path) -> None: ...

    @abstractmethod
    def screen(self) -> str:
        """Everything the terminal shows and scrolled past, wrapped lines joined."""

    @abstractmethod
    def type(self, text: str) -> None: ...

    @abstractmethod
    def press(self, *keys: str) -> None: ...

    @abstractmethod
    def pid(self) -> int:
        """The process id of the command."""

    @abstractmethod
    def exit_status(self, timeout: float = 10.0) -> int:
        """Wait for the command to end; its exit status."""

    @abstractmethod
    def close(self) -> None:
        """End the command if it still runs, and the terminal."""

    @abstractmethod
    def _wait(self) -> None:
        """Wait a moment for more output."""

    def expect(self, text: str, timeout: float = 10.0) -> str:
        """Wait until `text` shows once more than when last expected; returns the screen."""
        wanted = self._seen.get(text, 0) + 1
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if screen.count(text) >= wanted:
                self._seen[text] = wanted
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal never showed {text!r}; it shows:\n{screen}")
            self._wait()


class _Screen(pyte.Screen):
    """pyte's VT100 screen that also keeps the lines scrolled off its top (a terminal's
    scrollback) and marks the lines it wrapped, so that a wrapped line reads as one."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.scrollback: list[StaticDefaultDict[int, Char]] = []
        self.wrapped: set[int] = set()  # id() of lines continued on the next one

    def draw(self, data: str) -> None:
        for char in data:
            line = self.buffer[self.cursor.y]
            if self.cursor.x == self.columns and mo.DECAWM in self.mode:
                self.wrapped.add(id(line))  # this character goes on at the next line
            elif self.cursor.x == self.columns - 1:
                self.wrapped.discard(id(line))  # the last column is written anew
            super().draw(char)

    def index(self) -> None:
        if self.cursor.y == self.lines - 1 and self.margins is None:
            self.scrollback.append(self.buffer[0])
        super().index()

    def text(self) -> str:
        parts = []
        for line in [*self.scrollback, *(self.buffer[y] for y in range(self.lines))]:
            text = "".join(line[x].data for x in range(self.columns))
            # An erased last column ends the line, whatever was wrapped there before.
            continued = id(line) in self.wrapped and text[-1] != " "
            parts.append(text if continued else text.rstrip() + "\n")
        return "".join(parts)


class PtyTerminal(Terminal):
    """The command in a pseudo-terminal (pexpect), its output drawn on a VT100 screen (pyte)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__()
        self.env = {"TERM": "xterm-256color", **env}
        self._screen = _Screen(COLUMNS, LINES)
        self._stream = pyte.Stream(self._screen)
        self._child: pexpect.spawn | None = None
        self._closed = False

    @property
    def child(self) -> pexpect.spawn:
        assert self._child is not None, "start() first"
        return self._child

    def start(self, argv: Sequence[str], cwd: Path) -> None:
        self._child = pexpect.spawn(
            argv[0],
            list(argv[1:]),
            cwd=str(cwd),
            env=self.env,
            dimensions=(LINES, COLUMNS),
            encoding="utf-8",
            codec_errors="replace",
        )
        # pexpect sleeps 50 ms before each send by default; the tests wait for the prompt.
        self._child.delaybeforesend = None

    def _pump(self, timeout: float) -> bool:
        """Draw what the command writes within `timeout`; whether anything came."""
        if self._closed:
            return False
        try:
            data = self.child.read_nonblocking(65536, timeout)
        except pexpect.TIMEOUT:
            return False
        except pexpect.EOF:
            self._closed = True
            return False
        self._stream.feed(data)
        return True

    def _wait(self) -> None:
        if not self._pump(0.05) and self._closed:
            time.sleep(0.05)

    def screen(self) -> str:
        while self._pump(0):
            pass
        return self._screen.text()

    def type(self, text: str) -> None:
        self.child.send(text)

    def press(self, *keys: str) -> None:
        for key in keys:
            self.child.send(KEY_BYTES[key])

    def pid(self) -> int:
        pid: int = self.child.pid
        return pid

    def exit_status(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while not self._closed or self.child.isalive():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the command did not end; the terminal shows:\n{self.screen()}"
                )
            self._wait()
        if self.child.exitstatus is None:  # killed by a signal, reported as a shell does
            return 128 + int(self.child.signalstatus)
        return int(self.child.exitstatus)

    def close(self) -> None:
        if self._child is not None:
            self._child.close(force=True)


class Tmux(Terminal):
    """One tmux server (its own socket) running one command in a 100x30 terminal."""

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__()
        self.socket = f"wizard-test-{uuid.uuid4().hex[:12]}"
        self.env = dict(env)
        binary = shutil.which("tmux")
        assert binary is not None, "tmux is not installed"
        self.binary = binary

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            [self.binary, "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout

    def start(self, argv: Sequence[str], cwd: Path) -> None:
        # The shell stays (sleep) after the command so its last screen can still be read.
        self._tmux(
            "new-session", "-d", "-x", str(COLUMNS), "-y", str(LINES), "-c", str(cwd),
            f"{shlex.join(argv)}; echo EXIT=$?; exec /bin/sleep 600",
        )  # fmt: skip

    def close(self) -> None:
        subprocess.run(
            [self.binary, "-L", self.socket, "kill-server"],
            env=self.env,
            capture_output=True,
            timeout=10,
        )

    def pid(self) -> int:
        shell = int(self._tmux("list-panes", "-F", "#{pane_pid}").strip())
        [command] = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
        return int(command)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-S", "-")

    def _wait(self) -> None:
        time.sleep(0.03)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-l", text)

    def press(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def exit_status(self, timeout: float = 10.0) -> int:
        match = re.search(r"^EXIT=(\d+)$", self.expect("EXIT=", timeout), re.MULTILINE)
        assert match, self.screen()
        return int(match.group(1))
