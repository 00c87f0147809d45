"""`wizard setup`: load, layer, resolve, plan, preflight, review, rotate, write, start.

The order matters: every check runs and every question is answered before the first byte is
written, so a failed run leaves the directory as it was. The Plan built here is what the review
shows, what the checks judge and exactly what the writer writes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from wizard.commands import rotation
from wizard.commands.preflight import preflight, preview_documents, rerun_checks
from wizard.commands.setup_report import (
    Outcome,
    Request,
    interrupted_after_write,
    next_steps,
    program,
)
from wizard.config.answers import Answers, Source
from wizard.config.model import PostgresMode
from wizard.config.resolve import Resolved, build
from wizard.errors import Cancelled, CheckFailed, InputError
from wizard.files.lock import LockedError, project_lock
from wizard.files.project import Project, load_project, read_file
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
    answers = project.layered(request.inputs)
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
        _apply_password_rotation(plan.resolved, ui, request.interactive, dry_run=True)
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
    rotating = resolved.rotate_postgres_password and resolved.previous_password
    preflight(plan, (_keep_password(resolved) if rotating else resolved).config, ui)
    return plan


def _warn_and_recheck(request: Request, plan: Plan, ui: UI) -> None:
    for warning in stack_warnings(plan, interactive=request.interactive):
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
            jwt_changed=bool(current_jwt) and current_jwt != resolved.config.jwt_secret,
        )


def show_diffs(plan: Plan, ui: UI) -> None:
    """The redacted diff of each file that changes (made only here, where it is shown)."""
    for file in plan.files:
        if file.name in plan.changed:
            ui.diff(diff(file, plan.current(file.name), plan.project.env, plan.env))


def _write(request: Request, plan: Plan, ui: UI) -> Outcome:
    """Rotate the password (if asked), create the document directories, write the files.

    One guarded region from ALTER ROLE to the written .env: whatever ends it early (a failed
    write, Ctrl-C, SIGTERM) puts the server's old password back, or .env and the server would
    disagree and the stack could not log in.
    """
    undo_rotation: list[Callable[[BaseException], None]] = []
    created: list[Path] = []
    try:
        resolved = _apply_password_rotation(
            plan.resolved,
            ui,
            request.interactive,
            undo=undo_rotation,
            project_dir=request.project_dir,
        )
        if resolved is not plan.resolved:
            # The person chose to keep the current password: plan again with it.
            plan = make_plan(plan.project, resolved)
        for directory in resolved.create_dirs:
            _create_directory(directory, created)
        if resolved.create_model_cache is not None:
            _create_model_cache(resolved.create_model_cache, created, plan.project.env)
        written = write_files(request.project_dir, plan.files, expected=plan.project.read)
        return Outcome(plan, written, dry_run=False)
    except BaseException as exc:
        # Decided by what is on disk, not by where the interrupt landed: once the changed files
        # are in place (an interrupt in the writer's last steps), they stand, and the server
        # keeps the password the new .env holds.
        if not (plan.changed and _on_disk(plan.project, plan.files)):
            for undo in undo_rotation:
                undo(exc)
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


def _apply_password_rotation(
    resolved: Resolved,
    ui: UI,
    interactive: bool,
    *,
    dry_run: bool = False,
    undo: list[Callable[[BaseException], None]] | None = None,
    project_dir: Path | None = None,
) -> Resolved:
    """ALTER ROLE on the live server before .env changes.

    Returns the Resolved to write (the same one, or one keeping the current password when the
    person chose that). Once the server has the new password, an undo is appended to `undo`
    from inside change_password's own guard; the caller calls it with whatever (a failed write,
    an interrupt) ended the run before .env was written. A `dry_run` changes nothing: it only
    checks that the server accepts the current password, which the rotation needs, and raises
    CheckFailed like the real run when it does not. Whenever the server may have the new
    password while .env cannot get it, it is kept in `project_dir`'s .env as pending.
    """
    if not (resolved.rotate_postgres_password and resolved.previous_password):
        return resolved
    from wizard.host.database import DbProblem, PasswordChangeError, change_password, check_database

    config = resolved.config
    old = target_for(config, password=resolved.previous_password)
    previous, new_password = resolved.previous_password, config.database.password

    def set_back(reason: BaseException) -> None:
        what = (
            "Interrupted" if isinstance(reason, KeyboardInterrupt) else "Writing the files failed"
        )
        try:
            # A second Ctrl-C (or SIGTERM) must not cut the set-back short: held until it ends.
            with _signals_held():
                change_password(
                    target_for(config, password=new_password), previous, resolved.db_timeout
                )
        except PasswordChangeError as exc:
            if not exc.logged_in and exc.check.problem is DbProblem.AUTH:
                # change_password put it back itself (the interrupt came as it returned).
                ui.warn(f"{what}: the server keeps its old password.")
            else:
                kept = ""
                if project_dir is not None:
                    with _signals_held():  # saving the only copy of the new password
                        kept = " " + rotation.keep_pending(project_dir, new_password)
                ui.problem(
                    f"{what} and the server's password could not be changed back "
                    f"({exc.check.message}); the server now uses the NEW password.{kept}"
                )
        else:
            ui.warn(f"{what}: the server's password was changed back.")

    try:
        if dry_run:
            check = check_database(old, resolved.db_timeout)
            if check.server_version is None:  # no session: the rotation could not log in
                raise PasswordChangeError(check)
            ui.success("The server accepts the current PostgreSQL password: it can be rotated.")
            return resolved
        with ui.status("Changing the PostgreSQL password on the server"):
            change_password(
                old,
                new_password,
                resolved.db_timeout,
                on_changed=None if undo is None else lambda: undo.append(set_back),
            )
    except PasswordChangeError as exc:
        explanation = f"Password rotation failed: {exc.check.message}"
        if exc.server_has_new and project_dir is not None and not dry_run:
            with _signals_held():  # saving the only copy of the new password
                kept = rotation.keep_pending(project_dir, new_password)
            raise CheckFailed(f"{explanation} {kept}") from None
        if config.database.mode is PostgresMode.BUNDLED and exc.check.retryable:
            explanation += (
                " The bundled server's data volume keeps the password it was created with, so "
                "changing only .env would make the stack fail with 'password authentication "
                "failed' on its next start. Start it (docker compose up -d postgres) and re-run."
            )
        # Keeping the current password is a way out only while the server still has it.
        if interactive and not dry_run and not exc.server_has_new:
            from wizard.ui import prompter

            ui.problem(explanation)
            keep = prompter.select(
                "PostgreSQL password",
                [("Keep the current password", "keep"), ("Stop: write nothing", "stop")],
                default="keep",
            )
            if keep == "keep":
                return _keep_password(resolved)
            raise Cancelled() from None
        raise CheckFailed(f"{explanation} Nothing was written.") from None
    ui.success("PostgreSQL password changed on the server and verified.")
    return resolved


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends (then arrive as usual). The block must be
    bounded: here, by the database timeout."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _keep_password(resolved: Resolved) -> Resolved:
    database = replace(resolved.config.database, password=resolved.previous_password or "")
    return replace(
        resolved,
        config=replace(resolved.config, database=database),
        rotate_postgres_password=False,
    )


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
    waiting = f"{program()} check --wait 60"
    outcome.next_steps = [
        f"{program()} check" if step == waiting else step for step in outcome.next_steps
    ]
