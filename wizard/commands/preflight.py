"""Setup's checks before anything is written: ports, the database, a corrected password, what
the documents hold. They say what they find on stderr and raise CheckFailed (exit 1) for what
must stop the run; `wizard check` runs the same probes (wizard.checks) and lists rows instead."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.checks.ports import LEVELS
from wizard.config.answers import Answers
from wizard.config.model import Config, PostgresMode
from wizard.config.resolve import Resolved
from wizard.errors import CheckFailed
from wizard.host.targets import target_for, target_for_answers
from wizard.plan.model import Plan
from wizard.plan.ports import Verdict, checked_planned_ports, judge_ports
from wizard.result import Status
from wizard.ui.console import UI

if TYPE_CHECKING:
    # Imported where used: a run that never connects or checks ports does not pay for them.
    from wizard.host.db_values import DbCheck
    from wizard.host.ports import PortStatus


def check_answers_database(answers: Answers, timeout: int) -> DbCheck:
    """Step 2's connection check: the external server as the answers so far describe it. A
    value the check cannot use is a failed check naming it, never an exception."""
    from wizard.host.database import check_database
    from wizard.host.db_values import DbCheck, DbProblem

    target, problem = target_for_answers(answers)
    if target is None:
        no_password = not answers.value("postgres_password")
        return DbCheck(
            ok=False,
            problem=DbProblem.AUTH if no_password else DbProblem.OTHER,
            message=problem,
            server_version=None,
            can_create=None,
        )
    return check_database(target, timeout)


def port_verdicts(plan: Plan) -> tuple[list[PortStatus], list[PortStatus], list[str]]:
    """(blocking, warnings, notes) by the one rule, at the levels `wizard check` gives them."""
    blocking: list[PortStatus] = []
    warnings: list[PortStatus] = []
    notes: list[str] = []
    for judged in judge_ports(plan):
        level = LEVELS[judged.verdict]
        if level is Status.FAIL:
            blocking.append(judged.status)
        elif level is Status.WARN:
            warnings.append(judged.status)
        elif judged.verdict is Verdict.OURS:
            notes.append(judged.message)
    return blocking, warnings, notes


def preflight(plan: Plan, database: Config, ui: UI) -> None:
    """The checks that can stop a non-interactive run before anything is written: the planned
    ports (exit 1 for a taken one) and an external server (`database`: the settings to connect
    with, the current password while a rotation is still to run). Raises CheckFailed."""
    resolved = plan.resolved
    config = plan.config
    if config.deployment.value == "gpu":
        from wizard.host.gpu import detect_gpus

        detection = detect_gpus()
        if not detection.available:
            ui.warn(f"GPU deployment chosen, but {detection.summary()}")
    if resolved.option("skip_port_check"):
        checked_planned_ports(plan)
    else:
        blocking, warnings, notes = port_verdicts(plan)
        for note in notes:
            ui.info(note)
        for status in warnings:
            ui.warn(f"{status.problem} (unchanged since the last run; probably this stack)")
        if blocking:
            raise CheckFailed(
                "\n".join(s.problem or f"port {s.port.port} is taken" for s in blocking)
                + "\nNothing was written; free the port, choose another, or pass --skip-port-check."
            )
    if config.database.mode is PostgresMode.EXTERNAL and not resolved.option("skip_db_check"):
        from wizard.host.database import check_database

        target = target_for(database)
        with ui.status(f"Connecting to PostgreSQL at {target.where}"):
            result = check_database(target, resolved.db_timeout)
        if not result.ok:
            raise CheckFailed(
                f"Database check failed: {result.message}\nNothing was written; fix the settings "
                "or pass --skip-db-check."
            )
        ui.success(
            f"Database: PostgreSQL {result.server_version} at {target.where}, can create tables."
        )
    elif config.database.mode is PostgresMode.EXTERNAL:
        db = config.database
        ui.warn(
            f"Database check skipped (--skip-db-check): the connection to {db.host}:{db.port} "
            "was not validated; run `wizard check` once the server is reachable."
        )


def rerun_checks(resolved: Resolved, ui: UI, *, warned: bool, jwt_changed: bool) -> None:
    # A new JWT secret given as a value (WIZARD_JWT_SECRET, --jwt-secret-file) signs everyone
    # out just as a rotation does.
    if jwt_changed and not warned:
        ui.warn("The JWT secret is rotated: every signed-in user will have to sign in again.")
    bundled = resolved.config.database.mode is PostgresMode.BUNDLED
    if bundled and resolved.password_changed and not resolved.rotate_postgres_password:
        _validate_correction(resolved, ui)


def _validate_correction(resolved: Resolved, ui: UI) -> None:
    """A new password without rotation claims the server already uses it: check that claim.

    A claim that cannot be checked is not taken on trust (a wrong one makes the stack fail with
    'password authentication failed'): it fails unless --skip-db-check says to write it anyway.
    """
    from wizard.host.database import check_database
    from wizard.host.db_values import DbProblem

    if resolved.option("skip_db_check"):
        ui.warn(
            "The corrected PostgreSQL password was not validated (--skip-db-check); run "
            "`wizard check` once the server runs."
        )
        return
    result = check_database(target_for(resolved.config), resolved.db_timeout)
    if result.ok:
        ui.success("The corrected PostgreSQL password connects.")
    elif result.problem is DbProblem.AUTH:
        raise CheckFailed(
            f"{result.message}\nNothing was written. To change the server's password, add "
            "--rotate-postgres-password."
        )
    elif result.server_version is not None:
        # It logged in, which is all a correction claims; the rest is for `wizard check`.
        ui.success("The corrected PostgreSQL password connects.")
        ui.warn(result.message)
    else:
        raise CheckFailed(
            f"Could not validate the corrected PostgreSQL password: {result.message}\n"
            "Nothing was written. Start the bundled server first (docker compose up -d "
            "postgres) and re-run, or pass --skip-db-check to write the password unvalidated."
        )


def preview_documents(ui: UI, path: Path, env: Mapping[str, str]) -> None:
    """What the stack will find in a document directory, and whether its containers may read it,
    under a time budget with a live count; said on stderr, nothing decided by it."""
    from wizard.host.documents import PREVIEW_BUDGET_S, container_user, preview

    if not path.is_dir():
        return  # to be created: nothing in it yet
    try:
        with ui.counting(f"Reading {path}") as tick:
            found = preview(
                path, budget_s=PREVIEW_BUDGET_S, progress=tick, reader=container_user(env)
            )
    except OSError as exc:
        ui.warn(f"{path}: cannot be read ({exc.strerror or exc})")
        return
    ui.info(found.describe())
    for warning in found.warnings():
        ui.warn(warning)
