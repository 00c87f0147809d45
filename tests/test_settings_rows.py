"""A plain setting is one row of wizard/config/settings.py: everything else is derived from it.

Each run here starts the real wizard in a fresh interpreter that first adds one throwaway row
(`--search-page-size`, kept in .env as SEARCH_PAGE_SIZE), and looks for it where a person would:
the flags and `--help`, a WIZARD_* variable, an answers file, the review (`wizard show`) and .env.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import clean_env, read_env

ADD_ROW = """
import sys
from wizard.config import settings
from wizard.config.model import parse_positive_int

settings.SETTINGS.append(
    settings.Setting(
        key="search_page_size",
        help="Results per search page (default 20).",
        env_key="SEARCH_PAGE_SIZE",
        default="20",
        parse=lambda value, name: parse_positive_int(value, name, maximum=500),
        label="Search page size",
        comment="Results per search page: 1 to 500. Default: 20.",
        question="Results per search page",
    )
)
from wizard.__main__ import main

sys.argv = ["wizard", *sys.argv[1:]]
main()
"""


def wizard(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ADD_ROW, *args],
        cwd=project,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    return tmp_path


def setup(project: Path, *args: str, env: dict[str, str] | None = None) -> None:
    done = wizard(project, "setup", "--non-interactive", "--skip-port-check", *args, env=env)
    assert done.returncode == 0, done.stderr


def test_a_new_row_is_a_flag_with_its_help(project: Path) -> None:
    done = wizard(project, "setup", "--help", env={"COLUMNS": "200"})
    assert "--search-page-size" in done.stdout and "Results per search page" in done.stdout


def test_a_new_row_from_its_flag_reaches_env_with_its_comment_and_the_review(
    project: Path,
) -> None:
    setup(project, "--doc-dir", "docs", "--search-page-size", "50")

    assert read_env(project)["SEARCH_PAGE_SIZE"] == "50"
    text = (project / ".env").read_text()
    assert "# Results per search page: 1 to 500. Default: 20.\nSEARCH_PAGE_SIZE='50'\n" in text
    shown = wizard(project, "show", env={"COLUMNS": "200"})
    [line] = [line for line in shown.stdout.splitlines() if "Search page size" in line]
    assert "50" in line and "current .env" in line


def test_a_new_row_from_the_environment_and_the_answers_file(project: Path) -> None:
    setup(project, "--doc-dir", "docs", env={"WIZARD_SEARCH_PAGE_SIZE": "30"})
    assert read_env(project)["SEARCH_PAGE_SIZE"] == "30"

    (project / "answers.yaml").write_text("search_page_size: 40\n")
    setup(project, "--answers", "answers.yaml")
    assert read_env(project)["SEARCH_PAGE_SIZE"] == "40"

    setup(project)  # nothing given: the current .env keeps it
    assert read_env(project)["SEARCH_PAGE_SIZE"] == "40"


def test_a_new_rows_rule_refuses_bad_input_naming_its_flag(project: Path) -> None:
    done = wizard(
        project, "setup", "--non-interactive", "--doc-dir", "docs", "--search-page-size", "0"
    )
    assert done.returncode == 2
    assert "--search-page-size: '0' is not valid; use a whole number from 1 to 500" in done.stderr
    assert not (project / ".env").exists()


def test_each_problem_names_its_answer_and_where_it_came_from(tmp_path: Path) -> None:
    # Code decides by these (which problems to report before the first question), never by the
    # wording of the sentence.
    from wizard.config.answers import Answers, Source
    from wizard.config.resolve import build
    from wizard.errors import InputError, Problem

    answers = Answers(
        [
            (Source.FLAG, {"log_level": "LOUD"}),
            (Source.ENV, {"token_expiry_minutes": "0"}),
            (Source.FILE, {"bind_address": "localhost"}),
        ]
    )
    with pytest.raises(InputError) as caught:
        build(answers, cwd=tmp_path)

    found = {p.key: p.source for p in caught.value.problems if isinstance(p, Problem)}
    assert found["log_level"] == "flag"
    assert found["token_expiry_minutes"] == "environment"
    assert found["bind_address"] == "answers file"
    assert found["doc_dir"] is None  # not given at all
