"""`wizard up`'s flags in, a checked UpRequest out, before anything starts.

Every problem is listed at once (InputError, exit 2). The administrator is settled here too: with
--admin its values are checked; without it, at a terminal the person is asked (unless an active
administrator exists), and without a terminal the run stops (exit 2) naming --admin, so an
unattended first start can never leave the web UI without one. The password comes from a file,
stdin, WIZARD_ADMIN_PASSWORD (removed from the environment once read) or is generated; never
from a flag value, and it is never handed to a child process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.commands.up import MAX_TIMEOUT_S, Administrator, UpRequest
from wizard.errors import InputError

if TYPE_CHECKING:
    from wizard.accounts.operations import NewPassword

PASSWORD_VARIABLE = "WIZARD_ADMIN_PASSWORD"
NEED_ADMIN = (
    "--admin: no active administrator exists yet (or the database is not running), and "
    "without a terminal nobody can be asked; give --admin USERNAME --admin-email EMAIL with "
    "--admin-password-file FILE or --generate-password"
)


@dataclass(frozen=True)
class UpFlags:
    project_dir: Path
    build: bool
    timeout: int
    admin: str | None
    admin_email: str | None
    admin_password_file: str | None
    generate_password: bool
    interactive: bool
    db_timeout: int


def build_request(flags: UpFlags) -> UpRequest:
    """The request, or InputError listing every problem of the flags."""
    from wizard.config.model import parse_db_timeout

    secret = os.environ.pop(PASSWORD_VARIABLE, None) or None
    problems: list[str] = []
    if not 1 <= flags.timeout <= MAX_TIMEOUT_S:
        problems.append(f"--timeout: {flags.timeout} is not valid; give 1 to {MAX_TIMEOUT_S} s")
    _, problem = parse_db_timeout(str(flags.db_timeout), "--db-timeout")
    problems += [problem] if problem else []
    project_dir = flags.project_dir.resolve()
    given = flags.admin or flags.admin_email or flags.admin_password_file or flags.generate_password
    admin: Administrator | None = None
    if given or secret:
        admin = _given_admin(flags, secret, problems)
    elif not _admin_exists(project_dir, flags.db_timeout):
        if not flags.interactive:
            problems.append(NEED_ADMIN)
        elif not problems:
            admin = _asked_admin()
    if problems:
        raise InputError(problems)
    return UpRequest(
        project_dir=project_dir,
        build=flags.build,
        timeout=float(flags.timeout),
        admin=admin,
        db_timeout=flags.db_timeout,
    )


def _given_admin(flags: UpFlags, secret: str | None, problems: list[str]) -> Administrator | None:
    from wizard.accounts.hashing import generate_password
    from wizard.accounts.operations import NewPassword
    from wizard.accounts.rules import email_problems, password_problems, username_problems

    if not flags.admin:
        problems.append("--admin: give the administrator's username (with --admin-email)")
    else:
        problems += username_problems(flags.admin, "--admin")
    if not flags.admin_email:
        problems.append("--admin-email: the administrator's email is required with --admin")
    else:
        problems += email_problems(flags.admin_email, "--admin-email")
    sources = [flags.admin_password_file is not None, flags.generate_password, secret is not None]
    password: NewPassword | None = None
    if sum(sources) > 1:
        problems.append(
            f"--admin-password-file, --generate-password, {PASSWORD_VARIABLE}: give one of them"
        )
    elif flags.generate_password:
        password = NewPassword(generate_password(), generated=True)
    elif flags.admin_password_file is not None or secret is not None:
        from wizard.config.answers import read_secret_file

        field = "--admin-password-file" if secret is None else PASSWORD_VARIABLE
        text = secret if secret is not None else read_secret_file(
            str(flags.admin_password_file), field
        )  # fmt: skip
        problems += password_problems(text, field)
        password = NewPassword(text, generated=False)
    elif not flags.interactive:
        problems.append(
            "--admin-password-file or --generate-password: one is needed without a terminal"
        )
    if problems or not flags.admin or not flags.admin_email:
        return None
    return Administrator(flags.admin, flags.admin_email, password or _typed_password())


def _admin_exists(project_dir: Path, db_timeout: int) -> bool:
    """True when the deployment's database answers and has an active administrator; False when
    it has none, has no tables yet, or does not answer (a first start)."""
    from wizard.accounts.errors import AccountsError
    from wizard.accounts.operations import connect

    try:
        with connect(project_dir, db_timeout).accounts as accounts:
            return bool(accounts.run(lambda r: r.users.count_admins()))
    except AccountsError:
        return False


def _asked_admin() -> Administrator:
    from wizard.accounts.rules import email_problems, username_problems
    from wizard.ui import prompter
    from wizard.ui.console import UI

    UI().info(
        "The stack has no administrator yet: it is created before the web UI starts, so "
        "nobody can register first and become one."
    )
    username = prompter.text(
        "Administrator's username",
        validate=lambda text: next(iter(username_problems(text, "username")), None),
    )
    email = prompter.text(
        "Administrator's email",
        validate=lambda text: next(iter(email_problems(text, "email")), None),
    )
    return Administrator(username, email, _chosen_password())


def _chosen_password() -> NewPassword:
    from wizard.accounts.hashing import generate_password
    from wizard.accounts.operations import NewPassword
    from wizard.ui import prompter

    generate = prompter.select(
        "Administrator's password",
        [("Generate one (printed once at the end)", True), ("Type one", False)],
        default=True,
    )
    if generate:
        return NewPassword(generate_password(), generated=True)
    return _typed_password()


def _typed_password() -> NewPassword:
    from wizard.accounts.operations import NewPassword
    from wizard.accounts.rules import password_problems
    from wizard.ui import prompter
    from wizard.ui.console import UI

    while True:
        first = prompter.secret(
            "Administrator's password (hidden)",
            validate=lambda text: next(iter(password_problems(text)), None),
        )
        if prompter.secret("Password again") == first:
            return NewPassword(first, generated=False)
        UI().problem("The two passwords differ; enter it again.")
