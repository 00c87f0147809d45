"""The deployment's files and settings: .env (mode, keys), the values, DATABASE_URL,
COMPOSE_FILE, the variables the base requires, which service reads which setting, and the
document directories as the containers will see them."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from wizard.config import document_dirs
from wizard.config.answers import Answers
from wizard.config.envkeys import REQUIRED_KEYS
from wizard.config.model import (
    Config,
    DatabaseSettings,
    Environment,
    PostgresMode,
    is_loopback,
    loopback_host_warning,
)
from wizard.config.resolve import Resolved, build
from wizard.errors import InputError
from wizard.files.project import ENV_NAME, Project
from wizard.plan.model import Plan
from wizard.result import CheckRow, Status


def env_file_row(project_dir: Path) -> CheckRow:
    """.env parses (the caller loaded it) and only its owner may read it."""
    env_path = project_dir / ENV_NAME
    mode = stat.S_IMODE(env_path.stat().st_mode)
    if mode & 0o077:
        return CheckRow(
            ".env",
            Status.FAIL,
            f"{env_path} can be read by other users (mode {mode:04o}) and holds secrets; run "
            f"chmod 600 {shlex.quote(str(env_path))}",
        )
    return CheckRow(".env", Status.OK, f"{env_path} parses")


def load_problem_rows(project_dir: Path, problems: list[str]) -> list[CheckRow]:
    """Each problem of loading the directory in the row of the file it names: an invalid
    override is not .env's."""
    rows: dict[str, list[str]] = {}
    inside = f"{project_dir}/"
    for problem in problems:
        named = problem[len(inside) :].split(": ", 1)[0]
        rows.setdefault(named if problem.startswith(inside) else ENV_NAME, []).append(problem)
    found = [] if ENV_NAME in rows else [
        CheckRow(".env", Status.OK, f"{project_dir / ENV_NAME} parses")
    ]  # fmt: skip
    return found + [CheckRow(name, Status.FAIL, "; ".join(p)) for name, p in rows.items()]


def missing_keys(project: Project) -> list[str]:
    return [key for key in REQUIRED_KEYS if key not in project.env]


def required_keys_row(missing: list[str]) -> CheckRow:
    if missing:
        return CheckRow(
            "required keys",
            Status.FAIL,
            f"missing from .env: {', '.join(missing)}; re-run `wizard setup` to add them",
        )
    return CheckRow("required keys", Status.OK, f"all {len(REQUIRED_KEYS)} present")


def resolve_current(project: Project) -> tuple[Resolved | None, list[CheckRow]]:
    """The deployment's settings, validated by the same rules as setup (secret lengths, dirs...),
    from the same layers as setup with nothing given on top."""
    try:
        resolved = build(
            project.layered(Answers([])),
            cwd=project.root,
            existing_documents=project.documents,
            documents_root=project.stack.documents_root,
        )
    except InputError as exc:
        return None, [CheckRow("settings", Status.FAIL, problem) for problem in exc.problems]
    secrets = 2 + len(resolved.config.secrets)
    return resolved, [
        CheckRow("settings", Status.OK, f"values are valid, and all {secrets} secrets are set")
    ]


def plan_rows(plan: Plan) -> list[CheckRow]:
    """What the files on disk should hold, compared with the plan of the same answers."""
    project, config = plan.project, plan.config
    rows = [
        CheckRow("required variables", Status.FAIL, problem)
        for problem in plan.unset_required_problems(os.environ)
    ]
    rows += reach_rows(plan)
    db = config.database
    if db.mode is PostgresMode.EXTERNAL and (warning := loopback_host_warning(db.host)):
        rows.append(CheckRow("database host", Status.WARN, warning))
    rows.append(environment_row(project.env, config))
    differences = url_differences(project.env["DATABASE_URL"], config.database)
    if differences:
        rows.append(CheckRow(
            "DATABASE_URL",
            Status.FAIL,
            f"does not match the POSTGRES_* keys ({'; '.join(differences)}); re-run "
            "`wizard setup` to derive it again",
        ))  # fmt: skip
    else:
        rows.append(CheckRow("DATABASE_URL", Status.OK, "matches the POSTGRES_* keys"))
    planned = plan.env["COMPOSE_FILE"]
    if project.env.get("COMPOSE_FILE") != planned:
        rows.append(CheckRow(
            "COMPOSE_FILE",
            Status.WARN,
            f"is {project.env.get('COMPOSE_FILE')!r}; the wizard would set {planned!r}",
        ))  # fmt: skip
    for doc in config.documents:
        rows += document_rows(doc.source, doc.target, project.env)
    sources = [doc.source for doc in config.documents]
    rows += [
        CheckRow("documents", Status.FAIL, problem)
        for problem in document_dirs.project_problems(project.root, sources, "documents")
    ]
    rows += [
        CheckRow("documents", Status.WARN, warning)
        for warning in document_dirs.nested_warnings(sources)
    ]
    return rows


def environment_row(env: Mapping[str, str], config: Config) -> CheckRow:
    """Production needs INTERNAL_API_KEY (the services refuse to start without it); development
    shows exceptions in the web UI's error responses, which only this host should see."""
    environment = config.values.get("environment")
    if environment == Environment.PRODUCTION:
        if not env.get("INTERNAL_API_KEY"):
            return CheckRow(
                "environment",
                Status.FAIL,
                "production, but .env has no INTERNAL_API_KEY: the stack's services refuse to "
                "start without it; run `wizard setup` to generate it",
            )
        return CheckRow("environment", Status.OK, "production, INTERNAL_API_KEY set")
    address = config.bind_address
    if not is_loopback(address):
        return CheckRow(
            "environment",
            Status.WARN,
            f"development on {address}: the web UI's error responses show the exception to "
            "anyone who can reach it; run `wizard setup --environment production`",
        )
    return CheckRow("environment", Status.OK, f"development, published on {address} only")


def reach_rows(plan: Plan) -> list[CheckRow]:
    """Does each setting reach a service? Records of the wizard's own (USE_GPU, ...) say so."""
    if plan.project.base_file is None:
        return [
            CheckRow("settings reach", Status.SKIP, "no base compose file: no service to reach")
        ]
    readers = plan.readers
    reached = [f"{key} → {', '.join(names)}" for key, names in readers.items() if names]
    unread = [key for key, names in readers.items() if not names]
    rows = [CheckRow("settings reach", Status.OK, "; ".join(reached))]
    if unread:
        rows.append(CheckRow(
            "settings reach",
            Status.OK,
            f"read by no service (records for the wizard and compose): {', '.join(unread)}",
        ))  # fmt: skip
    if hand := plan.unread_keys():
        rows.append(CheckRow(
            "settings reach",
            Status.WARN,
            f"keys added to .env reach no service (no compose file passes them on, and the "
            f"stack reads no .env of its own): {', '.join(hand)}; remove them, or check the "
            "spelling",
        ))  # fmt: skip
    return rows


def document_rows(source: Path, target: str, env: Mapping[str, str]) -> list[CheckRow]:
    """What the containers will find at `target`, and whether their UID:GID may read it."""
    from wizard.host.documents import PREVIEW_BUDGET_S, container_user, preview

    try:
        found = preview(source, budget_s=PREVIEW_BUDGET_S, reader=container_user(env))
    except OSError as exc:
        return [
            CheckRow("documents", Status.FAIL, f"{source}: cannot be read ({exc.strerror or exc})")
        ]
    rows = [CheckRow("documents", Status.OK, f"{found.describe()} (at {target} in the containers)")]
    rows += [CheckRow("documents", Status.WARN, warning) for warning in found.warnings()]
    return rows


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
