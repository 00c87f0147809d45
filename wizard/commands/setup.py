"""`wizard setup`: answers -> Config -> planned files -> checks -> review -> write.

The order matters: every check runs and every question is answered before the first byte is
written, so a failed run leaves the directory as it was.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard.commands import rotate, rotation
from wizard.commands.result import Result
from wizard.config.answers import Answers, Source
from wizard.config.contract import answer_defaults, documents_root, gpu_reservations, profile
from wizard.config.model import (
    Config,
    InputError,
    PostgresMode,
)
from wizard.config.resolve import Resolved, build, existing_answers, is_placeholder
from wizard.config.settings import SETTINGS
from wizard.files import resources
from wizard.files.project import OVERRIDE_NAME, Project, from_shell, load_project, read_file
from wizard.files.render import (
    OVERRIDE_HEADER,
    env_values,
    plan,
    setting_readers,
    unset_required,
)
from wizard.files.writer import PlannedFile, WriteResult, project_lock, write_files
from wizard.host import document_dirs
from wizard.host.port_plan import Verdict, checked_planned_ports, judge_ports
from wizard.host.targets import target_for, target_for_answers
from wizard.ui.console import UI
from wizard.ui.review import Row, diff, mask, source_label, unreached

if TYPE_CHECKING:
    # Imported where used: a run that never connects or checks ports does not pay for them.
    from wizard.host.database import DbCheck
    from wizard.host.ports import PortStatus


class CheckFailed(Exception):
    """A check failed (exit 1): a taken port, a refused database, a held lock.

    `result` is set when it failed after the files were written (starting PostgreSQL), so that
    the report names what was written and the backup set.
    """

    def __init__(self, message: str = "", result: WriteResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class Interrupted(Exception):
    """Ctrl-C or SIGTERM after the files were written (exit 130); the message names them.

    Before the write an interrupt stays a KeyboardInterrupt: nothing was written then.
    """

    def __init__(self, message: str, result: WriteResult | None) -> None:
        super().__init__(message)
        self.result = result


class Cancelled(Exception):
    """The person chose to stop; nothing was written."""


@dataclass(frozen=True)
class Request:
    project_dir: Path
    cwd: Path
    inputs: Answers
    interactive: bool


@dataclass
class Outcome:
    resolved: Resolved
    project: Project
    files: list[PlannedFile]
    result: WriteResult | None
    dry_run: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    # The files that change (their redacted diffs are made only where they are shown).
    diffs: dict[str, str] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)


def check_answers_database(answers: Answers, timeout: int) -> DbCheck:
    """Step 2's connection check: the external server as the answers so far describe it. A
    value the check cannot use is a failed check naming it, never an exception."""
    from wizard.host.database import DbCheck, DbProblem, check_database

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


def port_verdicts(
    project: Project, config: Config
) -> tuple[list[PortStatus], list[PortStatus], list[str]]:
    """(blocking, warnings, notes) by the one rule (host.port_plan.judge)."""
    blocking: list[PortStatus] = []
    warnings: list[PortStatus] = []
    notes: list[str] = []
    for judged in judge_ports(project, config):
        if judged.verdict is Verdict.OURS:
            notes.append(judged.message)
        elif judged.verdict is Verdict.UNSURE:
            warnings.append(judged.status)
        elif judged.verdict is Verdict.TAKEN:
            blocking.append(judged.status)
    return blocking, warnings, notes


# --- the run ------------------------------------------------------------------------------------


def layered(request: Request, project: Project) -> Answers:
    existing = existing_answers(
        project.env,
        project.documents,
        project.root,
        bool(gpu_reservations(project.base_services)),
    )
    if project.gpu_ids:
        # Recorded in the override's x-wizard block: part of the current deployment, like the
        # document directories (`wizard show` must not call them a default).
        existing["gpu_ids"] = ",".join(project.gpu_ids)
    return request.inputs.below(Source.EXISTING, existing).below(
        Source.DEFAULT, answer_defaults(project.base_services)
    )


def run(request: Request, ui: UI) -> Outcome:
    dry_run = bool(_flag(request.inputs, "dry_run"))
    if dry_run:
        return _run(request, ui, dry_run=True)
    from wizard.files.writer import LockedError

    try:
        with project_lock(request.project_dir):
            return _run(request, ui, dry_run=False)
    except LockedError as exc:
        raise CheckFailed(str(exc)) from None


def _flag(answers: Answers, key: str) -> bool:
    from wizard.config.model import parse_bool

    value, _ = parse_bool(answers.value(key, False), key)
    return bool(value)


def _run(request: Request, ui: UI, *, dry_run: bool) -> Outcome:
    project = load_project(request.project_dir)
    if rotation.pending_password(project.env) is not None:
        settled = rotation.settle(project, request.inputs.value("db_timeout"))
        if settled.project is None:
            raise CheckFailed(settled.message)
        ui.success(settled.message)
        project = settled.project  # written with the rest of this run
    answers = layered(request, project)
    if request.interactive:
        from wizard.commands.interactive import interactive

        resolved = interactive(request, project, answers, ui)
    else:
        resolved = build(
            answers,
            cwd=request.cwd,
            existing_documents=project.documents,
            documents_root=documents_root(project.base_services),
        )
        if warning := unmounted_documents_warning(project, resolved.config):
            ui.warn(warning)
        if note := from_shell(project):
            ui.warn(note)
        for doc in resolved.config.documents:
            preview_documents(ui, doc.source, {**project.env, **os.environ})
        # Until the rotation has run, the server knows only the current password: check with
        # that one (the rotation itself proves the new one).
        checked = rotate.keeping_current_password(resolved) if rotate.asked(resolved) else resolved
        _non_interactive_checks(project, checked, ui)
    sources = [doc.source for doc in resolved.config.documents]
    if problems := document_dirs.project_problems(project.root, sources, "--doc-dir"):
        raise InputError(problems)
    for warning in [*stack_warnings(project, resolved, interactive=request.interactive),
                    *document_dirs.nested_warnings(sources)]:  # fmt: skip
        ui.warn(warning)
    if project.configured:
        # A rotation chosen at the prompt was warned about there; one given as a flag was not.
        prompted = resolved.sources.get("rotate_jwt_secret") is Source.PROMPT
        current_jwt = project.env.get("JWT_SECRET_KEY")
        _rerun_checks(
            resolved,
            ui,
            warned=request.interactive and prompted,
            jwt_changed=bool(current_jwt) and current_jwt != resolved.config.jwt_secret,
        )

    if problems := unset_required(project, resolved.config, os.environ):
        raise InputError(problems)
    _placeholder_notes(project, resolved, ui)
    outcome = Outcome(resolved=resolved, project=project, files=[], result=None, dry_run=dry_run)

    def plan_files(resolved: Resolved) -> list[PlannedFile]:
        outcome.resolved, outcome.files = resolved, plan(project, resolved.config)
        outcome.diffs.clear()
        for file in outcome.files:
            current = read_file(project.root / file.name)
            if current != file.content:
                outcome.diffs[file.name] = ""  # the redacted text, made only where shown
        return outcome.files

    def show_diffs() -> None:
        after = env_values(project, outcome.resolved.config)
        for file in outcome.files:
            if file.name in outcome.diffs:
                current = read_file(project.root / file.name)
                ui.diff(diff(file, current, project.env, after))

    files = plan_files(resolved)
    if dry_run:
        show_diffs()
        if not outcome.diffs:
            ui.info("Nothing would change.")
        try:
            rotate.check_rotatable(resolved, ui)
        except rotate.RotationFailed as exc:
            raise CheckFailed(str(exc)) from None
        return outcome

    if project.configured and not request.interactive:
        # No review without a terminal: the log shows what changes (secrets redacted).
        show_diffs()
    created: list[Path] = []
    try:
        # One guarded region from ALTER ROLE to the written .env (commands.rotate): whatever
        # ends it early puts the server's old password back, or leaves .env holding both.
        with contextlib.ExitStack() as rotating:
            try:
                rotating.enter_context(rotate.rotated(project, resolved, ui))
            except rotate.RotationFailed as exc:
                resolved = _rotation_failed(exc, resolved, ui, request.interactive)
                files = plan_files(resolved)  # the current password kept: plan again with it
            for directory in resolved.create_dirs:
                _create_directory(directory, created)
            outcome.result = write_files(request.project_dir, files)
    except BaseException:
        if not (outcome.diffs and _on_disk(project, files)):
            for directory in reversed(created):  # a failed run leaves the disk as it was
                with contextlib.suppress(OSError):
                    directory.rmdir()
        raise
    outcome.next_steps = next_steps(request, resolved, first_install=not project.configured)
    try:
        _start_database(request, resolved, ui, outcome)
    except (KeyboardInterrupt, EOFError):  # Ctrl-C, SIGTERM, or Ctrl-D at the offer
        raise _interrupted_after_write(outcome) from None
    except CheckFailed as exc:
        exc.result = outcome.result
        raise
    return outcome


def _on_disk(project: Project, files: list[PlannedFile]) -> bool:
    """True when every planned file is on disk exactly as planned."""
    try:
        return all(read_file(project.root / file.name) == file.content for file in files)
    except (OSError, UnicodeDecodeError):
        return False


def _interrupted_after_write(outcome: Outcome) -> Interrupted:
    """Ctrl-C or SIGTERM once the files are in place: say so, never "nothing was written"."""
    result = outcome.result
    if result is not None and result.written:
        done = f"interrupted after the files were written ({', '.join(result.written)})"
    else:
        done = "interrupted: the files already held this configuration, so nothing was written"
    if result is not None and result.backup_stamp:
        done += f"; backups of the replaced ones end in .bak.{result.backup_stamp}"
    return Interrupted(
        f"{done}; PostgreSQL was not started or not checked.\n"
        f"Next: {'  then  '.join(outcome.next_steps)}",
        result,
    )


def stack_warnings(project: Project, resolved: Resolved, *, interactive: bool) -> list[str]:
    """What this configuration does that a person may not expect, one sentence each."""
    config, env = resolved.config, project.env
    db = config.database
    found: list[str] = []
    bundled = db.mode is PostgresMode.BUNDLED
    if bundled and env.get("POSTGRES_MODE", "bundled") == PostgresMode.BUNDLED.value:
        for key, value in (("POSTGRES_DB", db.name), ("POSTGRES_USER", db.user)):
            if env.get(key) and env[key] != value:
                found.append(
                    f"{key} changes from {env[key]!r} to {value!r}: the bundled PostgreSQL "
                    "creates its database and role only when its data volume is first created, "
                    "so create them on the server too, or the stack cannot log in."
                )
    if db.mode is PostgresMode.EXTERNAL and db.host in ("127.0.0.1", "::1", "localhost"):
        found.append(
            f"The external server is at {db.host}: inside a container that is the container "
            "itself. Give the host's address on the network the containers reach it by."
        )
    override = project.override_text
    if override is not None and not override.startswith(OVERRIDE_HEADER.splitlines()[0]):
        found.append(
            f"{OVERRIDE_NAME} was not written by the wizard: it is replaced (a backup is kept); "
            "keep your own settings in compose.override.yaml, which the wizard leaves alone."
        )
    if not interactive:
        # At a terminal the review says these; without one, the log must.
        if ipaddress.ip_address(config.bind_address).is_unspecified:
            found.append(
                f"Ports bind to {config.bind_address}: every service the stack publishes is "
                "reachable from the network."
            )
        for secret in profile().secrets:
            if secret.key in resolved.rotated and secret.rotation_warning:
                found.append(f"{secret.key} is rotated: {secret.rotation_warning}.")
    return found


def _placeholder_notes(project: Project, resolved: Resolved, ui: UI) -> None:
    """An install made from the stack's example file may still hold its placeholders."""
    for key in resolved.replaced_placeholders:
        ui.info(f"{key} in .env was the stack example's placeholder: the wizard generated one.")
    if is_placeholder(project.env.get("POSTGRES_PASSWORD")) and not (
        resolved.rotate_postgres_password
    ):
        ui.warn(
            "POSTGRES_PASSWORD in .env is the stack example's placeholder. It is kept: a "
            "database volume created with it knows only that one. Change it on the server with "
            "`wizard setup --rotate-postgres-password`."
        )


def unreached_warning(project: Project, config: Config, table: list[Row]) -> str | None:
    """Which settings of the review reach no service of the stack, if any do not."""
    if project.base_file is None:
        return None  # said by unmounted_documents_warning, naming the stack it expects
    missing = unreached(table, setting_readers(project, config))
    if not missing:
        return None
    return (
        f"These settings reach no service of {project.base_file.name}: {', '.join(missing)}. "
        "Its services do not read them; they are recorded in .env only."
    )


def unmounted_documents_warning(project: Project, config: Config) -> str | None:
    """Why the document directories would be mounted into no service; None when one reads them."""
    from wizard.files.render import document_services

    if not config.documents or document_services(project):
        return None
    names = ", ".join(resources.roles().get("documents", ())) or "none"
    if project.base_file is None:
        return (
            f"No service of the base compose file reads the documents: {project.root} has no "
            "base compose file (compose.yaml, docker-compose.yml, ...), so the document "
            "directories are recorded but mounted nowhere. Run the wizard in the directory of "
            f"the {profile().stack} stack's docker-compose.yml (templates/stack.yaml names the "
            f"services that read them: {names})."
        )
    return (
        f"No service of the base compose file reads the documents: {project.base_file.name} "
        f"defines none of the services templates/stack.yaml names for them ({names}), so the "
        "document directories are recorded but mounted nowhere. Name the stack's services "
        "under roles.documents in templates/stack.yaml."
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


def _create_directory(path: Path, created: list[Path]) -> None:
    """`mkdir -p path`, adding each directory it creates to `created` as it goes. Raises
    CheckFailed, naming the directory and the reason, when one cannot be created."""
    missing: list[Path] = []
    parent = path
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    try:
        for directory in reversed(missing):
            try:
                directory.mkdir()
            except FileExistsError:
                if not directory.is_dir():
                    raise
                continue  # made by someone else meanwhile: not this run's to remove
            created.append(directory)
    except OSError as exc:
        raise CheckFailed(
            f"The document directory {path} could not be created: {exc.strerror or exc}."
            "\nNothing was written."
        ) from None


def _non_interactive_checks(project: Project, resolved: Resolved, ui: UI) -> None:
    config = resolved.config
    if config.deployment.value == "gpu":
        from wizard.host.gpu import detect_gpus

        detection = detect_gpus()
        if not detection.available:
            ui.warn(f"GPU deployment chosen, but {detection.summary()}")
    if resolved.option("skip_port_check"):
        checked_planned_ports(project, config)
    else:
        blocking, warnings, notes = port_verdicts(project, config)
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

        target = target_for(config)
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


def _rerun_checks(resolved: Resolved, ui: UI, *, warned: bool, jwt_changed: bool) -> None:
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
    from wizard.host.database import DbProblem, check_database

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


def _rotation_failed(
    exc: rotate.RotationFailed, resolved: Resolved, ui: UI, interactive: bool
) -> Resolved:
    """At a terminal, while the server still has the current password, offer to keep it (the
    Resolved to write then); otherwise the run fails."""
    if not (interactive and exc.keep_possible):
        raise CheckFailed(str(exc)) from None
    from wizard.ui import prompter

    ui.problem(exc.explanation)
    keep = prompter.select(
        "PostgreSQL password",
        [("Keep the current password", "keep"), ("Stop: write nothing", "stop")],
        default="keep",
    )
    if keep != "keep":
        raise Cancelled() from None
    return rotate.keeping_current_password(resolved)


def _start_database(request: Request, resolved: Resolved, ui: UI, outcome: Outcome) -> None:
    """--start-db (or yes at the interactive offer): start the bundled server and validate it.

    Runs after the files are written, so every failure says so: the configuration is in place
    and only the start (or the check) is left to do.
    """
    config = resolved.config
    wanted = resolved.option("start_db")
    if config.database.mode is not PostgresMode.BUNDLED:
        if wanted:
            ui.warn(
                "--start-db starts the bundled PostgreSQL only; the external one is left as is."
            )
        return
    if not wanted and not request.interactive:
        return
    from wizard.host.docker import find_compose, start_postgres

    written = ", ".join(outcome.result.written) if outcome.result else ""
    done = f"The files were written ({written})" if written else "The files are in place"
    then = "  then  ".join(outcome.next_steps)
    compose = find_compose()
    if compose.command is None:
        if wanted:
            raise CheckFailed(
                f"{done}, but --start-db could not start PostgreSQL: `docker compose` is not "
                f"available here ({compose.missing}).\nWhere Docker runs: {then}"
            )
        return
    if not wanted:
        from wizard.ui import prompter

        if not prompter.confirm("Start PostgreSQL now and check the connection?", default=True):
            return
    with ui.status("Starting PostgreSQL (docker compose up -d postgres)"):
        started = start_postgres(request.project_dir, compose.command)
    if not started.ok:
        raise CheckFailed(f"{done}, but PostgreSQL was not started: {started.message}.")
    ui.success(started.message)
    from wizard.host.database import wait_for_database

    # 60 s: a first start initialises the data volume before the server accepts connections.
    with ui.status("Waiting for PostgreSQL to accept connections"):
        result = wait_for_database(target_for(config), resolved.db_timeout, 60)
    outcome.checks.append({"name": "database", "ok": result.ok, "detail": result.message})
    if not result.ok:
        raise CheckFailed(
            f"{done} and PostgreSQL was started, but it does not answer: {result.message}"
        )
    ui.success(
        f"Database: PostgreSQL {result.server_version} at {config.host_address}:"
        f"{config.database.host_port} answers, and the app's role can create tables."
    )
    waiting = f"{program()} check --wait 60"
    outcome.next_steps = [
        f"{program()} check" if step == waiting else step for step in outcome.next_steps
    ]


def next_steps(request: Request, resolved: Resolved, *, first_install: bool = False) -> list[str]:
    steps = []
    if request.project_dir != request.cwd:
        steps.append(f"cd {shlex.quote(str(request.project_dir))}")
    steps += ["docker compose up -d", f"{program()} check --wait 60"]
    if first_install:
        # Before anyone else can register (the web UI makes its first user the superuser).
        steps.append(f"{program()} user create USERNAME --email EMAIL --admin")
    return steps


def program() -> str:
    """How to run this wizard again: `wizard` if that is on PATH, else the path it ran from."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "wizard"
    on_path = shutil.which("wizard")
    if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        return "wizard"
    # Absolute: the next steps may first `cd` into the project directory.
    if os.path.basename(argv0) == "wizard":
        return shlex.quote(os.path.abspath(argv0))
    if os.path.basename(argv0) == "__main__.py":
        return f"{shlex.quote(sys.executable)} -m wizard"
    return "wizard"


# --- machine-readable result --------------------------------------------------------------------


def settings_json(resolved: Resolved) -> dict[str, Any]:
    config = resolved.config
    db = config.database
    return {
        "deployment": config.deployment.value,
        "gpu_ids": list(config.gpu_ids) or "all",
        "postgres": {
            "mode": db.mode.value,
            "host": db.host,
            "port": db.port,
            "database": db.name,
            "user": db.user,
            "password": mask(db.password),
            "sslmode": db.sslmode.value,
            "sslrootcert": db.sslrootcert,
            "host_port": db.host_port,
        },
        "documents": [{"source": str(d.source), "target": d.target} for d in config.documents],
        "jwt_secret": mask(config.jwt_secret),
        **{s.key: _json_value(config.values[s.key]) for s in SETTINGS},
        "secrets": {key: mask(value) for key, value in config.secrets.items()},
        "sources": {key: source_label(source, key) for key, source in resolved.sources.items()},
    }


def _json_value(value: Any) -> Any:
    return value if isinstance(value, int | bool) or value is None else str(value)


def setup_result(outcome: Outcome) -> Result:
    """The run as a Result: outcome_json for --json, and what it wrote and what comes next."""
    result = Result(outcome_json(outcome))
    if outcome.dry_run:
        result.say("info", "Dry run: nothing was written.")
        return result
    written = outcome.result.written if outcome.result else ()
    if written:
        result.say("success", "Wrote " + ", ".join(written) + f" in {outcome.project.root}")
        if outcome.result and outcome.result.backup_stamp:
            stamp = outcome.result.backup_stamp
            result.say("info", f"Backups of the replaced files end in .bak.{stamp}")
    else:
        result.say("info", "Nothing changed: the files already hold this configuration.")
    if outcome.next_steps:
        result.say("info", "Next: " + "  then  ".join(outcome.next_steps))
    return result


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    result = outcome.result
    return {
        "ok": True,
        "dry_run": outcome.dry_run,
        "project_dir": str(outcome.project.root),
        "written": list(result.written) if result else [],
        "backup": result.backup_stamp if result else None,
        "changed": sorted(outcome.diffs),
        "settings": settings_json(outcome.resolved),
        "checks": outcome.checks,
        "next_steps": outcome.next_steps,
    }
