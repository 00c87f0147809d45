"""`wizard setup`: load, layer, resolve, plan, preflight, review, rotate, write, start.

The order matters: every check runs and every question is answered before the first byte is
written, so a failed run leaves the directory as it was. The Plan built here is what the review
shows, what the checks judge and exactly what the writer writes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wizard.commands import rotate, rotation
from wizard.commands.preflight import preflight, preview_documents, rerun_checks
from wizard.commands.setup_report import (
    Outcome,
    Request,
    interrupted_after_write,
    next_steps,
)
from wizard.config import document_dirs
from wizard.config.answers import Answers, Source
from wizard.config.model import PostgresMode
from wizard.config.resolve import Resolved, build, is_placeholder
from wizard.errors import Cancelled, CheckFailed, InputError
from wizard.files.lock import LockedError, project_lock
from wizard.files.project import ENV_NAME, Project, from_shell, load_project, read_file
from wizard.files.writer import PlannedFile, WriteResult, write_files
from wizard.host.targets import target_for
from wizard.plan.model import Plan, make_plan
from wizard.plan.warnings import placeholder_notes, stack_warnings, unmounted_documents_warning
from wizard.ui.console import UI
from wizard.ui.review import diff


def run(request: Request, ui: UI) -> Outcome:
    """Load the project (a malformed file ends the run here, with the directory untouched), then
    take the project lock for the rest of the run; a dry run takes none."""
    project = load_project(request.project_dir)
    if request.inputs.flag("dry_run"):
        return _run(request, project, ui, dry_run=True)
    try:
        with project_lock(request.project_dir):
            return _run(request, project, ui, dry_run=False)
    except LockedError as exc:
        raise CheckFailed(str(exc)) from None


def _run(request: Request, project: Project, ui: UI, *, dry_run: bool) -> Outcome:
    """The pipeline, in the order the module docstring gives."""
    project = _settled(project, request, ui)
    answers = project.layered(request.inputs, gpu_found=_adopted_on_a_gpu(project, request))
    if request.interactive:
        from wizard.commands.interactive import interactive

        plan = interactive(request, project, answers, ui)
    else:
        plan = _planned(request, project, answers, ui)
    _warn_and_recheck(request, plan, ui)
    if problems := plan.unset_required_problems(os.environ):
        raise InputError(problems)
    for kind, text in placeholder_notes(plan):
        ui.say(kind, text)
    if dry_run:
        show_diffs(plan, ui)
        if not plan.changed:
            ui.info("Nothing would change.")
        try:
            rotate.check_rotatable(plan.resolved, ui)
        except rotate.RotationFailed as exc:
            raise CheckFailed(str(exc)) from None
        return Outcome(plan, None, dry_run=True)
    if project.configured and not request.interactive:
        show_diffs(plan, ui)  # no review without a terminal: the log shows what changes
    outcome = _write(request, plan, ui)
    outcome.next_steps = next_steps(request, first_install=not project.configured)
    try:
        _start_database(request, ui, outcome)
    except (KeyboardInterrupt, EOFError):  # Ctrl-C, SIGTERM, or Ctrl-D at the offer
        raise interrupted_after_write(outcome.result, outcome.next_steps) from None
    except CheckFailed as exc:
        exc.report.update(written_report(outcome.result))
        raise
    return outcome


def _adopted_on_a_gpu(project: Project, request: Request) -> bool:
    """An adopted install (no USE_GPU) runs on a GPU when this host has one and no answer says
    otherwise: nvidia-smi decides, not the example file's CUDA_VISIBLE_DEVICES."""
    if not project.adopted or request.inputs.given("deployment"):
        return False
    from wizard.host.gpu import detect_gpus

    return detect_gpus().available


def _settled(project: Project, request: Request, ui: UI) -> Project:
    """A rotation a stopped server left unfinished is settled first (written with this run)."""
    if rotation.pending_password(project.env) is None:
        return project
    settled = rotation.settle(project, request.inputs.value("db_timeout"))
    if settled.project is None:
        raise CheckFailed(settled.message)
    ui.success(settled.message)
    return settled.project


def _planned(request: Request, project: Project, answers: Answers, ui: UI) -> Plan:
    """Without a terminal: resolve every answer, say what the documents hold, plan, preflight."""
    resolved = build(
        answers,
        cwd=request.cwd,
        existing_documents=project.documents,
        documents_root=project.stack.documents_root,
    )
    if warning := unmounted_documents_warning(project, resolved.config):
        ui.warn(warning)
    for doc in resolved.config.documents:
        preview_documents(ui, doc.source, {**project.env, **os.environ})
    plan = make_plan(project, resolved)
    # Until the rotation has run, the server knows only the current password: check with that
    # one (the rotation itself proves the new one).
    if note := from_shell(project, plan.env["COMPOSE_FILE"]):
        ui.warn(note)  # before the checks: a port the shell moved is the one they test
    current = rotate.keeping_current_password(resolved) if rotate.asked(resolved) else resolved
    preflight(plan, current.config, ui)
    return plan


def _warn_and_recheck(request: Request, plan: Plan, ui: UI) -> None:
    sources = [doc.source for doc in plan.config.documents]
    if problems := document_dirs.project_problems(plan.project.root, sources, "--doc-dir"):
        raise InputError(problems)
    for warning in document_dirs.nested_warnings(sources):
        ui.warn(warning)
    if not request.interactive:  # at a terminal the review said them
        for warning in stack_warnings(plan, interactive=False):
            ui.warn(warning)
    project, resolved = plan.project, plan.resolved
    if project.configured:
        # A rotation chosen at the prompt was warned about there; one given as a flag was not.
        prompted = resolved.sources.get("rotate_jwt_secret") is Source.PROMPT
        current_jwt = project.env.get("JWT_SECRET_KEY")
        rerun_checks(
            resolved,
            ui,
            warned=request.interactive and prompted,
            # Replacing the example file's placeholder signs nobody out: no token was signed
            # with it (the stack refuses to start with it).
            jwt_changed=bool(current_jwt)
            and not is_placeholder(current_jwt)
            and current_jwt != resolved.config.jwt_secret,
        )


def show_diffs(plan: Plan, ui: UI) -> None:
    """The redacted diff of each file that changes (made only here, where it is shown)."""
    for file in plan.files:
        if file.name in plan.changed:
            ui.diff(diff(file, plan.current(file.name), plan.project.env, plan.env))


def _write(request: Request, plan: Plan, ui: UI) -> Outcome:
    """Rotate the password (if asked), create the document directories, write the files.

    One guarded region from ALTER ROLE to the written .env (commands.rotate): whatever ends it
    early puts the server's old password back, or leaves .env holding both. Once the changed
    files are on disk (an interrupt in the writer's last steps), they stand.
    """
    created: list[Path] = []
    expected = dict(plan.project.read)
    try:
        with contextlib.ExitStack() as rotating:
            try:
                written_ahead = rotating.enter_context(
                    rotate.rotated(plan.project, plan.resolved, ui)
                )
            except rotate.RotationFailed as exc:
                resolved = _rotation_failed(exc, plan.resolved, ui, request.interactive)
                plan = make_plan(plan.project, resolved)  # the current password kept
                written_ahead = None
            if written_ahead is not None:
                expected[ENV_NAME] = written_ahead  # this run's own write-ahead
            for directory in plan.resolved.create_dirs:
                _create_directory(directory, created)
            if plan.resolved.create_model_cache is not None:
                _create_model_cache(plan.resolved.create_model_cache, created, plan.project.env)
            written = write_files(request.project_dir, plan.files, expected=expected)
            return Outcome(plan, written, dry_run=False)
    except BaseException:
        if not (plan.changed and _on_disk(plan.project, plan.files)):
            for directory in reversed(created):  # a failed run leaves the disk as it was
                with contextlib.suppress(OSError):
                    directory.rmdir()
        raise


def written_report(result: WriteResult | None) -> dict[str, Any]:
    """What a failure after the write adds to its --json object."""
    if result is None:
        return {}
    return {"written": list(result.written), "backup": result.backup_stamp}


def _on_disk(project: Project, files: tuple[PlannedFile, ...]) -> bool:
    """True when every planned file is on disk exactly as planned."""
    try:
        return all(read_file(project.root / file.name) == file.content for file in files)
    except (OSError, UnicodeDecodeError):
        return False


def _create_directory(path: Path, created: list[Path], what: str = "document directory") -> None:
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
            f"The {what} {path} could not be created: {exc.strerror or exc}.\nNothing was written."
        ) from None


def _create_model_cache(path: Path, created: list[Path], env: Mapping[str, str]) -> None:
    """The model cache, made writable by the containers' UID:GID, which download models into
    it (Docker would create a missing one owned by root)."""
    from wizard.host.documents import container_user

    _create_directory(path, created, what="model cache")
    if os.geteuid() == 0 and path in created:
        uid, gid = container_user({**env, **os.environ})
        os.chown(path, uid, gid)


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


def _start_database(request: Request, ui: UI, outcome: Outcome) -> None:
    """--start-db (or yes at the interactive offer): start the bundled server and validate it.

    Runs after the files are written, so every failure says so: the configuration is in place
    and only the start (or the check) is left to do.
    """
    resolved = outcome.plan.resolved
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
