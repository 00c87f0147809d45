"""The stack's contract as a value: `Stack`, built once per run by `load_stack`.

The base compose file (with the person's own override and every other file COMPOSE_FILE lists)
says which services exist, what they publish, which variables they require (`${VAR?}`,
`${VAR:?}`) or read with a default (`${VAR:-x}`), where the database keeps its data, which
services reserve GPUs and where the documents are bound. templates/stack.yaml (`profile`) says
what a compose file cannot. Every fact is derived once, when the Stack is built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import InputError
from wizard.stack.compose import (
    BASE_FILE_NAMES,
    OVERRIDE_NAME,
    OWN_OVERRIDE_NAMES,
    ComposeError,
    find_base_file,
    merge_services,
    services_of_text,
)
from wizard.stack.profile import Profile, Role, profile
from wizard.stack.resources import POSTGRES_COMPOSE

# --- what the base's strings say -------------------------------------------------------------

# `${NAME`, then its operator if any. `$$` (a literal `$`) is removed before matching.
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?|\$([A-Za-z_][A-Za-z0-9_]*)")
# `${NAME:-word}` / `${NAME-word}` with a word free of further references.
_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^${}]*)\}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def references(body: Any) -> set[str]:
    """The variables a service's definition interpolates."""
    found: set[str] = set()
    for text in _strings(body):
        for match in _REFERENCE.finditer(text.replace("$$", "")):
            found.add(match.group(1) or match.group(3))
    return found


@dataclass
class Required:
    """A variable the base requires: the services that do, and whether an empty value will do
    (`${VAR?}` asks only that it be set; `${VAR:?}` that it be set and not empty)."""

    services: list[str] = field(default_factory=list)
    empty_ok: bool = True


def required_variables(services: Mapping[str, Any]) -> dict[str, Required]:
    """Variable -> who requires it (`${VAR?...}` or `${VAR:?...}`)."""
    required: dict[str, Required] = {}
    for name, body in services.items():
        for text in _strings(body):
            for match in _REFERENCE.finditer(text.replace("$$", "")):
                if match.group(2) in ("?", ":?"):
                    entry = required.setdefault(match.group(1), Required())
                    if name not in entry.services:
                        entry.services.append(name)
                    entry.empty_ok = entry.empty_ok and match.group(2) == "?"
    return required


def variable_defaults(services: Mapping[str, Any]) -> dict[str, str]:
    """Variable -> the default the base gives it (`${VAR:-x}`), the first one found."""
    defaults: dict[str, str] = {}
    for body in services.values():
        for text in _strings(body):
            for match in _DEFAULT.finditer(text.replace("$$", "")):
                defaults.setdefault(match.group(1), match.group(2))
    return defaults


def gpu_reservations(services: Mapping[str, Any]) -> list[str]:
    """The services that reserve devices (`deploy.resources.reservations.devices`)."""
    found = []
    for name, body in services.items():
        deploy = body.get("deploy") if isinstance(body, Mapping) else None
        resources_ = deploy.get("resources") if isinstance(deploy, Mapping) else None
        reservations = resources_.get("reservations") if isinstance(resources_, Mapping) else None
        if isinstance(reservations, Mapping) and reservations.get("devices"):
            found.append(name)
    return sorted(found)


def volume_target(entry: Any) -> str | None:
    """The container path of a volume entry, short (`SRC:TARGET[:MODE]`) or long syntax."""
    if isinstance(entry, Mapping):
        target = entry.get("target")
        return str(target) if target is not None else None
    if isinstance(entry, str):
        parts = _split_volume(entry)
        if len(parts) == 1:
            return parts[0]
        return parts[1]
    return None


def _split_volume(text: str) -> list[str]:
    """`SRC:TARGET[:MODE]` split at the `:` outside `${...}`."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if text.startswith("${", i):
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif ch == ":" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def binds_target(body: Any, target: str) -> bool:
    volumes = body.get("volumes") if isinstance(body, Mapping) else None
    return any(volume_target(entry) == target for entry in volumes or [])


def depends_on(body: Any, service: str) -> str | None:
    """The condition on which `body` waits for `service` (None when it does not depend on it)."""
    value = body.get("depends_on") if isinstance(body, Mapping) else None
    if isinstance(value, list):
        return "service_started" if service in value else None
    if isinstance(value, Mapping) and service in value:
        spec = value[service]
        if isinstance(spec, Mapping) and spec.get("condition"):
            return str(spec["condition"])
        return "service_started"
    return None


def user_of(body: Any) -> str | None:
    """The raw `user:` of a service (`${UID:-1000}:${GID:-1000}`), None when it runs as root."""
    value = body.get("user") if isinstance(body, Mapping) else None
    return None if value is None else str(value)


def _documents_root(services: Mapping[str, Any], stack: Profile) -> str | None:
    """The container path where the base binds the documents (/mnt/docs) in a service that reads
    them; None when it binds them nowhere (no base file, or another stack)."""
    target = stack.documents_target
    for name in stack.role(Role.DOCUMENTS):
        if name in services and binds_target(services[name], target):
            return target
    return None


# Answers whose default is the base's own default for the variable they set.
_DEFAULTED_ANSWERS = (("POSTGRES_DB", "postgres_db"), ("POSTGRES_USER", "postgres_user"))


@dataclass(frozen=True)
class Stack:
    """The stack as its compose files and profile describe it. Built once per run; every field is
    derived when it is built, so no caller recomputes it."""

    root: Path
    base_file: Path | None
    # The person's own override file (compose.override.yaml, ...), if there is one.
    own_override: Path | None
    # The contract's files in compose's merge order, and the text each was read with.
    files: tuple[Path, ...]
    texts: Mapping[Path, str] = field(repr=False)
    # Service name -> its definition as written (uninterpolated), merged across the files.
    services: Mapping[str, Any] = field(repr=False)
    profile: Profile = field(repr=False)
    documents_root: str | None
    gpu_reserved: tuple[str, ...]
    required: Mapping[str, Required]
    defaults: Mapping[str, str]
    # Service -> the variables its definition interpolates.
    references: Mapping[str, frozenset[str]] = field(repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.services)

    @property
    def has_postgres(self) -> bool:
        """The stack's own compose file defines the database: its service and its data volume
        win, and docker-compose.postgres.yml stays out (compose would merge the volumes by target
        and run the database on a new, empty one)."""
        return self.profile.postgres_service in self.services

    def present(self, role: Role) -> tuple[str, ...]:
        """The services of `role` (templates/stack.yaml) that the compose files define."""
        return tuple(name for name in self.profile.role(role) if name in self.services)

    def answer_defaults(self) -> dict[str, str]:
        """Defaults the base itself gives (`${POSTGRES_DB:-semantik}`): a volume initialised by
        the stack's defaults has that database and role."""
        return {
            answer: self.defaults[key]
            for key, answer in _DEFAULTED_ANSWERS
            if self.defaults.get(key)
        }

    @property
    def base_name(self) -> str:
        return self.base_file.name if self.base_file is not None else "the base compose file"


# The files the wizard itself lists in COMPOSE_FILE; every other entry is someone's addition.
MANAGED_FILES = frozenset({*BASE_FILE_NAMES, POSTGRES_COMPOSE, OVERRIDE_NAME, *OWN_OVERRIDE_NAMES})


def split_compose_file(value: str) -> list[str]:
    """COMPOSE_FILE's entries (compose's default separator on Linux and macOS is ':'), spelled
    the way the wizard writes them (`./compose.yaml` is `compose.yaml`)."""
    return [os.path.normpath(name.strip()) for name in value.split(":") if name.strip()]


def contract_files(root: Path, compose_file: str) -> tuple[Path | None, Path | None, list[Path]]:
    """(base file, own override, every contract file in order): the base, the person's own
    override, and every other file COMPOSE_FILE lists (the stack's docker-compose.prod.yml, say):
    their ports are bound and their GPU reservations decided like the base's own."""
    base_file = find_base_file(root)
    own = next((root / name for name in OWN_OVERRIDE_NAMES if (root / name).is_file()), None)
    files = [path for path in (base_file, own) if path is not None]
    files += [
        root / name
        for name in split_compose_file(compose_file)
        if name not in MANAGED_FILES and (root / name).is_file() and root / name not in files
    ]
    return base_file, own, files


def unreadable_entries(root: Path, compose_file: str) -> list[str]:
    """A problem for each file added to COMPOSE_FILE that is not there: `docker compose`
    stops on it ("stat ...: no such file or directory"), so no configuration that lists it
    would start."""
    problems = []
    for name in split_compose_file(compose_file):
        path = root / name
        if name in MANAGED_FILES or path.is_file():
            continue
        what = "a directory, not a compose file" if path.is_dir() else "not there"
        problems.append(
            f"COMPOSE_FILE in .env lists {name}, which is {what} ({path}): `docker compose` "
            "would stop on it; put the file there, or take it out of COMPOSE_FILE"
        )
    return problems


def load_stack(root: Path, env: Mapping[str, str]) -> Stack:
    """Read the contract's files once (`env`: .env's values; COMPOSE_FILE names the files, and
    the include paths are interpolated with the shell's variables first, as compose does).
    Raises InputError naming each file that cannot be read."""
    compose_file = env.get("COMPOSE_FILE", "")
    base_file, own_override, files = contract_files(root, compose_file)
    problems = unreadable_entries(root, compose_file)
    texts: dict[Path, str] = {}
    services: dict[str, Any] = {}
    for path in files:
        try:
            texts[path], found = services_of_text(path, {**env, **os.environ})
        except ComposeError as exc:
            problems.append(str(exc))
            continue
        services = merge_services(services, found)
    if problems:
        raise InputError(problems)
    return stack_of(root, base_file, own_override, tuple(texts), texts, services)


def stack_of(
    root: Path,
    base_file: Path | None,
    own_override: Path | None,
    files: tuple[Path, ...],
    texts: Mapping[Path, str],
    services: Mapping[str, Any],
) -> Stack:
    """The Stack of already-read services, every derived fact computed here, once."""
    stack = profile()
    return Stack(
        root=root,
        base_file=base_file,
        own_override=own_override,
        files=files,
        texts=texts,
        services=services,
        profile=stack,
        documents_root=_documents_root(services, stack),
        gpu_reserved=tuple(gpu_reservations(services)),
        required=required_variables(services),
        defaults=variable_defaults(services),
        references={name: frozenset(references(body)) for name, body in services.items()},
    )


# The .env template's comments that depend on the stack: what it says when the base file has
# its own PostgreSQL (docker-compose.postgres.yml is then not used), and the defaults it names.
_OWN_POSTGRES_COMMENTS = (
    (
        "# relative to this directory: the stack's base files, docker-compose.postgres.yml when "
        "the bundled\n# PostgreSQL is used, and docker-compose.override.yml (written by the "
        "wizard).\n",
        "# relative to this directory: the stack's base files (its own PostgreSQL among them) "
        "and\n# docker-compose.override.yml (written by the wizard).\n",
    ),
    (
        "# Where PostgreSQL runs: bundled (a container of this stack, docker-compose.postgres.yml)"
        " or\n",
        "# Where PostgreSQL runs: bundled (the stack's own postgres service) or\n",
    ),
)
_DEFAULT_COMMENT = re.compile(r"(?m)^(# [^\n]*Default: )([^\n]*?)(\.\n(?:#[^\n]*\n)*)(\w+)=")


def env_comments(template: str, services: Mapping[str, Any]) -> str:
    """The .env template with the comments that depend on the stack saying what this one does:
    the defaults of POSTGRES_DB/POSTGRES_USER its base gives, and no docker-compose.postgres.yml
    where the base has its own PostgreSQL."""
    defaults = variable_defaults(services)
    if profile().postgres_service in services:
        for generic, own in _OWN_POSTGRES_COMMENTS:
            template = template.replace(generic, own)

    def default(match: re.Match[str]) -> str:
        key = match.group(4)
        if key in dict(_DEFAULTED_ANSWERS) and defaults.get(key):
            return f"{match.group(1)}{defaults[key]}{match.group(3)}{key}="
        return match.group(0)

    return _DEFAULT_COMMENT.sub(default, template)


def is_contract_comment(line: str) -> bool:
    """True for a comment line `env_comments` may write (the template's own, in another form)."""
    own = {line for _, text in _OWN_POSTGRES_COMMENTS for line in text.splitlines()}
    return line in own or any(
        line.startswith(prefix)
        for prefix in ("# Name of the database the stack uses. Default: ",
                       "# Role (user) the stack connects as. Default: ")
    )  # fmt: skip
