"""`wizard check`: validate a deployment without changing anything.

Each check yields a result (ok / warn / fail / skip) with one line of detail; the command exits 1
when any check fails. Nothing here writes, prompts or prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from wizard.answers import Answers, Source
from wizard.compose import ComposeError
from wizard.model import InputError, PostgresMode
from wizard.project import ENV_NAME, Project, load_project
from wizard.render import env_values
from wizard.resolve import Resolved, build, existing_answers


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Report:
    project_dir: Path
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.status is not Status.FAIL for result in self.results)

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "project_dir": str(self.project_dir),
            "checks": [
                {"name": r.name, "status": r.status.value, "detail": r.detail} for r in self.results
            ],
        }


# Keys every deployment's .env must hold (DATABASE_URL is checked against the others).
REQUIRED_KEYS = (
    "COMPOSE_FILE",
    "USE_GPU",
    "LOG_LEVEL",
    "BIND_ADDRESS",
    "POSTGRES_MODE",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_HOST_PORT",
    "DATABASE_URL",
    "DOCUMENT_PATHS",
    "JWT_SECRET_KEY",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
)


_Add = Callable[[str, "Status", str], None]


def run_checks(project_dir: Path, *, db_timeout: int = 5, wait_seconds: float = 0.0) -> Report:
    results: list[CheckResult] = []

    def add(name: str, status: Status, detail: str) -> None:
        results.append(CheckResult(name, status, detail))

    def report() -> Report:
        return Report(project_dir, tuple(results))

    env_path = project_dir / ENV_NAME
    if not env_path.exists():
        add(".env", Status.FAIL, f"no {env_path}: run `wizard setup` (or `make wizard`) first")
        return report()
    try:
        project = load_project(project_dir)
    except InputError as exc:
        add(".env", Status.FAIL, "; ".join(exc.problems))
        return report()
    add(".env", Status.OK, f"{env_path} parses")

    missing = [key for key in REQUIRED_KEYS if key not in project.env]
    if missing:
        add(
            "required keys",
            Status.FAIL,
            f"missing from .env: {', '.join(missing)}; re-run `wizard setup` to add them",
        )
        return report()
    add("required keys", Status.OK, f"all {len(REQUIRED_KEYS)} present")

    mode = project.env.get("POSTGRES_MODE", "")
    resolved = _resolve(project, results)
    if resolved is None:
        return report()
    config = resolved.config

    expected = config.database.url
    if project.env["DATABASE_URL"] != expected:
        add(
            "DATABASE_URL",
            Status.FAIL,
            "does not match the POSTGRES_* keys (host, port, database, user, password or "
            "sslmode differ); re-run `wizard setup` to derive it again",
        )
    else:
        add("DATABASE_URL", Status.OK, "matches the POSTGRES_* keys")

    planned = env_values(project, config)
    if project.env.get("COMPOSE_FILE") != planned["COMPOSE_FILE"]:
        add(
            "COMPOSE_FILE",
            Status.WARN,
            f"is {project.env.get('COMPOSE_FILE')!r}; the wizard would set "
            f"{planned['COMPOSE_FILE']!r}",
        )
    for doc in config.documents:
        add("documents", Status.OK, f"{doc.source} → {doc.target}")

    _check_ports(project, resolved, add)
    _check_database(resolved, mode, db_timeout, wait_seconds, add)
    return report()


def _resolve(project: Project, results: list[CheckResult]) -> Resolved | None:
    """The deployment's settings, validated by the same rules as setup (secret lengths, dirs...)."""
    answers = Answers([(Source.EXISTING, existing_answers(project.env, project.documents))])
    try:
        return build(answers, cwd=project.root, existing_documents=project.documents)
    except InputError as exc:
        for problem in exc.problems:
            results.append(CheckResult("settings", Status.FAIL, problem))
        return None


def _check_ports(project: Project, resolved: Resolved, add: _Add) -> None:
    from wizard.ports import check_ports
    from wizard.setup import planned_ports

    try:
        ports = planned_ports(project, resolved.config)
    except ComposeError as exc:
        add("ports", Status.FAIL, str(exc))
        return
    if not ports:
        add("ports", Status.SKIP, "the compose files publish no host ports")
    for status in check_ports(ports, default_address="0.0.0.0"):
        where = f"{status.port.host_ip or '0.0.0.0'}:{status.port.port} ({status.port.service})"
        if status.free:
            add("port", Status.OK, f"{where} is free")
        elif status.ours:
            add("port", Status.OK, f"{where} is in use by this stack")
        elif status.holder is not None and status.holder.pid is None:
            add(
                "port",
                Status.WARN,
                f"{where} is in use by a process the wizard cannot identify "
                "(run as root to see it); fine if it is this stack",
            )
        else:
            add("port", Status.FAIL, status.problem or f"{where} is taken")


def _check_database(
    resolved: Resolved, mode: str, timeout: int, wait_seconds: float, add: _Add
) -> None:
    from wizard.database import check_database, wait_for_database
    from wizard.setup import host_target

    target = host_target(resolved.config)
    where = f"{target.host}:{target.port}"
    if wait_seconds > 0:
        result = wait_for_database(target, timeout, wait_seconds)
    else:
        result = check_database(target, timeout)
    label = "database" if mode != PostgresMode.BUNDLED.value else "database (bundled)"
    if result.ok:
        add(label, Status.OK, f"{where}: PostgreSQL {result.server_version}, can create tables")
    else:
        add(label, Status.FAIL, result.message)
