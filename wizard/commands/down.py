"""`wizard down`: `docker compose down` in the deployment directory, never with -v (the volumes
hold the data: the database, the vectors, the queue)."""

from __future__ import annotations

from pathlib import Path

from wizard.commands.up import load_deployment
from wizard.result import MessageKind, Result

DOWN_TIMEOUT_S = 300.0


def down(project_dir: Path) -> Result:
    """Stop and remove the stack's containers and network; a Result with `ok` False (exit 1)
    when docker is missing or compose fails."""
    from wizard.host.compose_runner import ComposeRunner, ComposeUnavailable

    deployment = load_deployment(project_dir)
    try:
        runner = ComposeRunner.find(deployment.root, deployment.secrets)
    except ComposeUnavailable as exc:
        return _failed(str(exc))
    done = runner.compose(["down"], timeout=DOWN_TIMEOUT_S)
    if done.code is None:
        return _failed(f"`docker compose down` did not finish in {DOWN_TIMEOUT_S:g} s")
    if not done.ok:
        return _failed(f"`docker compose down` failed (exit {done.code}): {done.last_line}")
    result = Result({"ok": True})
    result.say(
        MessageKind.SUCCESS, "Stopped the stack (docker compose down); its volumes keep the data."
    )
    return result


def _failed(problem: str) -> Result:
    result = Result({"ok": False, "exit_code": 1, "problem": problem}, ok=False)
    result.say(MessageKind.PROBLEM, problem)
    return result
