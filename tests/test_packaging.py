"""A non-editable install works from anywhere: the wheel carries the templates and the bundled
PostgreSQL service, and the installed wizard configures a directory outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from dotenv import dotenv_values

REPO = Path(__file__).resolve().parent.parent


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("wizard-*.whl")
    return wheel


def test_wheel_carries_templates_and_postgres_service(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "wizard/_data/templates/env.template" in names
    assert "wizard/_data/templates/stack.yaml" in names
    assert "wizard/_data/docker-compose.postgres.yml" in names


def test_installed_wizard_configures_a_directory_outside_the_checkout(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    project = tmp_path / "deploy"
    (project / "docs").mkdir(parents=True)
    # Only the installed copy and the dependencies are importable: not the checkout.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(site), *deps]),
        "PYTHONSAFEPATH": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, wizard.cli; print(wizard.cli.__file__, file=sys.stderr); "
            "wizard.cli.main()",
            "setup",
            "--non-interactive",
            "--doc-dir",
            "docs",
            "--skip-port-check",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert str(site) in done.stderr  # it ran the installed copy
    assert (project / "docker-compose.postgres.yml").read_text() == (
        REPO / "docker-compose.postgres.yml"
    ).read_text()
    values = dotenv_values(project / ".env", interpolate=False)
    assert values["COMPOSE_FILE"] == "docker-compose.postgres.yml:docker-compose.override.yml"
    assert "# Compose files" in (project / ".env").read_text()  # comments from the template
