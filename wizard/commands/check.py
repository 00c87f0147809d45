"""`wizard check`: validate a deployment without changing anything.

The rows come from `wizard.checks` (ok / warn / fail / skip, one line of detail each); the
command exits 1 when any fails. Nothing here prompts or prints, and nothing writes but one
thing: a password rotation a stopped server left unfinished is finished or undone
(wizard.commands.rotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.checks.database import database_rows
from wizard.checks.deployment import (
    env_file_row,
    load_problem_rows,
    missing_keys,
    plan_rows,
    required_keys_row,
    resolve_current,
)
from wizard.checks.docker import docker_row
from wizard.checks.ports import port_rows
from wizard.checks.resources import resources_rows
from wizard.commands.rotation import pending_password, settle_on_disk
from wizard.config.model import PostgresMode
from wizard.errors import InputError
from wizard.files.project import ENV_NAME, load_project
from wizard.plan.model import make_plan
from wizard.result import CheckRow, ChecksTable, Result, Status


@dataclass(frozen=True)
class Report:
    project_dir: Path
    results: tuple[CheckRow, ...]

    @property
    def ok(self) -> bool:
        return all(result.status is not Status.FAIL for result in self.results)

    def result(self) -> Result:
        """The report as a command's Result: as_json, and the table of every check."""
        return Result(self.as_json(), ChecksTable(self.results), ok=self.ok)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "project_dir": str(self.project_dir),
            "checks": [
                {"name": r.name, "status": r.status.value, "detail": r.detail} for r in self.results
            ],
        }


def run_checks(project_dir: Path, *, db_timeout: int = 5, wait_seconds: float = 0.0) -> Report:
    """Every check of the deployment in `project_dir`; reads files and connects, changes nothing.

    A check whose inputs are broken is reported as skipped rather than left out, and the
    database is tried even when other settings are invalid (a short JWT secret says nothing
    about whether PostgreSQL answers).
    """
    rows = _rows(project_dir, db_timeout, wait_seconds)
    return Report(project_dir, tuple(rows))


_FIX_FIRST = "fix the settings above first"


def _rows(project_dir: Path, timeout: int, wait_seconds: float) -> list[CheckRow]:
    if not (project_dir / ENV_NAME).exists():
        env_path = project_dir / ENV_NAME
        return [
            CheckRow(
                ".env", Status.FAIL, f"no {env_path}: run `wizard setup` (or `make wizard`) first"
            )
        ]
    try:
        project = load_project(project_dir)
    except InputError as exc:
        return load_problem_rows(project_dir, exc.problems)
    rows = [env_file_row(project_dir)]
    if pending_password(project.env) is not None:
        # The one thing check writes: a rotation left unfinished must not stay in doubt.
        settled = settle_on_disk(project_dir, timeout, wait_seconds)
        status = Status.FAIL if settled.project is None else Status.OK
        rows.append(CheckRow("password rotation", status, settled.message))
        project = settled.project or project
    missing = missing_keys(project)
    rows.append(required_keys_row(missing))
    resolved = None
    if not missing:
        # Settings built from an incomplete .env would fill the gaps with defaults (or a freshly
        # generated secret) and then judge those: only the database is still worth a try.
        resolved, found = resolve_current(project)
        rows += found
    if resolved is None:
        if not missing:
            rows.append(CheckRow("DATABASE_URL", Status.SKIP, f"not compared: {_FIX_FIRST}"))
            rows.append(CheckRow("ports", Status.SKIP, f"not checked: {_FIX_FIRST}"))
        return rows + database_rows(project, None, timeout, wait_seconds)[0]
    plan = make_plan(project, resolved)
    rows += plan_rows(plan)
    rows.append(docker_row())
    rows += resources_rows(plan)
    # The database is asked first (its rows still come last): a bundled server's port held by a
    # process that answers as this deployment's database is the stack's own port.
    database, probe = database_rows(project, resolved, timeout, wait_seconds)
    bundled = resolved.config.database.mode is PostgresMode.BUNDLED
    rows += port_rows(plan, database_answers=bundled and probe is not None and probe.ok)
    return rows + database
