"""Stopping the wizard: SIGTERM at any early moment, Ctrl-D at a prompt.

The real `wizard` console script runs in a subprocess (tests/helpers.py), or in a real terminal
(tmux) where a key must reach it. Whatever moment the signal or the key lands on, the run ends
with exit 130 and one line, never a traceback.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import WIZARD, free_port, run_wizard, silent_listener, snapshot, start_wizard
from keys import PtyTerminal, Terminal, Tmux

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def catches_sigterm(pid: int) -> bool:
    """True once the process has a handler for SIGTERM (Linux: SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    [caught] = [line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")]
    return bool(int(caught, 16) & SIGTERM_BIT)


def test_sigterm_at_random_early_moments_exits_130_with_one_line(tmp_path: Path) -> None:
    """From the moment the wizard can catch SIGTERM at all (before that the interpreter is still
    starting, and the kernel's default action applies), through typer building the command and
    the lazy imports of `check` and `setup`: every moment gives the same clean end."""
    checked, fresh = tmp_path / "checked", tmp_path / "fresh"
    (checked / "docs").mkdir(parents=True)
    (checked / ".env").write_text(
        "POSTGRES_MODE=bundled\nPOSTGRES_DB=docsearch\nPOSTGRES_USER=docsearch\n"
        f"POSTGRES_PASSWORD=sigterm-test-password-0123\nPOSTGRES_HOST_PORT={free_port()}\n"
    )
    (fresh / "docs").mkdir(parents=True)
    (fresh / "compose.yaml").write_text("services:\n  webui:\n    image: example/webui\n")
    rng = random.Random(8)
    deadline = time.monotonic() + 90
    runs = 0
    with silent_listener() as silent:
        # Runs the signal always lands in: a check retrying a closed port for 30 s, and a setup
        # waiting up to 30 s for a server that never answers.
        runs_in = [
            (checked, ["check", "--wait", "30", "--db-timeout", "2"]),
            (fresh, ["setup", "--non-interactive", "--doc-dir", "docs", "--skip-port-check",
             "--postgres-mode", "external", "--postgres-host", "127.0.0.1",
             "--postgres-port", str(silent), "--db-timeout", "30"]),
        ]  # fmt: skip
        while runs < 30 and time.monotonic() < deadline:
            project, command = runs_in[runs % 2]
            before = snapshot(project)
            running = start_wizard(
                command, cwd=project, env={"WIZARD_POSTGRES_PASSWORD": "Sigterm-pw-0123"}
            )
            try:
                while not catches_sigterm(running.pid):
                    assert running.poll() is None, running.communicate()
                    time.sleep(0.0005)
                time.sleep(rng.uniform(0, 0.3))
                running.send_signal(signal.SIGTERM)
                _, err = running.communicate(timeout=30)
            finally:
                running.kill()
            runs += 1
            # What the run said before the signal (a document preview, say) may stand above it.
            lines = [line for line in err.splitlines() if line.startswith("error")]
            assert running.returncode == 130, err
            assert "Traceback" not in err
            assert lines == ["error: interrupted: nothing was written"], err
            assert err.splitlines()[-1] == lines[0], err
            assert snapshot(project) == before
    assert runs >= 10


IN_TMUX = pytest.param(
    "tmux",
    marks=pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (the pty run still ran)"
    ),
)


@pytest.mark.parametrize("kind", ["pty", IN_TMUX])
def test_ctrl_d_at_a_text_prompt_cancels_with_exit_130_and_writes_nothing(
    tmp_path: Path, kind: str
) -> None:
    project = tmp_path / "deploy"
    project.mkdir()
    (tmp_path / "bin").mkdir()  # no nvidia-smi, no docker
    env = {
        "PATH": str(tmp_path / "bin"),
        "HOME": str(tmp_path),
        "SHELL": "/bin/sh",
        "LC_ALL": "C.UTF-8",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    terminal: Terminal = PtyTerminal(env) if kind == "pty" else Tmux(env)
    try:
        terminal.start([str(WIZARD), "setup", "--skip-port-check"], cwd=project)
        for prompt in (
            "? Deployment type",
            "? Models",
            "? PostgreSQL server",
            "? Host port for PostgreSQL",
        ):
            terminal.expect(prompt)
            terminal.press("Enter")
        terminal.expect("? PostgreSQL password")
        terminal.press("Enter")  # generate
        terminal.expect("? Directory with documents to search")
        terminal.press("C-d")  # end of input, at an empty text prompt

        status = terminal.exit_status()
        screen = terminal.screen()
    finally:
        terminal.close()

    assert status == 130, screen
    assert "cancelled: nothing was written" in screen
    assert "Aborted!" not in screen and "Traceback" not in screen
    assert sorted(p.name for p in project.iterdir()) in ([], [".wizard.lock"])


def test_sigterm_at_any_moment_of_a_whole_run_never_exits_143(tmp_path: Path) -> None:
    """Through the end of the run too: after the last line is printed, while Python shuts down,
    a SIGTERM must not find the default action (exit 143). Every run ends 0 (done) or 130."""
    (tmp_path / "template").mkdir()
    (tmp_path / "template" / "docs").mkdir()
    command = ["setup", "--non-interactive", "--doc-dir", "docs", "--skip-port-check"]

    def fresh(name: str) -> Path:
        project = tmp_path / name
        shutil.copytree(tmp_path / "template", project)
        return project

    started = time.monotonic()
    first = start_wizard(command, cwd=fresh("timed"))
    assert first.wait(timeout=60) == 0, first.communicate()
    duration = time.monotonic() - started
    rng = random.Random(9)
    endings: list[int] = []
    for run in range(40):
        running = start_wizard(command, cwd=fresh(f"run{run}"))
        try:
            while not catches_sigterm(running.pid) and running.poll() is None:
                time.sleep(0.0005)
            # Half of the signals aim at the end of the run, where the window is narrow.
            late = run % 2 == 1
            time.sleep(rng.uniform(0.7 * duration, 1.1 * duration) if late else
                       rng.uniform(0, duration))  # fmt: skip
            if running.poll() is None:
                running.send_signal(signal.SIGTERM)
            _, err = running.communicate(timeout=60)
        finally:
            running.kill()
        endings.append(running.returncode)
        assert running.returncode in (0, 130), (running.returncode, err)
        assert "Traceback" not in err
    assert 130 in endings


def test_sigterm_as_a_command_ends_never_exits_143(tmp_path: Path) -> None:
    project = tmp_path / "deploy"
    (project / "docs").mkdir(parents=True)
    made = run_wizard(["setup", "--doc-dir", "docs", "--skip-port-check"], cwd=project)
    assert made.returncode == 0, made.stderr
    rng = random.Random(9)
    codes: list[int] = []
    for _ in range(40):
        running = start_wizard(["show"], cwd=project)
        assert running.stdout is not None
        # `show` prints its table as it ends: the signal then lands as the command returns or
        # while the interpreter shuts down (never in the start-up before the wizard's code).
        first = running.stdout.read(1)
        time.sleep(rng.uniform(0, 0.05))
        running.send_signal(signal.SIGTERM)
        out, err = running.communicate(timeout=30)
        codes.append(running.returncode)
        assert (first + out).strip() and "Traceback" not in err
    assert set(codes) <= {0, 130}, codes  # never killed by the signal (-15, a shell's 143)


def run_snippet(code: str, *args: str) -> tuple[str, str]:
    """(stdout, stderr) of `code` run by this Python in a process of its own, which must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


# An interrupt that lands inside a __del__ (or a weak-reference callback of the import machinery,
# as one did in CI): Python drops the KeyboardInterrupt raised there and prints "Exception ignored".
DROPPED_INTERRUPT = """
import os, signal, sys
from wizard.signals import redeliver_dropped, take_interrupts
if sys.argv[1] == "redelivered":
    redeliver_dropped()
take_interrupts()
class Dropping:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs here, inside __del__
            pass
try:
    Dropping()
    for _ in range(100000):
        pass
    print("went on")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_an_interrupt_python_drops_is_sent_again_and_ends_the_run() -> None:
    assert run_snippet(DROPPED_INTERRUPT, "redelivered") == ("interrupted\n", "")
    # Without it the run goes on, as if no signal had come (what the hook is there for).
    out, err = run_snippet(DROPPED_INTERRUPT, "plain")
    assert out == "went on\n" and "Exception ignored" in err


# Two interrupts due at once inside a __del__: the first is dropped there, the second comes due
# as the hook starts (unblocked in C, where Python checks for no signal in between).
TWO_AT_ONCE = """
import ctypes, os, signal
from wizard.signals import redeliver_dropped, take_interrupts
redeliver_dropped()
take_interrupts()
libc = ctypes.CDLL(None)
class Dropping:
    def __del__(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        both = ctypes.create_string_buffer(128)
        libc.sigemptyset(both)
        libc.sigaddset(both, signal.SIGINT)
        libc.sigaddset(both, signal.SIGTERM)
        libc.pthread_sigmask(signal.SIG_UNBLOCK, both, None)
try:
    Dropping()
    for _ in range(200000):
        pass
    print("went on")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_two_interrupts_at_once_in_a_dropping_place_still_end_the_run() -> None:
    assert run_snippet(TWO_AT_ONCE) == ("interrupted\n", "")


# An interrupt dropped in a __del__, then Ctrl-C (or SIGTERM) propagating before the redelivery
# is due: the run is ending already, and the redelivery must not cut its clean-up short.
DROPPED_THEN_ANOTHER = """
import os, signal, sys, time
from wizard.signals import redeliver_dropped, take_interrupts
redeliver_dropped()
take_interrupts()
class Dropping:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
try:
    Dropping()
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    print("not interrupted")
except KeyboardInterrupt:
    try:
        end = time.monotonic() + 0.05  # the clean-up, longer than the redelivery's delay
        while time.monotonic() < end:
            pass
        print("clean-up finished")
    except KeyboardInterrupt:
        print("clean-up cut short")
"""


@pytest.mark.parametrize("second", ["SIGINT", "SIGTERM"])
def test_a_dropped_interrupt_is_not_sent_again_once_another_ended_the_run(second: str) -> None:
    assert run_snippet(DROPPED_THEN_ANOTHER, second) == ("clean-up finished\n", "")


# A block that must not be cut in two, while another thread runs (rich's spinner, say): the
# kernel may hand the signal to that thread, and Python still runs the handler in the main one.
HELD_WITH_A_THREAD = """
import os, signal, threading, time
from wizard.signals import held, take_interrupts
take_interrupts()
stop = threading.Event()
threading.Thread(target=lambda: stop.wait(5), daemon=True).start()
step = "before"
try:
    with held():
        step = "first half"
        os.kill(os.getpid(), signal.SIGINT)
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            pass
        step = "second half"
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted after", step)
"""


def test_a_held_block_ends_before_the_interrupt_even_with_another_thread_running() -> None:
    assert run_snippet(HELD_WITH_A_THREAD) == ("interrupted after second half\n", "")
