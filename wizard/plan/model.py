"""The Plan: Project + Config -> everything this run would write and publish, built once.

The review shows a Plan, the preflight checks judge it, the writer writes exactly its files, and
`wizard check` compares the directory with it; later consumers (`up`, the Kubernetes export) read
the same value. Derived facts that not every run needs (the published ports, which service reads
which setting) are computed on first use and kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from wizard.config.envkeys import ENV_KEYS
from wizard.config.model import Config, PostgresMode
from wizard.config.resolve import Resolved
from wizard.files.project import ENV_NAME, Project, read_file
from wizard.files.writer import PlannedFile
from wizard.plan.override import render_override
from wizard.plan.render import (
    compose_files,
    compose_paths,
    env_values,
    render_env,
    setting_readers,
    variables_read,
)
from wizard.stack import resources
from wizard.stack.compose import OVERRIDE_NAME
from wizard.stack.ports import PublishedPort, published_ports

_COMPOSE_OWN = ("COMPOSE_", "DOCKER_")


@dataclass(frozen=True)
class Plan:
    project: Project
    resolved: Resolved
    # COMPOSE_FILE's entries, in compose's merge order.
    compose_files: tuple[str, ...]
    # Every .env key the wizard owns, as it will be.
    env: Mapping[str, str] = field(repr=False)
    override: str = field(repr=False)
    files: tuple[PlannedFile, ...] = field(repr=False)
    # The names of the planned files whose text differs from what is on disk now.
    changed: tuple[str, ...] = ()

    @property
    def config(self) -> Config:
        return self.resolved.config

    def current(self, name: str) -> str | None:
        """A planned file's text as it is on disk now (read when the Project was loaded)."""
        return current_text(self.project, name)

    @cached_property
    def ports(self) -> list[PublishedPort]:
        """Every host port the configuration will publish, the override as it is about to be
        written. Raises ComposeError when an entry cannot be read."""
        names = [name for name in self.compose_files if name != OVERRIDE_NAME]
        override_path = self.project.root / OVERRIDE_NAME
        texts = {**self.project.stack.texts, override_path: self.override}
        postgres = resources.data_root() / resources.POSTGRES_COMPOSE
        texts.setdefault(postgres, resources.postgres_compose())
        return published_ports(
            [*compose_paths(self.project, names), override_path],
            # compose takes a variable from the shell before .env.
            {**self.project.env, **self.env, **os.environ},
            texts,
        )

    @cached_property
    def readers(self) -> dict[str, tuple[str, ...]]:
        """Each .env key the wizard owns -> the services it reaches once the files are written."""
        return setting_readers(self.project, self.config, list(self.compose_files), self.override)

    def unread_keys(self) -> list[str]:
        """Keys of .env the wizard does not own that no service's definition interpolates (a
        person's addition, a typo, a key of the stack's example): they change nothing."""
        services = variables_read(self.project, list(self.compose_files), self.override)
        read: set[str] = set().union(*services.values())
        return [
            key
            for key in self.project.env
            # compose reads its own (COMPOSE_PROJECT_NAME, DOCKER_HOST, ...) itself.
            if key not in ENV_KEYS and key not in read and not key.startswith(_COMPOSE_OWN)
        ]

    def unset_required(self, environ: Mapping[str, str]) -> dict[str, list[str]]:
        """Variable -> services, for each variable the base requires (`${VAR?}`, `${VAR:?}`)
        that neither the wizard, the current .env nor `environ` sets: compose would refuse."""
        written = self.env

        def is_set(variable: str, empty_ok: bool) -> bool:
            for source in (written, self.project.env, environ):
                if variable in source and (empty_ok or source[variable] != ""):
                    return True
            return False

        return {
            variable: required.services
            for variable, required in sorted(self.project.stack.required.items())
            if not is_set(variable, required.empty_ok and variable not in written)
        }

    def unset_required_problems(self, environ: Mapping[str, str]) -> list[str]:
        """unset_required as problem sentences (exit 2)."""
        base = self.project.stack.base_name
        env_path = self.project.root / ENV_NAME
        return [
            f"{variable}: {base} requires it (services {', '.join(users)}) and the wizard does "
            f"not set it; add {variable}=... to {env_path} or the environment"
            for variable, users in self.unset_required(environ).items()
        ]


def make_plan(project: Project, resolved: Resolved) -> Plan:
    """Render every file once and note which of them change."""
    config = resolved.config
    files = compose_files(project, config)
    env = env_values(project, config, files)
    override = render_override(project, config, env)
    planned = [
        PlannedFile(ENV_NAME, render_env(project, env), mode=0o600, secret=True),
        PlannedFile(OVERRIDE_NAME, override, mode=0o644),
    ]
    bundled = config.database.mode is PostgresMode.BUNDLED and not project.stack.has_postgres
    if bundled and not (project.root / resources.POSTGRES_COMPOSE).exists():
        # The project directory is not the checkout: give it its own copy of the service.
        planned.append(PlannedFile(resources.POSTGRES_COMPOSE, resources.postgres_compose(), 0o644))
    changed = tuple(f.name for f in planned if current_text(project, f.name) != f.content)
    return Plan(project, resolved, tuple(files), env, override, tuple(planned), changed)


def current_text(project: Project, name: str) -> str | None:
    """A file of the project as it is on disk now; .env and the override as they were read when
    the Project was loaded (the writer compares again under the lock)."""
    if name == ENV_NAME:
        return project.env_text
    if name == OVERRIDE_NAME:
        return project.override_text
    return read_file(project.root / name)
