"""Document directories that must never be mounted, and directories given one inside another.

The real wizard runs without a terminal in a fresh project directory; nothing may be written
when a directory is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_wizard

SETUP = ["setup", "--non-interactive", "--skip-port-check", "--skip-db-check"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "deploy"
    root.mkdir()
    return root


@pytest.mark.parametrize(
    ("doc_dir", "said"),
    [
        ("/", "/ is the root of the filesystem"),
        ("/proc", "/proc is inside the system tree /proc"),
        ("/etc/ssl", "/etc/ssl is inside the system tree /etc"),
        ("/sys/kernel", "/sys/kernel is inside the system tree /sys"),
        ("/usr", "/usr is a system directory"),
    ],
)
def test_system_directories_are_refused(project: Path, doc_dir: str, said: str) -> None:
    done = run_wizard([*SETUP, "--doc-dir", doc_dir], cwd=project)

    assert done.returncode == 2, done.stderr
    assert f"--doc-dir: {said}; the stack would mount all of it" in done.stderr
    assert "chmod -R" not in done.stderr and "chgrp -R" not in done.stderr
    assert list(project.iterdir()) == []


def test_a_link_to_the_root_is_refused_naming_where_it_leads(project: Path, tmp_path: Path) -> None:
    (tmp_path / "everything").symlink_to("/")

    done = run_wizard([*SETUP, "--doc-dir", str(tmp_path / "everything")], cwd=project)

    assert done.returncode == 2, done.stderr
    assert "(which leads to /) is the root of the filesystem" in done.stderr
    assert list(project.iterdir()) == []


@pytest.mark.parametrize("which", ["the project itself", "its parent"])
def test_a_directory_holding_the_project_and_its_secrets_is_refused(
    project: Path, which: str
) -> None:
    doc_dir = project if which == "the project itself" else project.parent

    done = run_wizard([*SETUP, "--doc-dir", str(doc_dir)], cwd=project)

    assert done.returncode == 2, done.stderr
    assert (
        f"--doc-dir: {doc_dir} holds the project directory {project}, whose .env (every secret)"
    ) in done.stderr
    assert list(project.iterdir()) == []


def test_nested_document_directories_are_warned_about_naming_both(
    project: Path, tmp_path: Path
) -> None:
    outer = tmp_path / "docs"
    inner = outer / "reports"
    inner.mkdir(parents=True)

    done = run_wizard([*SETUP, "--doc-dir", str(outer), "--doc-dir", str(inner)], cwd=project)

    assert done.returncode == 0, done.stderr
    assert f"Document directory {inner} lies inside {outer}" in done.stderr
    checked = run_wizard(["check", "--json"], cwd=project)
    assert f"Document directory {inner} lies inside {outer}" in checked.stdout
