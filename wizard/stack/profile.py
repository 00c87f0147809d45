"""templates/stack.yaml as a value: what a compose file cannot say about the stack.

Which service plays which role, which secrets to generate and in which form, and the form in
which a setting reaches each service that reads it. Read once per process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from wizard.stack import resources


class SecretForm(StrEnum):
    """How a generated secret looks: `hex` (64 hex characters, safe inside the URLs the base
    pastes it into) or `fernet` (url-safe base64 of 32 random bytes)."""

    HEX = "hex"
    FERNET = "fernet"


class ValueForm(StrEnum):
    """The form in which a setting reaches a service (uvicorn wants `info`, not `INFO`)."""

    AS_IS = "as-is"
    LOWER = "lower"
    UPPER = "upper"

    def apply(self, value: str) -> str:
        if self is ValueForm.LOWER:
            return value.lower()
        if self is ValueForm.UPPER:
            return value.upper()
        return value


class Role(StrEnum):
    DOCUMENTS = "documents"  # read the document directories
    GPU = "gpu"  # run models: get the chosen NVIDIA devices
    DATABASE = "database"  # connect to PostgreSQL
    DEPENDENCIES = "dependencies"  # started and healthy before the migration (`wizard up`)


@dataclass(frozen=True)
class StackSecret:
    """A secret the stack reads: generated on the first run, kept on re-runs, `--rotate KEY`."""

    key: str  # the .env key
    label: str
    form: SecretForm
    rotation_warning: str = ""
    # Generated only when ENVIRONMENT is this (empty: always); kept or written when given.
    environment: str = ""
    # "stack": the stack's entrypoint checks it for strength (scripts/validate_env.py).
    strength: str = ""

    @property
    def answer(self) -> str:
        """Its answer key (`redis_password`), as `WIZARD_REDIS_PASSWORD` or in an answers file."""
        return self.key.lower()


@dataclass(frozen=True)
class Profile:
    stack: str
    roles: Mapping[Role, tuple[str, ...]]
    documents_variable: str
    documents_target: str
    postgres_service: str
    postgres_target: int
    secrets: tuple[StackSecret, ...]
    # .env key -> service -> the form it reaches that service in.
    settings: Mapping[str, Mapping[str, ValueForm]] = field(default_factory=dict)

    def role(self, name: Role) -> tuple[str, ...]:
        return self.roles.get(name, ())


@cache
def profile() -> Profile:
    data = resources.stack_profile()
    documents = data.get("documents") or {}
    postgres = data.get("postgres") or {}
    return Profile(
        stack=str(data.get("stack") or "the stack"),
        roles={Role(role): tuple(names) for role, names in (data.get("roles") or {}).items()},
        documents_variable=str(documents.get("variable") or "DOCUMENT_PATH"),
        documents_target=str(documents.get("target") or "/mnt/docs"),
        postgres_service=str(postgres.get("service") or "postgres"),
        postgres_target=int(postgres.get("target") or 5432),
        secrets=tuple(
            StackSecret(
                key=str(item["key"]),
                label=str(item.get("label") or item["key"]),
                form=SecretForm(str(item.get("form") or "hex")),
                rotation_warning=str(item.get("rotation_warning") or ""),
                environment=str(item.get("environment") or ""),
                strength=str(item.get("strength") or ""),
            )
            for item in data.get("secrets") or []
        ),
        settings={
            str(key): {str(s): ValueForm(str(form)) for s, form in (forms or {}).items()}
            for key, forms in (data.get("settings") or {}).items()
        },
    )
