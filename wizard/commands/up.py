"""`wizard up`: from the files `setup` wrote to a running stack whose administrator exists before
its web UI first starts.

Phases, in this order, each skipped when it is already done (so a second `up`, or one after a
failure, goes on where the last stopped): preflight, host directories, images, dependencies
(`up -d --wait`), schema (the stack's migrations in a one-off container), administrator (the
accounts layer, over the connection `wizard check` uses), then everything else and the web UI's
readiness. The web UI never runs before the administrator row exists, so there is no moment in
which the first person to register would become its superuser.

A failed phase is a Result with `ok` False (exit 1) naming the phase, the service and the last
lines of its log, masked. Ctrl-C raises Interrupted (exit 130) saying what was running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard.result import CheckRow, ChecksTable, MessageKind, Result, Status
from wizard.signals import interrupts_blocked

if TYPE_CHECKING:
    from wizard.accounts.operations import NewPassword
    from wizard.accounts.unit import Accounts
    from wizard.commands.up_deployment import Deployment
    from wizard.host.compose_runner import Completed, ComposeRunner
    from wizard.ui.console import UI

DEFAULT_TIMEOUT_S = 900
MAX_TIMEOUT_S = 86_400
BUILD_TIMEOUT_S = 4 * 3600.0  # not counted in --timeout; a GPU image takes 10-30 minutes
LOG_LINES = 30


class Phase(StrEnum):
    PREFLIGHT = "preflight"
    DIRECTORIES = "host directories"
    IMAGES = "images"
    DEPENDENCIES = "dependencies"
    SCHEMA = "schema"
    ADMINISTRATOR = "administrator"
    STACK = "stack"


@dataclass(frozen=True)
class Administrator:
    """The administrator to create unless an active one exists; None in UpRequest: one must
    exist already."""

    username: str
    email: str
    password: NewPassword = field(repr=False)


@dataclass(frozen=True)
class UpRequest:
    project_dir: Path
    build: bool = True
    timeout: float = DEFAULT_TIMEOUT_S
    admin: Administrator | None = None
    db_timeout: int = 5


class PhaseFailed(Exception):
    def __init__(self, phase: Phase, message: str, service: str | None = None,
                 log: list[str] | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.phase = phase
        self.service = service
        self.log = log or []


def load_deployment(project_dir: Path) -> Deployment:
    """The deployment as the project directory describes it (InputError without a setup): the
    one place `up` and `down` learn about it."""
    from wizard.commands.up_deployment import read_deployment

    return read_deployment(project_dir)


class Deadline:
    """--timeout for the whole run; time spent building does not count."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    @contextmanager
    def paused(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.end += time.monotonic() - start


def up(request: UpRequest, ui: UI) -> Result:
    """Run the phases; a Result (ok False after a failed phase). Raises Interrupted on Ctrl-C."""
    deployment = load_deployment(request.project_dir)
    run = _Run(request, deployment, ui)
    steps: list[tuple[Phase, Callable[[], str]]] = [
        (Phase.PREFLIGHT, run.preflight),
        (Phase.DIRECTORIES, run.directories),
        (Phase.IMAGES, run.images),
        (Phase.DEPENDENCIES, run.dependencies),
        (Phase.SCHEMA, run.schema),
        (Phase.ADMINISTRATOR, run.administrator),
        (Phase.STACK, run.stack),
    ]
    try:
        for number, (phase, step) in enumerate(steps, 1):
            run.phase(number, len(steps), phase, step)
    except PhaseFailed as failed:
        return run.failure(failed)
    except KeyboardInterrupt:
        from wizard.errors import Interrupted

        raise Interrupted(run.interrupted(), None) from None
    finally:
        if run.accounts is not None:
            run.accounts.close()
    return run.report()


class _Run:
    def __init__(self, request: UpRequest, deployment: Deployment, ui: UI) -> None:
        self.request = request
        self.deployment = deployment
        self.ui = ui
        self.deadline = Deadline(request.timeout)
        self._runner: ComposeRunner | None = None
        self.accounts: Accounts | None = None
        self.phases: list[dict[str, Any]] = []
        self.current = Phase.PREFLIGHT
        self.running = ""  # the command running now, for the message of an interrupt
        self.admin_name: str | None = None
        self.password: str | None = None
        self.readiness: dict[str, Any] = {}

    @property
    def runner(self) -> ComposeRunner:
        assert self._runner is not None, "preflight finds the runner"
        return self._runner

    # --- the frame of each phase ----------------------------------------------------------------

    def phase(self, number: int, total: int, phase: Phase, step: Callable[[], str]) -> None:
        self.current = phase
        if phase is not Phase.IMAGES and self.deadline.remaining() <= 0:
            raise PhaseFailed(phase, f"--timeout {self.deadline.seconds:g} s ran out before it")
        started = time.monotonic()
        title = f"[{number}/{total}] {phase.value.capitalize()}"
        with self._progress(title, live=phase is not Phase.IMAGES):
            detail = step()
        seconds = time.monotonic() - started
        self.phases.append({"phase": phase.value, "detail": detail, "seconds": round(seconds, 1)})
        self.ui.success(f"{title}: {detail} ({seconds:.0f} s)")

    @contextmanager
    def _progress(self, title: str, live: bool) -> Iterator[None]:
        """A status line with the elapsed time at a terminal; a plain line otherwise."""
        if not (self.ui.terminal and live):
            self.ui.info(f"{title} ...")
            yield
            return
        import threading

        started = time.monotonic()
        stop = threading.Event()
        status = self.ui.console.status(f"{title} ...")

        def tick() -> None:
            while not stop.wait(1.0):
                status.update(f"{title} ... {time.monotonic() - started:.0f} s")

        ticker = threading.Thread(target=tick, daemon=True)
        try:
            with interrupts_blocked():  # (rich's refresh thread, and the ticker)
                status.start()
                ticker.start()
            yield
        finally:
            stop.set()
            if ticker.ident is not None:
                ticker.join()
            status.stop()

    def compose(self, args: list[str], timeout: float, echo: bool = False) -> Completed:
        self.running = "docker compose " + " ".join(args)
        show = self.ui.info if echo else None
        done = self.runner.compose(args, timeout=timeout, echo=show)
        self.running = ""
        return done

    def wait_seconds(self) -> int:
        return max(int(self.deadline.remaining()), 1)

    # --- the phases: each returns one line saying what it did -----------------------------------

    def preflight(self) -> str:
        from wizard.commands.up_deployment import preflight_problems

        problems, runner = preflight_problems(self.deployment, self.request.db_timeout)
        self._runner = runner
        if problems:
            raise PhaseFailed(Phase.PREFLIGHT, "; ".join(problems))
        return "files, ports and Docker are ready"

    def directories(self) -> str:
        from wizard.host.bind_dirs import prepare

        d = self.deployment
        report = prepare(d.data_dirs, d.source_dirs, d.owner)
        if report.problems:
            raise PhaseFailed(Phase.DIRECTORIES, "; ".join(report.problems))
        made = ", ".join(str(path.relative_to(d.root)) if path.is_relative_to(d.root)
                         else str(path) for path in report.created)  # fmt: skip
        owner = ":".join(map(str, d.owner))
        return f"created {made} for {owner}" if made else f"all there, writable by {owner}"

    def images(self) -> str:
        built = self.deployment.built
        missing = [s for s, image in built.items() if not self.runner.image_exists(image)]
        if not missing:
            return f"all {len(built)} present" if built else "nothing to build"
        listed = ", ".join(f"{s} ({built[s]})" for s in missing)
        if not self.request.build:
            raise PhaseFailed(
                Phase.IMAGES,
                f"missing images: {listed}; run without --no-build, or build them with "
                f"`docker compose build {' '.join(missing)}`",
            )
        with self.deadline.paused():
            done = self.compose(["build", *missing], BUILD_TIMEOUT_S, echo=True)
        if not done.ok:
            raise PhaseFailed(
                Phase.IMAGES, f"`docker compose build` failed ({_exit(done.code)})",
                missing[0], list(done.lines)[-LOG_LINES:],
            )  # fmt: skip
        return f"built {', '.join(missing)}"

    def dependencies(self) -> str:
        names = self.deployment.dependencies
        if not names:
            return "none"
        return self._start(Phase.DEPENDENCIES, list(names))

    def _start(self, phase: Phase, names: list[str]) -> str:
        """`up -d --wait` for `names` (every service when empty), unless all are up already."""
        containers = {c.service: c for c in self.runner.containers()}
        wanted = names or list(self.deployment.services)
        if all(name in containers and containers[name].up for name in wanted):
            return f"{', '.join(wanted)} already running"
        wait = self.wait_seconds()
        args = ["up", "-d", "--wait", "--wait-timeout", str(wait), *names]
        done = self.compose(args, wait + 30.0)
        if not done.ok:
            service = self._failed_service(done.lines, wanted)
            why = done.last_line if done.code is not None else f"no answer in {wait + 30} s"
            raise PhaseFailed(
                phase, f"`docker compose up --wait` failed: {why}", service,
                self.runner.log_tail(service, LOG_LINES) if service else [],
            )  # fmt: skip
        return f"{', '.join(wanted)} healthy"

    def _failed_service(self, lines: tuple[str, ...], wanted: list[str]) -> str | None:
        import re

        containers = self.runner.containers()
        by_name = {c.name: c.service for c in containers}
        for line in reversed(lines):
            found = re.search(r"container (\S+) (?:is unhealthy|exited)", line)
            if found and found[1] in by_name:
                return by_name[found[1]]
        down = [c.service for c in containers if c.service in wanted and not c.up]
        return down[0] if down else (wanted[0] if wanted else None)

    def schema(self) -> str:
        from wizard.accounts.errors import AccountsError
        from wizard.accounts.schema import inspect_schema

        def present() -> bool:
            return bool(self._accounts().run(lambda r: inspect_schema(r.conn).compatible))

        try:
            if present():
                return "the stack's tables are there"
        except AccountsError as exc:
            raise PhaseFailed(Phase.SCHEMA, str(exc)) from None
        web = self.deployment.web_service
        args = ["run", "--rm", "--no-deps", "--entrypoint", "alembic", web, "upgrade", "head"]
        done = self.compose(args, self.deadline.remaining())
        if not done.ok:
            raise PhaseFailed(
                Phase.SCHEMA, f"the migrations failed (`alembic upgrade head`: {_exit(done.code)})",
                web, list(done.lines)[-LOG_LINES:],
            )  # fmt: skip
        if not present():
            raise PhaseFailed(Phase.SCHEMA, "the migrations ran, but the tables are not there")
        return "migrated (alembic upgrade head)"

    def _accounts(self) -> Accounts:
        if self.accounts is None:
            from wizard.accounts.operations import connect

            self.accounts = connect(self.deployment.root, self.request.db_timeout).accounts
        return self.accounts

    def administrator(self) -> str:
        from wizard.accounts import user_operations
        from wizard.accounts.errors import AccountsError
        from wizard.accounts.users import UserFilter

        admin = self.request.admin
        try:
            if admin is not None:
                outcome = user_operations.create_user(
                    self._accounts(), admin.username, admin.email, admin.password,
                    full_name=None, admin=True, if_no_admin=True,
                )  # fmt: skip
                if outcome.data.get("created"):
                    self.admin_name = admin.username
                    self.password = outcome.data.get("password")
                    return f"created {admin.username} <{admin.email}>"
            listed = user_operations.list_users(self._accounts(), UserFilter(admins=True))
        except AccountsError as exc:
            raise PhaseFailed(Phase.ADMINISTRATOR, str(exc)) from None
        users = listed.data.get("users") or []
        if not users:
            raise PhaseFailed(
                Phase.ADMINISTRATOR,
                "no active administrator exists; give --admin USERNAME --admin-email EMAIL",
            )
        self.admin_name = str(users[0]["username"])
        return f"{self.admin_name} exists already: nothing created"

    def stack(self) -> str:
        started = self._start(Phase.STACK, [])
        url = self.deployment.web_url
        if url is None:
            return started
        from wizard.host.readiness import wait_ready

        self.running = f"waiting for {url}"
        answer = wait_ready(url, self.deadline.remaining)
        self.running = ""
        self.readiness = {"ready": answer.ready, "services": answer.services}
        if not answer.ready:
            web = self.deployment.web_service
            raise PhaseFailed(
                Phase.STACK,
                f"the web UI is not ready by the deadline: {answer.describe()}",
                web, self.runner.log_tail(web, LOG_LINES),
            )  # fmt: skip
        return f"{started}; web UI {answer.describe()}"

    # --- the outcome ----------------------------------------------------------------------------

    def _services(self) -> list[dict[str, str]]:
        if self._runner is None:
            return []
        return [
            {"service": c.service, "state": c.state, "health": c.health}
            for c in self.runner.containers()
        ]

    def report(self) -> Result:
        services = self._services()
        data: dict[str, Any] = {
            "ok": True,
            "url": self.deployment.open_url,
            "administrator": self.admin_name,
            "phases": self.phases,
            "services": services,
            "readiness": self.readiness,
        }
        if self.password is not None:
            data["password"] = self.password
        rows = [
            CheckRow(
                s["service"],
                Status.OK if s["state"] == "running" and s["health"] in ("", "healthy")
                else Status.WARN,
                s["state"] + (f" ({s['health']})" if s["health"] else ""),
            )
            for s in services
        ]  # fmt: skip
        result = Result(data, ChecksTable(rows, title="Services"))
        if self.password is not None:
            result.say(
                MessageKind.INFO,
                "The administrator's generated password is printed above, once; it is stored "
                "nowhere.",
            )
        result.say(
            MessageKind.SUCCESS,
            f"The stack is ready: open {self.deployment.open_url} and log in as {self.admin_name}.",
        )
        return result

    def failure(self, failed: PhaseFailed) -> Result:
        service = f" ({failed.service})" if failed.service else ""
        data: dict[str, Any] = {
            "ok": False,
            "exit_code": 1,
            "phase": failed.phase.value,
            "service": failed.service,
            "problem": str(failed),
            "log_tail": failed.log,
            "phases": self.phases,
        }
        if self.password is not None:
            data["password"] = self.password
        result = Result(data, ok=False)
        result.say(MessageKind.PROBLEM, f"{failed.phase.value}{service} failed: {failed}")
        if failed.log:
            result.say(MessageKind.INFO, f"The last {len(failed.log)} lines of {failed.service}:")
            for line in failed.log:
                result.say(MessageKind.INFO, f"  | {line}")
        result.say(
            MessageKind.INFO, "Fix it and run `wizard up` again: it goes on where this run stopped."
        )
        return result

    def interrupted(self) -> str:
        what = f" while `{self.running}` was running" if self.running else ""
        return (
            f"interrupted in the {self.current.value} phase{what}; containers already started "
            "keep running: `wizard up` goes on where this stopped (`wizard down` stops them)"
        )


def _exit(code: int | None) -> str:
    return "it ran out of time" if code is None else f"exit {code}"
