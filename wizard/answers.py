"""Answers in layers: flags > WIZARD_* environment > answers file > current .env > defaults.

Every value remembers where it came from, so the review can say "from the answers file" and
`wizard show` can say which values are still defaults. Reading inputs is the only I/O here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from wizard.model import InputError


class Source(StrEnum):
    FLAG = "flag"
    ENV = "environment"
    FILE = "answers file"
    EXISTING = "current .env"
    PROMPT = "answered"
    GENERATED = "generated"
    DEFAULT = "default"


@dataclass(frozen=True)
class Option:
    """An answer: flag `--name`, variable `WIZARD_NAME`, key `name` in the answers file."""

    key: str
    kind: str = "str"  # "str", "bool" or "list"
    secret: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def env_var(self) -> str:
        return "WIZARD_" + self.key.upper()


OPTIONS: tuple[Option, ...] = (
    Option("deployment"),
    Option("gpu_ids"),
    Option("doc_dir", kind="list"),
    Option("create_doc_dirs", kind="bool"),
    Option("postgres_mode"),
    Option("postgres_host"),
    Option("postgres_port"),
    Option("postgres_db"),
    Option("postgres_user"),
    Option("postgres_sslmode"),
    Option("postgres_sslrootcert"),
    Option("postgres_host_port"),
    Option("postgres_password", secret=True),
    Option("postgres_password_file"),
    Option("rotate_postgres_password", kind="bool"),
    Option("jwt_secret", secret=True),
    Option("jwt_secret_file"),
    Option("rotate_jwt_secret", kind="bool"),
    Option("token_expiry_minutes"),
    Option("log_level"),
    Option("bind_address"),
    Option("db_timeout"),
    Option("skip_db_check", kind="bool"),
    Option("skip_port_check", kind="bool"),
    Option("start_db", kind="bool"),
    Option("yes", kind="bool"),
    Option("dry_run", kind="bool"),
)
OPTION_BY_KEY = {option.key: option for option in OPTIONS}


@dataclass(frozen=True)
class Answer:
    value: Any
    source: Source


class Answers:
    """A lookup through layers, topmost first (a ChainMap that remembers which layer answered)."""

    def __init__(self, layers: Sequence[tuple[Source, Mapping[str, Any]]] = ()) -> None:
        self._layers = tuple((source, dict(values)) for source, values in layers)

    def on_top(self, source: Source, values: Mapping[str, Any]) -> Answers:
        return Answers(((source, values), *self._layers))

    def below(self, source: Source, values: Mapping[str, Any]) -> Answers:
        return Answers((*self._layers, (source, values)))

    def layer(self, source: Source) -> Mapping[str, Any]:
        for layer_source, values in self._layers:
            if layer_source is source:
                return values
        return {}

    def get(self, key: str) -> Answer | None:
        for source, values in self._layers:
            if key in values and values[key] is not None:
                return Answer(values[key], source)
        return None

    def value(self, key: str, default: Any = None) -> Any:
        answer = self.get(key)
        return default if answer is None else answer.value

    def source(self, key: str) -> Source | None:
        answer = self.get(key)
        return None if answer is None else answer.source

    def given(self, key: str) -> bool:
        """True when the person fixed this value for this run (flag, environment, file, prompt)."""
        return self.source(key) in (Source.FLAG, Source.ENV, Source.FILE, Source.PROMPT)


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """WIZARD_* variables. A list (WIZARD_DOC_DIR) holds one path per line (paths may hold ':')."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = environ.get(option.env_var)
        if raw is None:
            continue
        if option.kind == "list":
            values[option.key] = [line for line in raw.splitlines() if line.strip()]
        else:
            values[option.key] = raw
    return values


def from_answers_file(path: Path) -> dict[str, Any]:
    """Read an answers file (YAML mapping). Raises InputError listing every problem in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([f"--answers: cannot read {path}: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(
            [f"--answers: {path} is not valid YAML{where}; fix the file or remove the line"]
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError([f"--answers: {path} must be a mapping of answer names to values"])
    problems: list[str] = []
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        option = OPTION_BY_KEY.get(key)
        if option is None:
            problems.append(f"answers file: unknown answer {raw_key!r}; known answers: {_known()}")
        elif option.secret:
            problems.append(
                f"answers file: {raw_key} must not be stored in an answers file (it is a secret); "
                f"use {option.env_var} or --{key.replace('_', '-')}-file"
            )
        elif option.kind == "list":
            items = value if isinstance(value, list) else [value]
            values[key] = [str(item) for item in items if item is not None]
        elif isinstance(value, dict | list):
            problems.append(
                f"answers file: {raw_key} must be a single value, not a {type(value).__name__}"
            )
        else:
            values[key] = value
    if problems:
        raise InputError(problems)
    return values


def _known() -> str:
    return ", ".join(option.key for option in OPTIONS if not option.secret)


def read_secret_file(path: str, option: str) -> str:
    """A secret from a file, or stdin for '-'. One trailing LF or CRLF is removed, nothing else."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(os.path.expanduser(path), encoding="utf-8", newline="") as handle:
                text = handle.read()
    except OSError as exc:
        raise InputError([f"{option}: cannot read {path}: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise InputError([f"{option}: {path} is not UTF-8 text"]) from None
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


SECRETS = ("postgres_password", "jwt_secret")


def with_secret_files(values: Mapping[str, Any]) -> dict[str, Any]:
    """One input layer with each `<secret>_file` read into `<secret>`, so it ranks like its layer.

    Raises InputError when a layer gives a secret both directly and as a file, or a file cannot
    be read.
    """
    result = dict(values)
    problems: list[str] = []
    for secret in SECRETS:
        path = result.pop(f"{secret}_file", None)
        if path is None:
            continue
        option = "--" + f"{secret}_file".replace("_", "-")
        if result.get(secret) is not None:
            problems.append(
                f"{option}: {OPTION_BY_KEY[secret].env_var} is given too; give the secret one way"
            )
            continue
        try:
            result[secret] = read_secret_file(str(path), option)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return result
