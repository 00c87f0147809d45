"""The database: connect as the app's user (waiting for it with `wait_seconds`), then the
accounts' rows (schema, administrator) over the same target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wizard.config.model import PostgresMode
from wizard.config.resolve import Resolved
from wizard.files.project import Project
from wizard.host.targets import target_for, target_for_env
from wizard.result import CheckRow, Status

if TYPE_CHECKING:
    from wizard.host.db_values import DbCheck, DbTarget


def database_rows(
    project: Project, resolved: Resolved | None, timeout: int, wait_seconds: float
) -> tuple[list[CheckRow], DbCheck | None]:
    """The database's rows, and what the probe found (None when .env cannot say where it is).
    Without valid settings (`resolved` None) the target is read straight from .env."""
    from wizard.host.database import check_database, wait_for_database

    mode = project.env.get("POSTGRES_MODE", "")
    label = "database (bundled)" if mode == PostgresMode.BUNDLED.value else "database"
    if resolved is not None:
        target: DbTarget | None = target_for(resolved.config)
        reason = ""
    else:
        target, reason = target_for_env(project.env)
    if target is None:
        return [CheckRow(label, Status.SKIP, f"not checked: {reason}")], None
    if wait_seconds > 0:
        result = wait_for_database(target, timeout, wait_seconds)
    else:
        result = check_database(target, timeout)
    if not result.ok:
        return [CheckRow(label, Status.FAIL, result.message)], result
    from wizard.accounts.operations import check_rows

    rows = [
        CheckRow(label, Status.OK, f"{target.where}: PostgreSQL {result.server_version}, "
                 "can create tables"),
        *(CheckRow(name, Status(status), detail) for name, status, detail in
          check_rows(target, timeout)),
    ]  # fmt: skip
    return rows, result
