"""Files the wizard ships: the .env template, the stack's roles, the bundled PostgreSQL service.

In a checkout they live at the repository root (where `make wizard` uses them); a wheel carries
copies under wizard/_data (see pyproject.toml), so a non-editable install works from anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

POSTGRES_COMPOSE = "docker-compose.postgres.yml"


@cache
def data_root() -> Path:
    package = Path(__file__).resolve().parent.parent  # wizard/, above wizard/stack/
    bundled = package / "_data"
    return bundled if bundled.is_dir() else package.parent


@cache
def template(name: str) -> str:
    return (data_root() / "templates" / name).read_text(encoding="utf-8")


@cache
def postgres_compose() -> str:
    return (data_root() / POSTGRES_COMPOSE).read_text(encoding="utf-8")


@cache
def stack_profile() -> Mapping[str, Any]:
    """templates/stack.yaml as data (wizard.stack.contract gives it shape)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: several times faster
    data = yaml.load(template("stack.yaml"), Loader=loader) or {}
    return data if isinstance(data, dict) else {}


def roles() -> Mapping[str, tuple[str, ...]]:
    data = stack_profile()
    return {role: tuple(services) for role, services in (data.get("roles") or {}).items()}


@cache
def document_types() -> tuple[str, ...]:
    """The extensions of the files the stack indexes, lower case with the dot (".pdf")."""
    return tuple(str(ext).lower() for ext in stack_profile().get("document_types") or ())
