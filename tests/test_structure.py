"""The shape of a run: each value built once. A re-run reads each of the stack's compose files
once and `.env` at most twice (to plan, and under the lock to see that nothing changed), counted
in the wizard's own process by an audit hook on `open`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from helpers import REPO, clean_env, read_env, run_wizard

STACK = REPO / "tests" / "stack" / "docker-compose.yml"

# Runs the real CLI in this child process, with every open() of a file in the project counted.
COUNTING_RUN = """\
import json, os, sys
project = os.path.realpath(sys.argv[1])
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if os.path.dirname(os.path.realpath(path)) == project:
            opened.append(os.path.basename(path))
sys.addaudithook(hook)
from wizard.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "opened": opened}))
"""


def counted_run(project: Path, *args: str) -> tuple[int, Counter[str]]:
    """`wizard ARGS` in `project`: (its exit code, how often each file of `project` was opened)."""
    run = subprocess.run(
        [sys.executable, "-c", COUNTING_RUN, str(project), *args],
        cwd=project,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    return report["code"], Counter(report["opened"])


def configured_stack(tmp_path: Path) -> tuple[Path, list[str]]:
    """A directory holding the stack's compose file, set up once: (it, setup's flags)."""
    project = tmp_path / "semantik"
    project.mkdir()
    shutil.copy(STACK, project / "docker-compose.yml")
    (project / "docs").mkdir()
    flags = ["setup", "--non-interactive", "--skip-db-check", "--skip-port-check"]
    first = run_wizard([*flags, "--doc-dir", "docs"], cwd=project)
    assert first.returncode == 0, first.stderr
    return project, flags


def test_rerun_reads_each_compose_file_once_and_env_at_most_twice(tmp_path: Path) -> None:
    project, flags = configured_stack(tmp_path)

    code, opened = counted_run(project, *flags, "--log-level", "DEBUG")

    assert code == 0

    assert opened["docker-compose.yml"] == 1, opened
    assert opened["docker-compose.override.yml"] <= 2, opened  # read, then written
    env_reads = opened[".env"]
    assert 1 <= env_reads <= 2, opened
    # And the run did what it was asked: the change is on disk.
    assert read_env(project)["LOG_LEVEL"] == "DEBUG"


def test_check_reads_each_compose_file_once(tmp_path: Path) -> None:
    project, _ = configured_stack(tmp_path)

    _, opened = counted_run(project, "check", "--json", "--db-timeout", "2")

    assert opened["docker-compose.yml"] == 1, opened
    assert opened[".env"] == 1, opened
