"""`wizard check`: validate a deployment without changing anything.

Each check yields a result (ok / warn / fail / skip) with one line of detail; the command exits 1
when any check fails. Nothing here prompts or prints, and nothing writes but one thing: a password
rotation a stopped server left unfinished is finished or undone (wizard.commands.rotation).
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from wizard.commands.result import ChecksTable, Result
from wizard.commands.rotation import pending_password, settle_on_disk
from wizard.config.answers import Answers, Source
from wizard.config.contract import answer_defaults, documents_root, gpu_reservations
from wizard.config.model import (
    Config,
    DatabaseSettings,
    InputError,
    PostgresMode,
)
from wizard.config.resolve import Resolved, build, existing_answers
from wizard.files.project import ENV_NAME, Project, from_shell, load_project
from wizard.files.render import ENV_KEYS, env_values, setting_readers, unset_required
from wizard.host import document_dirs
from wizard.host.targets import target_for_env

if TYPE_CHECKING:
    from wizard.host.database import DbCheck, DbTarget


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

    def result(self) -> Result:
        """The report as a command's Result: as_json, and the table of every check."""
        rows = [(r.name, r.status.value, r.detail) for r in self.results]
        return Result(self.as_json(), ChecksTable(rows), ok=self.ok)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "project_dir": str(self.project_dir),
            "checks": [
                {"name": r.name, "status": r.status.value, "detail": r.detail} for r in self.results
            ],
        }


# Keys every deployment's .env must hold (DATABASE_URL is checked against the others); the TLS
# keys may be missing from a .env written before external servers existed, and the pending
# password from one written before unfinished rotations were kept.
REQUIRED_KEYS = tuple(
    key
    for key in ENV_KEYS
    if key
    not in (
        "POSTGRES_SSLMODE",
        "POSTGRES_SSLROOTCERT",
        "POSTGRES_PASSWORD_PENDING",
        "CUDA_VISIBLE_DEVICES",
        "DOCUMENT_PATH",
    )
)


_Add = Callable[[str, "Status", str], None]


def run_checks(project_dir: Path, *, db_timeout: int = 5, wait_seconds: float = 0.0) -> Report:
    """Every check of the deployment in `project_dir`; reads files and connects, changes nothing.

    A check whose inputs are broken is reported as skipped rather than left out, and the
    database is tried even when other settings are invalid (a short JWT secret says nothing
    about whether PostgreSQL answers).
    """
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
        # Each problem in the row of the file it names: an invalid override is not .env's.
        rows: dict[str, list[str]] = {}
        inside = f"{project_dir}/"
        for problem in exc.problems:
            named = problem[len(inside) :].split(": ", 1)[0]
            rows.setdefault(named if problem.startswith(inside) else ENV_NAME, []).append(problem)
        if ENV_NAME not in rows:
            add(".env", Status.OK, f"{env_path} parses")
        for name, problems in rows.items():
            add(name, Status.FAIL, "; ".join(problems))
        return report()
    mode = stat.S_IMODE(env_path.stat().st_mode)
    if mode & 0o077:
        add(
            ".env",
            Status.FAIL,
            f"{env_path} can be read by other users (mode {mode:04o}) and holds secrets; run "
            f"chmod 600 {shlex.quote(str(env_path))}",
        )
    else:
        add(".env", Status.OK, f"{env_path} parses")
    if pending_password(project.env) is not None:
        # The one thing check writes: a rotation left unfinished must not stay in doubt.
        settled = settle_on_disk(project_dir, db_timeout, wait_seconds)
        add("password rotation", Status.FAIL if settled.project is None else Status.OK,
            settled.message)  # fmt: skip
        project = settled.project or project

    missing = [key for key in REQUIRED_KEYS if key not in project.env]
    if missing:
        add(
            "required keys",
            Status.FAIL,
            f"missing from .env: {', '.join(missing)}; re-run `wizard setup` to add them",
        )
        # Settings built from an incomplete .env would fill the gaps with defaults (or a freshly
        # generated secret) and then judge those: only the database is still worth a try.
        _check_database(project, None, db_timeout, wait_seconds, add)
        return report()
    add("required keys", Status.OK, f"all {len(REQUIRED_KEYS)} present")

    resolved = _resolve(project, add)
    if resolved is None:
        add("DATABASE_URL", Status.SKIP, "not compared: fix the settings above first")
        add("ports", Status.SKIP, "not checked: fix the settings above first")
        _check_database(project, None, db_timeout, wait_seconds, add)
        return report()
    config = resolved.config
    secrets = 2 + len(config.secrets)
    add("settings", Status.OK, f"values are valid, and all {secrets} secrets are set")
    for problem in unset_required(project, config, os.environ):
        add("required variables", Status.FAIL, problem)
    _check_reach(project, config, add)

    differences = url_differences(project.env["DATABASE_URL"], config.database)
    if differences:
        add(
            "DATABASE_URL",
            Status.FAIL,
            f"does not match the POSTGRES_* keys ({'; '.join(differences)}); re-run "
            "`wizard setup` to derive it again",
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
        _check_documents(doc.source, doc.target, project.env, add)
    sources = [doc.source for doc in config.documents]
    for problem in document_dirs.project_problems(project.root, sources, "documents"):
        add("documents", Status.FAIL, problem)
    for warning in document_dirs.nested_warnings(sources):
        add("documents", Status.WARN, warning)

    # The database is asked first (its rows still come last): a bundled server's port held by a
    # process that answers as this deployment's database is the stack's own port.
    later: list[CheckResult] = []
    database = _check_database(
        project,
        resolved,
        db_timeout,
        wait_seconds,
        lambda name, status, detail: later.append(CheckResult(name, status, detail)),
    )
    _check_ports(project, resolved, database, add)
    _check_docker(add)
    results.extend(later)
    return report()


def _check_docker(add: _Add) -> None:
    """Whether `docker compose up -d` (what "Next:" says) can run the configuration here."""
    from wizard.host.docker import DockerState, docker_status

    found = docker_status()
    levels = {DockerState.READY: Status.OK, DockerState.OLD_COMPOSE: Status.FAIL}
    add("docker", levels.get(found.state, Status.WARN), found.message)


def _check_documents(source: Path, target: str, env: Mapping[str, str], add: _Add) -> None:
    """What the containers will find at `target`, and whether their UID:GID may read it."""
    from wizard.host.documents import PREVIEW_BUDGET_S, container_user, preview

    try:
        found = preview(source, budget_s=PREVIEW_BUDGET_S, reader=container_user(env))
    except OSError as exc:
        add("documents", Status.FAIL, f"{source}: cannot be read ({exc.strerror or exc})")
        return
    add("documents", Status.OK, f"{found.describe()} (at {target} in the containers)")
    for warning in found.warnings():
        add("documents", Status.WARN, warning)


def _check_reach(project: Project, config: Config, add: _Add) -> None:
    """Does each setting reach a service? Records of the wizard's own (USE_GPU, ...) say so."""
    if project.base_file is None:
        add("settings reach", Status.SKIP, "no base compose file: no service to reach")
        return
    readers = setting_readers(project, config)
    reached = [f"{key} → {', '.join(names)}" for key, names in readers.items() if names]
    unread = [key for key, names in readers.items() if not names]
    add("settings reach", Status.OK, "; ".join(reached))
    if unread:
        add(
            "settings reach",
            Status.OK,
            f"read by no service (records for the wizard and compose): {', '.join(unread)}",
        )


def url_differences(url: str, expected: DatabaseSettings) -> list[str]:
    """What in DATABASE_URL disagrees with the POSTGRES_* settings, one phrase each.

    Phrases name only the part (scheme, user, password, host, port, database, query) and its
    .env key, never a value read from the URL: a hand-edited URL with an
    unencoded '@' or '/' in its password splits in the wrong places, and the "host" or
    "database" it then yields are pieces of the password. Empty when the URL is exactly the one
    the wizard derives.
    """
    if url == expected.url:
        return []
    try:
        actual = urlsplit(url)
        wanted = urlsplit(expected.url)
        port, wanted_port = actual.port, wanted.port
    except ValueError:
        return [
            "it is not a postgresql:// URL the app can read (a password in it must be "
            "percent-encoded)"
        ]
    if actual.scheme not in ("postgresql", "postgres"):
        return ["the scheme is not postgresql://"]
    pairs = (
        ("user", unquote(actual.username or ""), unquote(wanted.username or ""), "POSTGRES_USER"),
        ("password", unquote(actual.password or ""), unquote(wanted.password or ""),
         "POSTGRES_PASSWORD"),
        ("host", actual.hostname, wanted.hostname, "POSTGRES_HOST"),
        ("port", port, wanted_port, "POSTGRES_PORT"),
        ("database", unquote(actual.path.lstrip("/")), unquote(wanted.path.lstrip("/")),
         "POSTGRES_DB"),
    )  # fmt: skip
    parts = [(part, key) for part, have, want, key in pairs if have != want]
    differences = [
        f"the {part} differs from {key}" + (_ENCODING_HINT if part == "password" else "")
        for part, key in parts
    ]
    if actual.query:
        differences.append(
            "it has query parameters (?...), which the app's asyncpg driver refuses; TLS "
            "settings come from POSTGRES_SSLMODE and POSTGRES_SSLROOTCERT"
        )
    # Equal in every part yet not byte-identical (another encoding of the same URL): the app
    # reads the same thing, so it agrees.
    return differences


# A password with '/', ':', '?' or '#' written as it is splits the URL in the wrong places.
_ENCODING_HINT = " (in the URL it must be percent-encoded)"


def _resolve(project: Project, add: _Add) -> Resolved | None:
    """The deployment's settings, validated by the same rules as setup (secret lengths, dirs...)."""
    answers = Answers(
        [
            (
                Source.EXISTING,
                existing_answers(
                    project.env,
                    project.documents,
                    project.root,
                    bool(gpu_reservations(project.base_services)),
                ),
            ),
            (Source.DEFAULT, answer_defaults(project.base_services)),
        ]
    )
    try:
        return build(
            answers,
            cwd=project.root,
            existing_documents=project.documents,
            documents_root=documents_root(project.base_services),
        )
    except InputError as exc:
        for problem in exc.problems:
            add("settings", Status.FAIL, problem)
        return None


def _check_ports(project: Project, resolved: Resolved, database: DbCheck | None, add: _Add) -> None:
    from wizard.host.port_plan import Verdict, judge_ports

    bundled = resolved.config.database.mode is PostgresMode.BUNDLED
    try:
        judged = judge_ports(
            project,
            resolved.config,
            database_answers=bundled and database is not None and database.ok,
        )
    except InputError as exc:
        for problem in exc.problems:
            add("ports", Status.FAIL, problem)
        return
    if not judged:
        add("ports", Status.SKIP, "the compose files publish no host ports")
    levels = {
        Verdict.FREE: Status.OK,
        Verdict.OURS: Status.OK,
        Verdict.UNSURE: Status.WARN,
        Verdict.TAKEN: Status.FAIL,
    }
    for judgement in judged:
        add("port", levels[judgement.verdict], judgement.message)
    if note := from_shell(project):
        add("shell", Status.WARN, note)


def _check_database(
    project: Project, resolved: Resolved | None, timeout: int, wait_seconds: float, add: _Add
) -> DbCheck | None:
    """Connect as the app's user; None (and a skipped row) when .env cannot say where to."""
    from wizard.host.database import check_database, wait_for_database
    from wizard.host.targets import target_for

    mode = project.env.get("POSTGRES_MODE", "")
    label = "database (bundled)" if mode == PostgresMode.BUNDLED.value else "database"
    if resolved is not None:
        target: DbTarget | None = target_for(resolved.config)
        reason = ""
    else:
        target, reason = env_target(project.env)
    if target is None:
        add(label, Status.SKIP, f"not checked: {reason}")
        return None
    if wait_seconds > 0:
        result = wait_for_database(target, timeout, wait_seconds)
    else:
        result = check_database(target, timeout)
    if result.ok:
        add(
            label,
            Status.OK,
            f"{target.where}: PostgreSQL {result.server_version}, can create tables",
        )
        from wizard.accounts.operations import check_rows

        for name, status, detail in check_rows(target, timeout):
            add(name, Status(status), detail)
    else:
        add(label, Status.FAIL, result.message)
    return result


def env_target(env: Mapping[str, str]) -> tuple[DbTarget | None, str]:
    """Where the wizard reaches the database, read straight from .env values (host.targets)."""
    return target_for_env(env)
