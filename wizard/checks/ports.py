"""Ports: every host port the plan publishes, checked on this host and judged by the one rule
(`wizard.plan.ports.judge`)."""

from __future__ import annotations

from wizard.errors import InputError
from wizard.files.project import from_shell
from wizard.plan.model import Plan
from wizard.plan.ports import PortJudgement, Verdict, judge_ports
from wizard.result import CheckRow, Status

LEVELS = {
    Verdict.FREE: Status.OK,
    Verdict.OURS: Status.OK,
    Verdict.UNSURE: Status.WARN,
    Verdict.TAKEN: Status.FAIL,
}


def port_row(judged: PortJudgement) -> CheckRow:
    return CheckRow("port", LEVELS[judged.verdict], judged.message)


def port_rows(plan: Plan, *, database_answers: bool = False) -> list[CheckRow]:
    """A row per published port; a configuration that publishes one port twice is a failure."""
    try:
        judged = judge_ports(plan, database_answers=database_answers)
    except InputError as exc:
        return [CheckRow("ports", Status.FAIL, problem) for problem in exc.problems]
    if not judged:
        return [CheckRow("ports", Status.SKIP, "the compose files publish no host ports")]
    rows = [port_row(judgement) for judgement in judged]
    if note := from_shell(plan.project, plan.project.env.get("COMPOSE_FILE", "")):
        rows.append(CheckRow("shell", Status.WARN, note))
    return rows
