"""The stack's contract: what its base compose file requires and reads, plus templates/stack.yaml.

The base compose file says which services exist, what they publish, which variables they require
(`${VAR?}`, `${VAR:?}`) or read with a default (`${VAR:-x}`), where the database keeps its data,
which services reserve GPUs and where the documents are bound. The stack profile says what a
compose file cannot: which service plays which role, which secrets to generate in which form, and
the form in which a setting reaches the services that read it. Pure data; reading files is left to
`project` and `resources`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from wizard.files import resources


@dataclass(frozen=True)
class StackSecret:
    """A secret the stack reads: generated on the first run, kept on re-runs, `--rotate KEY`."""

    key: str  # the .env key
    label: str
    form: str  # "hex" or "fernet"
    rotation_warning: str = ""

    @property
    def answer(self) -> str:
        """Its answer key (`redis_password`), as `WIZARD_REDIS_PASSWORD` or in an answers file."""
        return self.key.lower()


@dataclass(frozen=True)
class Profile:
    stack: str
    roles: Mapping[str, tuple[str, ...]]
    documents_variable: str
    documents_target: str
    postgres_service: str
    postgres_target: int
    secrets: tuple[StackSecret, ...]
    # .env key -> service -> form ("lower", "upper" or "as-is").
    settings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def role(self, name: str) -> tuple[str, ...]:
        return self.roles.get(name, ())


@cache
def profile() -> Profile:
    data = resources.stack_profile()
    documents = data.get("documents") or {}
    postgres = data.get("postgres") or {}
    return Profile(
        stack=str(data.get("stack") or "the stack"),
        roles={role: tuple(names) for role, names in (data.get("roles") or {}).items()},
        documents_variable=str(documents.get("variable") or "DOCUMENT_PATH"),
        documents_target=str(documents.get("target") or "/mnt/docs"),
        postgres_service=str(postgres.get("service") or "postgres"),
        postgres_target=int(postgres.get("target") or 5432),
        secrets=tuple(
            StackSecret(
                key=str(item["key"]),
                label=str(item.get("label") or item["key"]),
                form=str(item.get("form") or "hex"),
                rotation_warning=str(item.get("rotation_warning") or ""),
            )
            for item in data.get("secrets") or []
        ),
        settings={
            str(key): {str(s): str(form) for s, form in (forms or {}).items()}
            for key, forms in (data.get("settings") or {}).items()
        },
    )


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


def documents_root(services: Mapping[str, Any]) -> str | None:
    """The container path where the base binds the documents (/mnt/docs) in a service that reads
    them; None when it binds them nowhere (no base file, or another stack)."""
    target = profile().documents_target
    for name in profile().role("documents"):
        if name in services and binds_target(services[name], target):
            return target
    return None


# Answers whose default is the base's own default for the variable they set.
_DEFAULTED_ANSWERS = (("POSTGRES_DB", "postgres_db"), ("POSTGRES_USER", "postgres_user"))


def answer_defaults(services: Mapping[str, Any]) -> dict[str, str]:
    """Defaults the base itself gives (`${POSTGRES_DB:-semantik}`): a volume initialised by the
    stack's defaults has that database and role."""
    defaults = variable_defaults(services)
    return {answer: defaults[key] for key, answer in _DEFAULTED_ANSWERS if defaults.get(key)}


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
