"""Reading answers one field at a time: the defaults, and a Collector that gathers every
problem (naming the flag, variable or file entry the value came from) instead of stopping at the
first. Shared by resolve and its parts (database, documents)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wizard.config.answers import SECRETS, Answers, Source, secret_file_key, secret_file_label
from wizard.config.envkeys import ENV_ANSWERS
from wizard.config.model import (
    BUNDLED_PORT,
    DEFAULT_DB_TIMEOUT,
    Deployment,
    PostgresMode,
    check_secret_size,
    generate_secret,
)
from wizard.config.settings import SETTINGS
from wizard.errors import Problem
from wizard.stack.envfile import EnvValueError, quote_value

DEFAULTS: Mapping[str, Any] = {
    "deployment": Deployment.CPU.value,
    "postgres_mode": PostgresMode.BUNDLED.value,
    "postgres_port": str(BUNDLED_PORT),
    "postgres_db": "docsearch",
    "postgres_user": "docsearch",
    "postgres_host_port": str(BUNDLED_PORT),
    "db_timeout": str(DEFAULT_DB_TIMEOUT),
    **{setting.key: setting.default for setting in SETTINGS},
}


@dataclass(frozen=True)
class Unreadable:
    """A value of the current .env that does not parse, kept as written so that `build` reports
    it (naming the key) instead of a default silently taking its place."""

    text: str
    # The rest of the problem sentence: what is wrong and how to fix it.
    remedy: str


BOOL_OPTIONS = (
    "create_doc_dirs",
    "rotate_postgres_password",
    "rotate_jwt_secret",
    "skip_db_check",
    "skip_port_check",
    "start_db",
    "yes",
    "dry_run",
)


class Collector:
    """Parses answers one field at a time, gathering problems instead of stopping at the first."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.problems: list[str] = []
        self.sources: dict[str, Source] = {}

    def raw(self, key: str) -> Any:
        answer = self.answers.get(key)
        if answer is not None:
            self.sources[key] = answer.source
            return answer.value
        if key in DEFAULTS:
            self.sources[key] = Source.DEFAULT
            return DEFAULTS[key]
        return None

    def label(self, key: str) -> str:
        """How the person gave this answer, for messages: the flag, variable or file entry."""
        source = self.sources.get(key)
        name = "--" + key.replace("_", "-")
        if key in SECRETS and source in (Source.FLAG, Source.ENV, Source.FILE):
            layer = self.answers.layer(source)
            if layer.get(secret_file_key(key)) is not None:
                # There is no --postgres-password flag: the secret came from a file.
                return secret_file_label(key, source)
        if source is Source.EXISTING:
            if key == "doc_dir":
                return "a document directory of the current docker-compose.override.yml"
            reverse = {answer: env for env, answer in ENV_ANSWERS.items()}
            reverse["deployment"] = "USE_GPU"
            return f"{reverse.get(key, name)} in the current .env"
        if source is Source.ENV:
            return "WIZARD_" + key.upper()
        if source is Source.FILE:
            return f"{key} in the answers file"
        return name

    def problem(self, key: str, text: str) -> None:
        """A problem sentence about answer `key`, knowing where that answer came from."""
        source = self.sources.get(key)
        self.problems.append(Problem(text, key=key, source=source.value if source else None))

    def take(self, key: str, parser: Any, *args: Any) -> Any:
        raw = self.raw(key)
        if isinstance(raw, Unreadable):
            self.problem(key, f"{self.label(key)}: {raw.text!r} {raw.remedy}")
            return None
        value, problem = (
            parser(*args, raw, self.label(key)) if args else parser(raw, self.label(key))
        )
        if problem:
            self.problem(key, problem)
        return value


def has_control_characters(text: str) -> bool:
    # .env cannot hold them (envfile.quote_value refuses them), and no sane name contains one.
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def take_secret(
    c: Collector,
    key: str,
    rule: Any,
    env_key: str,
    rotate: bool,
    *,
    keep_existing: bool = True,
    generate: Any = generate_secret,
    rotate_hint: str = "",
) -> tuple[str, str | None]:
    """(value, previous value). Kept from .env unless given or rotation is asked for; with
    `keep_existing` False the value in .env belongs to something else and does not count (and
    there is no previous value)."""
    answer = c.answers.get(key)
    current = c.answers.layer(Source.EXISTING).get(key) if keep_existing else None
    previous = str(current) if current else None
    if answer is not None and answer.source is Source.EXISTING and not keep_existing:
        answer = None
    if answer is None or (rotate and answer.source is Source.EXISTING):
        c.sources[key] = Source.GENERATED
        return str(generate()), previous
    c.sources[key] = answer.source
    value = str(answer.value)
    label = c.label(key) if answer.source is not Source.EXISTING else env_key
    problem = check_secret_size(value, label) or rule(value, label)
    if problem:
        if answer.source is Source.EXISTING:
            problem += f"; rotate it with {rotate_hint or '--rotate-' + key.replace('_', '-')}"
        c.problem(key, problem)
    else:
        try:
            quote_value(env_key, value)
        except EnvValueError as exc:
            c.problem(key, f"{c.label(key)}: {exc}")
    return value, previous
