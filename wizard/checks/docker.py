"""Docker: whether `docker compose`, which `wizard up` (what "Next:" names) runs, can run the
configuration here."""

from __future__ import annotations

from wizard.result import CheckRow, Status


def docker_row() -> CheckRow:
    """ok when compose can run it; fail for a compose too old for the override's `!override`
    and `!reset`; a warning for the rest (no docker, no compose plugin, the daemon down)."""
    from wizard.host.docker import DockerState, docker_status

    found = docker_status()
    levels = {DockerState.READY: Status.OK, DockerState.OLD_COMPOSE: Status.FAIL}
    return CheckRow("docker", levels.get(found.state, Status.WARN), found.message)
