"""`wizard setup` at a terminal: the five steps, the review, and the choices a check leaves open.

Called by commands.setup only when a person is at the terminal, so questionary (through
ui.prompter) is imported only on this way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from wizard.commands.setup import (
    Cancelled,
    Request,
    check_answers_database,
    port_verdicts,
    preview_documents,
    unmounted_documents_warning,
    unreached_warning,
)
from wizard.config.answers import Answers, Source
from wizard.config.contract import documents_root
from wizard.config.model import (
    DEFAULT_DB_TIMEOUT,
    MAX_DB_TIMEOUT,
    InputError,
    Problem,
    parse_positive_int,
)
from wizard.config.resolve import Resolved, build
from wizard.files.compose import PublishedPort
from wizard.files.project import Project, from_shell, read_file
from wizard.files.render import env_values, plan, unset_required_variables
from wizard.host.port_plan import checked_planned_ports, planned_ports
from wizard.ui.console import UI
from wizard.ui.review import diff, rows


def interactive(request: Request, project: Project, answers: Answers, ui: UI) -> Resolved:
    """Steps 1 to 4 for what the inputs left open, then the review (step 5) until the person
    writes (the Resolved to write), goes back to a step, or cancels (Cancelled)."""
    detection = _detect_gpus_in_background()  # runs while questionary is imported
    from wizard.ui import prompter, steps

    _reject_fixed_problems(request, project, answers)
    timeout, _ = parse_positive_int(
        answers.value("db_timeout") or 5, "db timeout", minimum=2, maximum=MAX_DB_TIMEOUT
    )
    timeout = timeout or DEFAULT_DB_TIMEOUT
    session = steps.Session(
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
            session.run_step(number)
        # An InputError here (a bad flag, say) is printed once, by the CLI, with exit 2.
        resolved = build(
            session.current,
            cwd=request.cwd,
            existing_documents=project.documents,
            documents_root=documents_root(project.base_services),
        )
        if not resolved.option("skip_port_check"):
            resolved = _interactive_ports(project, resolved, session, ui)
        else:
            checked_planned_ports(project, resolved.config)
        ui.step_header(5, 5, "Review")
        before = dict(project.env)
        after = env_values(project, resolved.config)
        if _ask_required(project, resolved, session):
            todo = []
            continue  # build again with the answers
        table = rows(resolved, before, after)
        ui.review_table(table)
        if warning := unreached_warning(project, resolved.config, table):
            ui.warn(warning)
        if note := from_shell(project):
            ui.warn(note)
        for file in plan(project, resolved.config):
            current = read_file(project.root / file.name)
            if project.configured and current != file.content:
                ui.diff(diff(file, current, before, after))
        if warning := unmounted_documents_warning(project, resolved.config):
            ui.warn(warning)
        if resolved.option("yes"):
            return resolved
        action = prompter.select("Write this configuration?", steps.review_choices(), "write")
        if action == "write":
            return resolved
        if action == "cancel":
            raise Cancelled()
        todo = [int(action)]


def _ask_required(project: Project, resolved: Resolved, session: Any) -> bool:
    """Ask for each variable the base requires that nothing sets; True when something was asked.
    The answers are written to .env (the one file that may hold a secret)."""
    from wizard.ui import prompter

    missing = unset_required_variables(project, resolved.config, os.environ)
    if not missing:
        return False
    answered = dict(session.answered.get("required_env") or {})
    base = project.base_file.name if project.base_file else "the base compose file"
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
        build(
            answers,
            cwd=request.cwd,
            existing_documents=project.documents,
            documents_root=documents_root(project.base_services),
        )
    except InputError as exc:
        given = {Source.FLAG.value, Source.ENV.value, Source.FILE.value}
        fixed: list[str] = [p for p in exc.problems if isinstance(p, Problem) and p.source in given]
        if fixed:
            raise InputError(fixed) from None


def _interactive_ports(project: Project, resolved: Resolved, session: Any, ui: UI) -> Resolved:
    from wizard.config.model import parse_port
    from wizard.ui import prompter

    while True:
        blocking, warnings, notes = port_verdicts(project, resolved.config)
        for note in notes:
            ui.info(note)
        for status in warnings:
            ui.warn(f"{status.problem} (unchanged since the last run; probably this stack)")
        if not blocking:
            return resolved
        for status in blocking:  # all of them: "Continue anyway" must not hide the second one
            ui.problem(status.problem or f"port {status.port.port} is taken")
        movable = next((s for s in blocking if s.port.variable == "POSTGRES_HOST_PORT"), None)
        choices = []
        if movable is not None:
            choices.append(("Use another port for PostgreSQL", "change"))
        choices += [("Continue anyway", "continue"), ("Stop: write nothing", "stop")]
        action = prompter.select("Port in use", choices, default=choices[0][1])
        if action == "stop":
            raise Cancelled()
        if action == "continue" or movable is None:
            return resolved
        planned = {port.port for port in planned_ports(project, resolved.config)}
        suggestion = _free_port_after(movable.port, avoid=planned)
        session.answered["postgres_host_port"] = prompter.text(
            "Host port for PostgreSQL",
            default=str(suggestion),
            validate=lambda text: parse_port(text, "PostgreSQL host port")[1],
        ).strip()
        resolved = build(
            session.current,
            cwd=session.cwd,
            existing_documents=project.documents,
            documents_root=documents_root(project.base_services),
        )


def _free_port_after(taken: PublishedPort, avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """The first port above `taken.port` that passes the same check, on the same address (an
    IPv6 one included), as the port check that follows; skips the stack's other ports."""
    from dataclasses import replace as moved

    from wizard.host.ports import check_port

    for candidate in range(taken.port + 1, min(taken.port + 200, 65536)):
        if candidate not in avoid and check_port(moved(taken, port=candidate), "0.0.0.0").free:
            return candidate
    return taken.port
