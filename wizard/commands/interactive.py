"""`wizard setup` at a terminal: the five steps, the review, and the choices a check leaves open.

Called by commands.setup only when a person is at the terminal, so questionary (through
ui.prompter) is imported only on this way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizard.commands.preflight import check_answers_database, port_verdicts, preview_documents
from wizard.commands.setup_report import Request
from wizard.config.answers import Answers, Source
from wizard.config.model import db_timeout_or_default
from wizard.config.resolve import Resolved, build
from wizard.errors import Cancelled, InputError, Problem
from wizard.files.project import Project, from_shell
from wizard.plan.model import Plan, make_plan
from wizard.plan.ports import checked_planned_ports
from wizard.plan.warnings import stack_warnings, unmounted_documents_warning
from wizard.stack.ports import PublishedPort
from wizard.ui.console import UI
from wizard.ui.review import diff, rows, unreached_warning


def interactive(request: Request, project: Project, answers: Answers, ui: UI) -> Plan:
    """Steps 1 to 4 for what the inputs left open, then the review (step 5) until the person
    writes (the Plan shown, to write), goes back to a step, or cancels (Cancelled)."""
    detection = _detect_gpus_in_background()  # runs while questionary is imported
    from wizard.ui import prompter, steps
    from wizard.ui.session import Session

    _reject_fixed_problems(request, project, answers)
    timeout = db_timeout_or_default(answers.value("db_timeout"))
    session = Session(
        answers=answers,
        ui=ui,
        cwd=request.cwd,
        detect_gpus=detection,
        check_database=lambda current: check_answers_database(current, timeout),
        preview=lambda path: preview_documents(ui, path, {**project.env, **os.environ}),
    )
    if project.configured:
        ui.info(
            f"Found the configuration in {project.root}: every question starts from its current "
            "value; secrets are kept unless you rotate them."
        )
    todo = [1, 2, 3, 4]
    while True:
        for number in todo:
            steps.run_step(session, number)
        # An InputError here (a bad flag, say) is printed once, by the CLI, with exit 2.
        plan = make_plan(project, _build(session.current, project, request.cwd))
        if not plan.resolved.option("skip_port_check"):
            plan = _interactive_ports(plan, session, ui)
        else:
            checked_planned_ports(plan)
        ui.step_header(5, 5, "Review")
        if _ask_required(plan, session):
            todo = []
            continue  # build again with the answers
        _review(plan, ui)
        if plan.resolved.option("yes"):
            return plan
        action = prompter.select("Write this configuration?", steps.review_choices(), "write")
        if action == "write":
            return plan
        if action == "cancel":
            raise Cancelled()
        todo = [int(action)]


def _build(answers: Answers, project: Project, cwd: Path) -> Resolved:
    return build(
        answers,
        cwd=cwd,
        existing_documents=project.documents,
        documents_root=project.stack.documents_root,
    )


def _review(plan: Plan, ui: UI) -> None:
    """Step 5: the table, what reaches no service, the redacted diff of each changed file."""
    project = plan.project
    table = rows(plan.resolved, project.env, plan.env)
    ui.review_table(table)
    if warning := unreached_warning(plan, table):
        ui.warn(warning)
    if note := from_shell(project, plan.env["COMPOSE_FILE"]):
        ui.warn(note)
    if project.configured:
        for file in plan.files:
            if file.name in plan.changed:
                ui.diff(diff(file, plan.current(file.name), project.env, plan.env))
    if warning := unmounted_documents_warning(project, plan.config):
        ui.warn(warning)
    for warning in stack_warnings(plan, interactive=True):
        ui.warn(warning)


def _ask_required(plan: Plan, session: Any) -> bool:
    """Ask for each variable the base requires that nothing sets; True when something was asked.
    The answers are written to .env (the one file that may hold a secret)."""
    from wizard.ui import prompter

    missing = plan.unset_required(os.environ)
    if not missing:
        return False
    answered = dict(session.answered.get("required_env") or {})
    base = plan.project.stack.base_name
    for variable, users in missing.items():

        def needed(text: str, name: str = variable) -> str | None:
            return None if text else f"{name}: the stack cannot start without it; enter a value"

        answered[variable] = prompter.secret(
            f"{variable} (required by {base} for {', '.join(users)}; written to .env)",
            validate=needed,
        )
    session.answered["required_env"] = answered
    return True


def _detect_gpus_in_background() -> Callable[[], Any]:
    """Start GPU detection now; the returned function waits for its result (step 1 needs it)."""
    import threading

    from wizard.host.gpu import detect_gpus

    result: list[Any] = []
    # Not started in signals.interrupts_blocked: the programs it runs would keep them blocked.
    # Step 1 joins it, so it never outlives the run.
    thread = threading.Thread(target=lambda: result.append(detect_gpus()), daemon=True)
    thread.start()

    def wait() -> Any:
        thread.join()
        return result[0] if result else detect_gpus()

    return wait


def _reject_fixed_problems(request: Request, project: Project, answers: Answers) -> None:
    """A bad flag, WIZARD_* value or answers-file entry is reported before the first question,
    not after the last one. Problems of values still to be asked are left to the steps."""
    try:
        _build(answers, project, request.cwd)
    except InputError as exc:
        given = {Source.FLAG.value, Source.ENV.value, Source.FILE.value}
        fixed: list[str] = [p for p in exc.problems if isinstance(p, Problem) and p.source in given]
        if fixed:
            raise InputError(fixed) from None


def _interactive_ports(plan: Plan, session: Any, ui: UI) -> Plan:
    from wizard.config.model import parse_port
    from wizard.ui import prompter

    while True:
        blocking, warnings, notes = port_verdicts(plan)
        for note in notes:
            ui.info(note)
        for status in warnings:
            ui.warn(f"{status.problem} (unchanged since the last run; probably this stack)")
        if not blocking:
            return plan
        for status in blocking:  # all of them: "Continue anyway" must not hide the second one
            ui.problem(status.problem or f"port {status.port.port} is taken")
        movable = next((s for s in blocking if s.port.variable == "POSTGRES_HOST_PORT"), None)
        choices = []
        if movable is not None:
            choices.append(("Use another port for PostgreSQL", "change"))
        choices += [("Continue anyway", "continue"), ("Stop: write nothing", "stop")]
        # The default leads to the fix: another port where one can move, else stop and free it.
        default = "change" if movable is not None else "stop"
        action = prompter.select("Port in use", choices, default=default)
        if action == "stop":
            raise Cancelled()
        if action == "continue" or movable is None:
            return plan
        planned = {port.port for port in plan.ports}
        suggestion = _free_port_after(movable.port, avoid=planned)
        session.answered["postgres_host_port"] = prompter.text(
            "Host port for PostgreSQL",
            default=str(suggestion),
            validate=lambda text: parse_port(text, "PostgreSQL host port")[1],
        ).strip()
        plan = make_plan(plan.project, _build(session.current, plan.project, session.cwd))


def _free_port_after(taken: PublishedPort, avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """The first port above `taken.port` that passes the same check, on the same address (an
    IPv6 one included), as the port check that follows; skips the stack's other ports."""
    from dataclasses import replace as moved

    from wizard.host.ports import check_port

    for candidate in range(taken.port + 1, min(taken.port + 200, 65536)):
        if candidate not in avoid and check_port(moved(taken, port=candidate), "0.0.0.0").free:
            return candidate
    return taken.port
