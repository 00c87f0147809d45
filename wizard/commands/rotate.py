"""`--rotate-postgres-password`: ALTER ROLE on the live server, write-ahead, verified, undone.

The official image applies POSTGRES_PASSWORD only when its data volume is created, so a rotation
changes the role's password on the server first. Before ALTER ROLE is sent, the new password is
written into .env as POSTGRES_PASSWORD_PENDING (atomically, fsynced, no backup set): whatever ends
the process from then on, SIGKILL included, leaves a .env holding both passwords, and the next
`wizard setup` or `wizard check` settles it (commands.rotation). The caller then writes its files
inside `rotated()`; their .env (new password, no pending one) ends the rotation.

Nothing here asks anything: a failure is a RotationFailed, and the caller decides whether to offer
keeping the current password. Messages never contain a password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.commands.rotation import KEPT, PENDING_KEY
from wizard.config.model import PostgresMode
from wizard.config.resolve import Resolved
from wizard.files.project import ENV_NAME, Project, read_file
from wizard.host.targets import target_for
from wizard.signals import held
from wizard.stack import resources
from wizard.stack.envfile import read_env, update_env
from wizard.ui.console import UI

if TYPE_CHECKING:
    from wizard.host.db_values import PasswordChangeError


class RotationFailed(Exception):
    """The rotation did not happen (or its outcome is kept in .env); the message ends by saying
    what is on disk. `explanation` is the message without that ending. `keep_possible` is True
    while the server still has the current password, so keeping it is a way out."""

    def __init__(self, explanation: str, ending: str, *, keep_possible: bool) -> None:
        super().__init__(f"{explanation} {ending}")
        self.explanation = explanation
        self.keep_possible = keep_possible


def asked(resolved: Resolved) -> bool:
    """True when this run rotates the PostgreSQL password on a server that has one already."""
    return bool(resolved.rotate_postgres_password and resolved.previous_password)


def keeping_current_password(resolved: Resolved) -> Resolved:
    """`resolved` with the rotation dropped: the server's current password stays."""
    database = replace(resolved.config.database, password=resolved.previous_password or "")
    return replace(
        resolved,
        config=replace(resolved.config, database=database),
        rotate_postgres_password=False,
    )


def check_rotatable(resolved: Resolved, ui: UI) -> None:
    """The dry run's part: the server accepts the current password, which a rotation needs.
    Changes nothing; raises RotationFailed when it does not."""
    if not asked(resolved):
        return
    from wizard.host.database import check_database
    from wizard.host.db_values import PasswordChangeError

    check = check_database(
        target_for(resolved.config, password=resolved.previous_password), resolved.db_timeout
    )
    if check.server_version is None:  # no session: the rotation could not log in
        exc = PasswordChangeError(check)
        raise RotationFailed(_explain(exc, resolved), "Nothing was written.", keep_possible=False)
    ui.success("The server accepts the current PostgreSQL password: it can be rotated.")


@contextmanager
def rotated(project: Project, resolved: Resolved, ui: UI) -> Iterator[str | None]:
    """Rotate the password (when `resolved` asks for it) for the duration of the block, in which
    the caller writes .env with the new password. Nothing happens when no rotation is asked.

    On entry: once the server accepted the login, the pending password is written ahead, ALTER
    ROLE runs and the new password is proven by a fresh login; RotationFailed when that fails
    (the pending one is then dropped again, unless the server may have it). When the block
    raises (a failed write, Ctrl-C, SIGTERM) before .env holds the new password, the old one is
    set back on the server and the pending one dropped; if the set-back fails, .env keeps both
    and the message says so.
    `project` is the project as this run loaded (and perhaps settled) it, under the lock. Yields
    the .env text written ahead (None when no rotation is asked): what the caller's write finds.
    """
    if not asked(resolved):
        yield None
        return
    from wizard.host.db_password import change_password
    from wizard.host.db_values import PasswordChangeError

    root, before = project.root, project.env_text or ""
    old, new = resolved.previous_password or "", resolved.config.database.password
    changed = False
    ahead: str | None = None

    def proven() -> None:
        nonlocal changed
        changed = True

    def write_ahead() -> None:
        nonlocal ahead
        with held():  # short, and an interrupt must not cut it in half
            pending = update_env(before, {PENDING_KEY: new}, resources.template("env.template"))
            _write_env(root, pending)
            ahead = pending

    try:
        with ui.status("Changing the PostgreSQL password on the server"):
            change_password(
                target_for(resolved.config, password=old), new, resolved.db_timeout,
                before_change=write_ahead, on_changed=proven,
            )  # fmt: skip
        ui.success("PostgreSQL password changed on the server and verified.")
        yield ahead
    except PasswordChangeError as exc:
        if exc.server_has_new:  # .env holds both already: the next run settles it
            raise RotationFailed(
                f"Password rotation failed: {exc.check.message}",
                f"Nothing else was written: {KEPT}.",
                keep_possible=False,
            ) from None
        _drop_pending(root, before)
        raise RotationFailed(
            _explain(exc, resolved), "Nothing was written.", keep_possible=True
        ) from None
    except BaseException as exc:
        # Decided by what is on disk, not by where the interrupt landed: once .env holds the
        # new password (an interrupt in the writer's last steps), it stands.
        if not _env_holds(root, new) and (not changed or _set_back(resolved, old, new, exc, ui)):
            _drop_pending(root, before)
        raise


def _explain(exc: PasswordChangeError, resolved: Resolved) -> str:
    explanation = f"Password rotation failed: {exc.check.message}"
    if resolved.config.database.mode is PostgresMode.BUNDLED and exc.check.retryable:
        explanation += (
            " The bundled server's data volume keeps the password it was created with, so "
            "changing only .env would make the stack fail with 'password authentication "
            "failed' on its next start. Start it (docker compose up -d postgres) and re-run."
        )
    return explanation


def _set_back(resolved: Resolved, old: str, new: str, reason: BaseException, ui: UI) -> bool:
    """The old password back on the server; True when the server has it again. Where that
    fails, .env keeps the new one pending (written ahead), so this only says so."""
    from wizard.host.db_password import change_password
    from wizard.host.db_values import DbProblem, PasswordChangeError

    what = "Interrupted" if isinstance(reason, KeyboardInterrupt) else "Writing the files failed"
    try:
        # A second Ctrl-C (or SIGTERM) must not cut the set-back short: held until it ends.
        with held():
            change_password(target_for(resolved.config, password=new), old, resolved.db_timeout)
    except PasswordChangeError as exc:
        if not exc.logged_in and exc.check.problem is DbProblem.AUTH:
            # change_password put it back itself (the interrupt came as it returned).
            ui.warn(f"{what}: the server keeps its old password.")
            return True
        ui.problem(
            f"{what} and the server's password could not be changed back "
            f"({exc.check.message}); the server now uses the NEW password. "
            f"Nothing else was written: {KEPT}."
        )
        return False
    ui.warn(f"{what}: the server's password was changed back.")
    return True


def _env_holds(root: Path, password: str) -> bool:
    """True when .env on disk has `password` as POSTGRES_PASSWORD with nothing pending."""
    from wizard.stack.envfile import EnvParseError

    try:
        env = read_env(read_file(root / ENV_NAME) or "")
    except (OSError, UnicodeDecodeError, EnvParseError):  # not the file this run wrote
        return False
    return env.get("POSTGRES_PASSWORD") == password and not env.get(PENDING_KEY)


def _drop_pending(root: Path, before: str) -> None:
    """.env back to `before` (the server has the old password again). A failure is left to the
    next run: the pending password it finds is tried, refused, and dropped."""
    from wizard.files.writer import WriteError

    with held(), suppress(OSError, WriteError):
        _write_env(root, before)


def _write_env(root: Path, text: str) -> None:
    """.env replaced atomically and fsynced, without a backup set: the run's own write makes its
    one backup set, whose .env then holds both passwords (a rollback to it settles to the one
    the server has)."""
    from wizard.files.writer import PlannedFile, write_files

    write_files(root, [PlannedFile(ENV_NAME, text, mode=0o600, secret=True)], backup=False)
