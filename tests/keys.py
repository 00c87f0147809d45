"""Keystrokes for prompt tests, and two ways to type them.

`drive` runs a function in-process with every prompt reading a pipe (DESIGN: "Prompts in-process")
and rendering to a captured VT100 screen; `Tmux` runs the real wizard in a real terminal. Both wait
for text on the screen with a deadline instead of sleeping.
"""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from prompt_toolkit.application import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.posix_pipe import PosixPipeInput
from prompt_toolkit.input.typeahead import get_typeahead
from prompt_toolkit.output.vt100 import Vt100_Output

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

TMUX = "/usr/bin/tmux"


class Tmux:
    """One tmux server (its own socket) running one command in a 100x30 terminal."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.socket = f"wizard-test-{uuid.uuid4().hex[:12]}"
        self.env = dict(env)
        self._seen: dict[str, int] = {}

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            [TMUX, "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout

    def start(self, command: str, cwd: Path) -> None:
        # The shell stays (sleep) after the command so its last screen can still be read.
        self._tmux(
            "new-session", "-d", "-x", "100", "-y", "30", "-c", str(cwd),
            f"{command}; echo EXIT=$?; exec /bin/sleep 600",
        )  # fmt: skip

    def kill(self) -> None:
        subprocess.run(
            [TMUX, "-L", self.socket, "kill-server"], env=self.env, capture_output=True, timeout=10
        )

    def pane_pid(self) -> int:
        """The process id of the shell running the command (the command is its child)."""
        return int(self._tmux("list-panes", "-F", "#{pane_pid}").strip())

    def screen(self) -> str:
        """Everything the terminal shows and scrolled past, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-")

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-l", text)

    def press(self, *keys: str) -> None:
        """tmux key names: Enter, Down, Up, C-c, C-u."""
        self._tmux("send-keys", *keys)

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
            time.sleep(0.03)

    def exit_status(self, timeout: float = 10.0) -> int:
        match = re.search(r"^EXIT=(\d+)$", self.expect("EXIT=", timeout), re.MULTILINE)
        assert match, self.screen()
        return int(match.group(1))


@contextmanager
def tmux(env: Mapping[str, str]) -> Iterator[Tmux]:
    terminal = Tmux(env)
    try:
        yield terminal
    finally:
        terminal.kill()
