"""The real `wizard` command in a real terminal: what a person sees and types.

Each test runs the installed console script in a 100x30 terminal of its own, waits for each prompt
to show before typing (as a person does: typed ahead, a terminal in cooked mode would echo the
keys, the password included) and ends the terminal after. Every test runs twice: in a
pseudo-terminal read through a VT100 screen (pexpect and pyte, test dependencies), and in tmux
where tmux is installed (each test its own tmux server on its own socket).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values
from helpers import WIZARD
from keys import PtyTerminal, Terminal, Tmux

PASSWORD = "Tmux pa$$w'rd #${HOME} 1"  # 24 characters, never to be seen on the screen
IN_TMUX = pytest.param(
    "tmux",
    marks=pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (the pty runs still ran)"
    ),
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "deploy"
    root.mkdir()
    return root


@pytest.fixture(params=["pty", IN_TMUX])
def terminal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Terminal]:
    bin_dir = tmp_path / "bin"  # no nvidia-smi, no docker: a host without a GPU
    bin_dir.mkdir()
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "SHELL": "/bin/sh",
        "LC_ALL": "C.UTF-8",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    term = PtyTerminal(env) if request.param == "pty" else Tmux(env)
    try:
        yield term
    finally:
        term.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(terminal: Terminal, project: Path, *flags: str) -> None:
    terminal.start([str(WIZARD), "setup", "--project-dir", str(project), *flags], cwd=project)


class Typed(str):
    """Keys typed as text, as opposed to a key name like Enter."""


def nothing_written(project: Path) -> None:
    names = sorted(p.name for p in project.iterdir())
    assert names in ([], [".wizard.lock"]), names


def test_setup_in_a_real_terminal_through_all_five_steps(
    terminal: Terminal, project: Path, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    (docs / "2024").mkdir(parents=True)
    port = free_port()
    screens: list[str] = []

    def answer(prompt: str, *keys: str) -> None:
        """Wait for `prompt`, then press `keys` (key names; Typed(...) is typed as text)."""
        screens.append(terminal.expect(prompt))
        for key in keys:
            if isinstance(key, Typed):
                terminal.type(key)
            else:
                terminal.press(key)

    start(terminal, project)
    answer("? Deployment type", "Enter")  # CPU: no GPU here
    answer("? Models", "Enter")  # keep
    answer("? PostgreSQL server", "Enter")  # bundled
    answer("? Host port for PostgreSQL", "C-u", Typed(str(port)), "Enter")
    answer("? PostgreSQL password", "Down", "Enter")  # enter my own
    answer("? PostgreSQL password (hidden)", Typed("too-short"), "Enter")
    answer("9 characters is too short; use at least 16", "C-u", Typed(PASSWORD), "Enter")
    answer("? PostgreSQL password again", Typed(PASSWORD), "Enter")
    # The completion menu opens while the path is typed; Enter must still take the path.
    answer("? Directory with documents to search", Typed(f"{docs}/"))
    answer("2024/", "Enter")
    answer("? Document directories", "Enter")  # Done
    answer("? JWT secret", "Enter")  # generate
    answer("? Access-token lifetime in minutes", "C-u", Typed("30"), "Enter")
    answer("? Log level", "Enter")
    answer("? Published ports bind to", "Down", "Enter")  # 0.0.0.0
    answer("0.0.0.0 publishes the web UI")
    answer("? Environment", "Enter")  # production
    answer("? Write this configuration?", "Enter")

    assert terminal.exit_status() == 0
    screen = terminal.screen()
    assert "Wrote .env" in screen
    for seen in [*screens, screen]:
        assert PASSWORD not in seen and "too-short" not in seen
    # Each step's header and bar stand on their own lines; nothing is drawn over them.
    assert [line for line in screen.splitlines() if line.startswith("Step ")] == [
        "Step 1 of 5  Deployment type",
        "Step 2 of 5  PostgreSQL",
        "Step 3 of 5  Document directories",
        "Step 4 of 5  Security",
        "Step 5 of 5  Review",
    ]
    assert any(
        line.startswith("GPU detection: nvidia-smi not found") for line in screen.splitlines()
    )
    # "Next:" will say `wizard up`, which runs `docker compose`: step 1 says whether it can here.
    assert any(
        line.startswith("! Docker: there is no `docker` on PATH") for line in screen.splitlines()
    )

    values = dotenv_values(project / ".env", interpolate=False)
    assert values["POSTGRES_PASSWORD"] == PASSWORD
    assert values["POSTGRES_HOST_PORT"] == str(port)
    assert values["ACCESS_TOKEN_EXPIRE_MINUTES"] == "30"
    assert values["BIND_ADDRESS"] == "0.0.0.0"
    assert values["DOCUMENT_PATHS"] == "/mnt/docs/docs"
    assert (project / ".env").stat().st_mode & 0o777 == 0o600
    assert f"source: {docs}\n" in (project / "docker-compose.override.yml").read_text()


def test_ctrl_c_in_step_2_exits_130_and_writes_nothing(terminal: Terminal, project: Path) -> None:
    start(terminal, project, "--skip-port-check")
    terminal.expect("? Deployment type")
    terminal.press("Enter")
    terminal.expect("? Models")
    terminal.press("Enter")
    terminal.expect("? PostgreSQL server")
    terminal.press("C-c")

    assert terminal.exit_status() == 130
    assert "interrupted: nothing was written" in terminal.screen()
    nothing_written(project)


# (prompt to wait for, keys to press there): the way to each step's first prompt.
TO_STEP_3 = [
    ("? Deployment type", ["Enter"]),
    ("? Models", ["Enter"]),
    ("? PostgreSQL server", ["Enter"]),
    ("? Host port for PostgreSQL", ["Enter"]),
    ("? PostgreSQL password", ["Enter"]),
]
TO_STEP_4 = [
    *TO_STEP_3,
    ("? Directory with documents to search", [Typed("/usr/share"), "Enter"]),
    ("? Document directories", ["Enter"]),
]
TO_STEP_5 = [
    *TO_STEP_4,
    ("? JWT secret", ["Enter"]),
    ("? Access-token lifetime in minutes", ["Enter"]),
    ("? Log level", ["Enter"]),
    ("? Published ports bind to", ["Enter"]),
    ("? Environment", ["Enter"]),
]
CTRL_C_AT = {
    "step 1": ([], "? Deployment type"),
    "step 2 hidden password": (
        [*TO_STEP_3[:4], ("? PostgreSQL password", ["Down", "Enter"])],
        "? PostgreSQL password (hidden)",
    ),
    "step 3": (TO_STEP_3, "? Directory with documents to search"),
    "step 4": (TO_STEP_4, "? JWT secret"),
    "step 5": (TO_STEP_5, "? Write this configuration?"),
}


@pytest.mark.parametrize("where", list(CTRL_C_AT))
def test_ctrl_c_at_every_step_exits_130_and_writes_nothing(
    terminal: Terminal, project: Path, where: str
) -> None:
    path, last = CTRL_C_AT[where]
    start(terminal, project, "--skip-port-check")
    for prompt, keys in path:
        terminal.expect(prompt)
        for key in keys:
            terminal.type(key) if isinstance(key, Typed) else terminal.press(key)
    terminal.expect(last)
    terminal.type("half-typed")  # a select ignores it; a text prompt holds it
    terminal.press("C-c")

    assert terminal.exit_status() == 130
    screen = terminal.screen()
    assert "interrupted: nothing was written" in screen
    assert "Traceback" not in screen
    nothing_written(project)


def test_sigterm_at_a_prompt_exits_130_and_writes_nothing(
    terminal: Terminal, project: Path
) -> None:
    # What a CI timeout or `docker stop` sends: the same clean exit as Ctrl-C.
    start(terminal, project, "--skip-port-check")
    terminal.expect("? Deployment type")
    os.kill(terminal.pid(), signal.SIGTERM)

    assert terminal.exit_status() == 130
    screen = terminal.screen()
    assert "interrupted: nothing was written" in screen
    assert "Traceback" not in screen
    nothing_written(project)


def test_a_refused_hidden_answer_is_cleared_and_its_whole_reason_shown(
    terminal: Terminal, project: Path
) -> None:
    start(terminal, project)
    terminal.expect("? Deployment type")
    terminal.press("Enter")
    terminal.expect("? Models")
    terminal.press("Enter")  # keep the models shown
    terminal.expect("? PostgreSQL server")
    terminal.press("Enter")
    terminal.expect("? Host port for PostgreSQL")
    terminal.press("C-u")
    terminal.type(str(free_port()))
    terminal.press("Enter")
    terminal.expect("? PostgreSQL password")
    terminal.press("Down", "Enter")
    terminal.expect("? PostgreSQL password (hidden)")
    terminal.type("weakweakweakweakweak")  # long enough, too few kinds of characters
    terminal.press("Enter")
    # The reason is longer than the 100 columns: all of it is on the screen, in whole words.
    shown = " ".join(terminal.expect("generate one)").split())
    assert (
        "PostgreSQL password: mixes too few kinds of characters, and the stack's services refuse "
        "to start with it; use three of upper case, lower case, digits and symbols, or 32+ "
        "characters of two (or let the wizard generate one)"
    ) in shown

    # No Ctrl-U: the refused text is gone, so what is typed now is all of the answer.
    terminal.type(PASSWORD)
    terminal.press("Enter")
    terminal.expect("? PostgreSQL password again (hidden)")
    terminal.type(PASSWORD)
    terminal.press("Enter")
    screen = terminal.expect("? Directory with documents to search")

    assert "passwords differ" not in screen
    assert PASSWORD not in screen and "weakweak" not in screen
    terminal.press("C-c")
    assert terminal.exit_status() == 130
    nothing_written(project)
