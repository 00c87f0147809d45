"""A setup run as values: what it was asked (Request), what it did (Outcome), and what it reports
(its --json object, its closing messages, the next commands)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.config.answers import Answers
from wizard.config.resolve import Resolved
from wizard.config.settings import SETTINGS
from wizard.errors import Interrupted
from wizard.files.writer import WriteResult
from wizard.plan.model import Plan
from wizard.result import MessageKind, Result
from wizard.ui.review import mask, source_label


@dataclass(frozen=True)
class Request:
    project_dir: Path
    cwd: Path
    inputs: Answers
    interactive: bool


@dataclass
class Outcome:
    plan: Plan
    result: WriteResult | None
    dry_run: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


def interrupted_after_write(result: WriteResult | None, steps: list[str]) -> Interrupted:
    """Ctrl-C or SIGTERM once the files are in place: say so, never "nothing was written"."""
    if result is not None and result.written:
        done = f"interrupted after the files were written ({', '.join(result.written)})"
    else:
        done = "interrupted: the files already held this configuration, so nothing was written"
    if result is not None and result.backup_stamp:
        done += f"; backups of the replaced ones end in .bak.{result.backup_stamp}"
    return Interrupted(
        f"{done}; PostgreSQL was not started or not checked.\nNext: {'  then  '.join(steps)}",
        {"written": list(result.written), "backup": result.backup_stamp} if result else None,
    )


def next_steps(request: Request, *, first_install: bool = False) -> list[str]:
    """What to run after setup: `wizard up`, which starts the stack in order and, on a first
    install, creates the administrator before the web UI can take a registration (the stack
    makes its first user the superuser)."""
    steps = []
    if request.project_dir != request.cwd:
        steps.append(f"cd {shlex.quote(str(request.project_dir))}")
    up = f"{program()} up"
    steps.append(f"{up} --admin USERNAME --admin-email EMAIL" if first_install else up)
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
    return value if isinstance(value, int | float | bool) or value is None else str(value)


def setup_result(outcome: Outcome) -> Result:
    """The run as a Result: outcome_json for --json, and what it wrote and what comes next."""
    result = Result(outcome_json(outcome))
    if outcome.dry_run:
        result.say(MessageKind.INFO, "Dry run: nothing was written.")
        return result
    written = outcome.result.written if outcome.result else ()
    root = outcome.plan.project.root
    if written:
        result.say(MessageKind.SUCCESS, "Wrote " + ", ".join(written) + f" in {root}")
        if outcome.result and outcome.result.backup_stamp:
            stamp = outcome.result.backup_stamp
            result.say(MessageKind.INFO, f"Backups of the replaced files end in .bak.{stamp}")
    else:
        result.say(MessageKind.INFO, "Nothing changed: the files already hold this configuration.")
    if outcome.next_steps:
        result.say(MessageKind.INFO, "Next: " + "  then  ".join(outcome.next_steps))
    return result


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    result = outcome.result
    return {
        "ok": True,
        "dry_run": outcome.dry_run,
        "project_dir": str(outcome.plan.project.root),
        "written": list(result.written) if result else [],
        "backup": result.backup_stamp if result else None,
        "changed": sorted(outcome.plan.changed),
        "settings": settings_json(outcome.plan.resolved),
        "checks": outcome.checks,
        "next_steps": outcome.next_steps,
    }
