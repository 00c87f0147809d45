"""The host ports a configuration publishes, and the one rule for which taken port blocks.

`setup` and `check` both judge each planned port with `judge`: free; in use by this stack (its
docker-proxy holds a port it already publishes, or the holder logs in as this deployment's
database); a holder that cannot be identified on a port that is unchanged (a warning: most likely
this stack, seen by a user who is not root); anything else blocks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from wizard.errors import InputError
from wizard.files.project import Project
from wizard.plan.model import Plan
from wizard.plan.render import compose_paths
from wizard.stack import resources
from wizard.stack.compose import OVERRIDE_NAME, ComposeError
from wizard.stack.contract import split_compose_file
from wizard.stack.ports import PublishedPort, port_conflicts, published_ports

if TYPE_CHECKING:
    from wizard.host.ports import PortStatus

# The setting behind a port variable, for messages.
_PORT_FLAGS = {"POSTGRES_HOST_PORT": "--postgres-host-port"}


def checked_planned_ports(plan: Plan) -> list[PublishedPort]:
    """The plan's ports, refusing (InputError, exit 2) a configuration in which two services ask
    for one host port: that is found before writing, whether or not ports are checked."""
    try:
        ports = plan.ports
    except ComposeError as exc:
        raise InputError([str(exc)]) from None
    problems = conflict_problems(ports)
    if problems:
        raise InputError(problems)
    return ports


def conflict_problems(ports: list[PublishedPort]) -> list[str]:
    """One sentence for each host port that two services would publish: compose starts one of
    them and the other fails with "port is already allocated"."""
    problems = []
    for first, second in port_conflicts(ports):
        movable = next((p.variable for p in (first, second) if p.variable), None)
        flag = _PORT_FLAGS.get(movable or "", movable)
        remedy = f"choose another with {flag}" if flag else "change one of them"
        problems.append(
            f"{flag or 'ports'}: host port {first.port}/{first.protocol} is published by both "
            f"{first.service} and {second.service}; {remedy}"
        )
    return problems


def current_ports(project: Project) -> list[PublishedPort]:
    """The ports the configuration on disk publishes now (what compose would load); none on a
    first install."""
    if not project.configured:
        return []
    names = split_compose_file(project.env.get("COMPOSE_FILE", ""))
    if not names:
        # Without COMPOSE_FILE compose loads its defaults: the base file and an override.
        names = [
            path.name
            for path in (project.base_file, project.own_override, project.root / OVERRIDE_NAME)
            if path is not None
        ]
    texts = dict(project.stack.texts)
    if project.override_text is not None:
        texts[project.root / OVERRIDE_NAME] = project.override_text
    texts.setdefault(
        resources.data_root() / resources.POSTGRES_COMPOSE, resources.postgres_compose()
    )
    try:
        # compose takes a variable from the shell before .env.
        env = {**project.env, **os.environ}
        return published_ports(compose_paths(project, names), env, texts)
    except ComposeError:
        return []


class Verdict(StrEnum):
    FREE = "free"
    OURS = "ours"  # in use by this stack: passes
    UNSURE = "unsure"  # held by a process that cannot be identified, on an unchanged port
    TAKEN = "taken"  # blocks


@dataclass(frozen=True)
class PortJudgement:
    status: PortStatus
    verdict: Verdict
    message: str


def judge(
    status: PortStatus, current: Sequence[PublishedPort], *, database_answers: bool = False
) -> PortJudgement:
    """The rule, for one checked port. `current` are the ports the deployment publishes now
    (none on a first install: a running container there is another stack's); by number, since a
    re-run that moves the bind address finds this stack's container on the old address.
    `database_answers`: the deployment's database logged in at this port's address."""
    port = status.port
    address = port.host_ip or "0.0.0.0"
    address = f"[{address}]" if ":" in address else address  # ::1 as a URL writes it
    where = f"{address}:{port.port} ({port.service})"
    if status.free:
        return PortJudgement(status, Verdict.FREE, f"{where} is free")
    numbers = {(p.port, p.protocol) for p in current}
    if status.ours and (port.port, port.protocol) in numbers:
        return PortJudgement(
            status, Verdict.OURS, f"port {port.port} is in use by this stack (docker-proxy)"
        )
    if database_answers and port.variable == "POSTGRES_HOST_PORT":
        # Whatever holds it (docker-proxy, podman's helpers, a port forward) logged this
        # deployment's user in with its password: it is this deployment's database.
        holder = status.holder.describe() if status.holder else "a process"
        return PortJudgement(
            status,
            Verdict.OURS,
            f"{where} is in use by {holder}, which answers as this deployment's database",
        )
    unchanged = (port.host_ip, port.port) in {(p.host_ip, p.port) for p in current}
    if status.holder is not None and status.holder.pid is None and unchanged:
        return PortJudgement(
            status,
            Verdict.UNSURE,
            f"{where} is in use by a process the wizard cannot identify (run as root to see "
            "it); unchanged since the last run, so most likely this stack",
        )
    return PortJudgement(status, Verdict.TAKEN, status.problem or f"{where} is taken")


def judge_ports(plan: Plan, *, database_answers: bool = False) -> list[PortJudgement]:
    """Every planned port, checked on this host and judged by the one rule."""
    from wizard.host.ports import check_ports

    ports = checked_planned_ports(plan)
    current = current_ports(plan.project)
    return [
        judge(status, current, database_answers=database_answers)
        for status in check_ports(ports, default_address="0.0.0.0")
    ]
