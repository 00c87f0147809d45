"""Answers in layers: flags > WIZARD_* environment > answers file > current .env > defaults.

Every value remembers where it came from, so the review can say "from the answers file" and
`wizard show` can say which values are still defaults. Reading inputs is the only I/O here.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from wizard.config.model import MAX_SECRET_BYTES, SECRET_LIMIT
from wizard.config.options import FLAGGED, Option
from wizard.errors import InputError
from wizard.stack.profile import profile


class Source(StrEnum):
    FLAG = "flag"
    ENV = "environment"
    FILE = "answers file"
    EXISTING = "current .env"
    PROMPT = "answered"
    GENERATED = "generated"
    DEFAULT = "default"


# Every answer: the ones with flags (wizard.config.options), then the stack's other secrets,
# which have none (templates/stack.yaml: WIZARD_REDIS_PASSWORD, ...).
OPTIONS: tuple[Option, ...] = (
    *FLAGGED,
    *(Option(secret.answer, secret=True) for secret in profile().secrets),
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

    def flag(self, key: str) -> bool:
        """A yes/no run option (dry_run, ...) by the same parse as resolve's: a value that is not
        a boolean counts as no here, and resolve reports it (exit 2)."""
        from wizard.config.model import parse_bool

        value, _ = parse_bool(self.value(key, False), key)
        return bool(value)

    def given(self, key: str) -> bool:
        """True when the person fixed this value for this run (flag, environment, file, prompt)."""
        return self.source(key) in (Source.FLAG, Source.ENV, Source.FILE, Source.PROMPT)


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """WIZARD_* variables. A list (WIZARD_DOC_DIR) holds one path per line (paths may hold ':').

    An empty variable counts as unset, as it does for the options typer reads itself
    (`WIZARD_LOG_LEVEL=` in a CI file means "not given", not "the empty log level").
    """
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = environ.get(option.env_var)
        if raw is None or raw == "":
            continue
        if option.kind == "list":
            lines = [line for line in raw.splitlines() if line.strip()]
            if lines:
                values[option.key] = lines
        else:
            values[option.key] = raw
    return values


class _AnswersLoader(yaml.SafeLoader):
    """YAML as a person writing an answers file means it: only true/false are booleans.

    PyYAML's YAML 1.1 reads the keys `yes`, `no`, `on` and `off` as booleans, so `yes: true`
    (the answer "skip the confirmation") would arrive as the key True. A key given twice is an
    error rather than the last one silently winning.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            key = str(self.construct_object(key_node, deep=deep)).replace("-", "_")
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _RepeatedAnswer(key, seen[key], line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _RepeatedAnswer(yaml.YAMLError):
    def __init__(self, key: str, first: int, second: int) -> None:
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


_AnswersLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_AnswersLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_answers_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The answers in the file, and every problem in it; the valid answers are returned even when
    others are not, so that the run can report the problems of every input together. A key given
    as null counts as not given; relative paths are made relative to the file's directory."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return {}, [f"--answers: cannot read {path}: {exc.strerror}"]
    except UnicodeDecodeError:
        return {}, [f"--answers: {path} is not UTF-8 text"]
    try:
        data = yaml.load(text, Loader=_AnswersLoader)
    except _RepeatedAnswer as exc:
        return {}, [
            f"--answers: {path} gives {exc.key} twice (lines {exc.first} and {exc.second}); "
            "keep one"
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return {}, [f"--answers: {path} is not valid YAML{where}; fix the file or remove the line"]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [f"--answers: {path} must be a mapping of answer names to values"]
    problems: list[str] = []
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        option = OPTION_BY_KEY.get(key)
        if option is None:
            problems.append(
                f"answers file: unknown answer {str(raw_key)!r}; known answers: {_known()}"
            )
        elif option.secret:
            problems.append(
                f"answers file: {raw_key} must not be stored in an answers file (it is a secret); "
                f"use {option.env_var}"
                + (f" or --{key.replace('_', '-')}-file" if key in SECRETS else "")
            )
        elif value is None:
            continue
        elif option.kind == "list":
            items = value if isinstance(value, list) else [value]
            if any(isinstance(item, dict | list) for item in items):
                problems.append(f"answers file: {raw_key} must be a path or a list of paths")
                continue
            # An empty entry stays, so that it is refused rather than silently dropped.
            paths = [_beside(path, "" if item is None else str(item)) for item in items]
            if paths:
                values[key] = paths
        elif isinstance(value, dict | list):
            problems.append(
                f"answers file: {raw_key} must be a single value, not a {type(value).__name__}"
            )
        elif key in PATH_ANSWERS:
            values[key] = _beside(path, str(value))
        else:
            values[key] = value
    return values, problems


# Answers that name a file or directory. In an answers file a relative path is relative to the
# file itself, as in a compose file: the answers and the paths they name travel together, and the
# meaning does not depend on where the job happens to run. (Flags and variables are relative to the
# current directory, as on any command line.)
PATH_ANSWERS = frozenset(
    {"doc_dir", "postgres_sslrootcert", "postgres_password_file", "jwt_secret_file"}
)


def _beside(answers_file: Path, value: str) -> str:
    value = value.strip()
    if value in ("", "-"):
        return value  # '-' is stdin, not a file
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded):
        return expanded
    return os.path.join(os.path.dirname(os.path.abspath(answers_file)), expanded)


def _known() -> str:
    return ", ".join(option.key for option in OPTIONS if not option.secret)


def read_secret_file(path: str, option: str) -> str:
    """A secret from a file, or stdin for '-'. One trailing LF or CRLF is removed, nothing else.

    At most MAX_SECRET_BYTES (and that line break) are read: /dev/zero, or a log file given by
    mistake, is refused without being read whole."""
    where = "stdin" if path == "-" else path
    limit = MAX_SECRET_BYTES + len(b"\r\n")
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(os.path.expanduser(path), "rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError([f"{option}: cannot read {path}: {exc.strerror}"]) from None
    data = data.removesuffix(b"\n").removesuffix(b"\r") if data.endswith(b"\n") else data
    if len(data) > MAX_SECRET_BYTES:
        raise InputError(
            [f"{option}: {where} holds more than {MAX_SECRET_BYTES} bytes; {SECRET_LIMIT}"]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError([f"{option}: {where} is not UTF-8 text"]) from None


SECRETS = ("postgres_password", "jwt_secret")


def secret_file_key(secret: str) -> str:
    """The answer that names the file a secret is read from (`postgres_password_file`)."""
    return f"{secret}_file"


def secret_file_label(secret: str, source: Source) -> str:
    """How the person gave the file of `secret` through `source`, for messages."""
    key = secret_file_key(secret)
    if source is Source.ENV:
        return OPTION_BY_KEY[key].env_var
    if source is Source.FILE:
        return f"{key} in the answers file"
    return OPTION_BY_KEY[key].flag


def _read_secret_files(
    layers: Sequence[tuple[Source, Mapping[str, Any]]],
) -> tuple[list[tuple[Source, dict[str, Any]]], list[str]]:
    """Each secret read from the file named by the topmost layer that gives it at all.

    A file a higher layer overrides is not read (it may not even exist on this machine), and
    stdin ('-') is read at most once: two secrets cannot both come from it. The `<secret>_file`
    answer stays in its layer, so messages can name the option the secret came from.
    """
    result = [(source, dict(values)) for source, values in layers]
    problems: list[str] = []
    stdin_user: str | None = None
    for secret in SECRETS:
        file_key = secret_file_key(secret)
        for source, values in result:
            path = values.get(file_key)
            if values.get(secret) is None and path is None:
                continue  # not given in this layer: a lower one may give it
            if path is None:
                break  # given directly: nothing to read
            label = secret_file_label(secret, source)
            if values.get(secret) is not None:
                direct = OPTION_BY_KEY[secret].env_var
                problems.append(f"{label}: {direct} is given too; give the secret one way")
            elif str(path) == "-" and stdin_user is not None:
                problems.append(
                    f"{label}: stdin ('-') already holds the secret of {stdin_user}; "
                    "only one secret can be read from stdin, give the other in a file"
                )
            else:
                if str(path) == "-":
                    stdin_user = label
                try:
                    values[secret] = read_secret_file(str(path), label)
                except InputError as exc:
                    problems.extend(exc.problems)
            break
    return result, problems


def unknown_variables(environ: Mapping[str, str], also_known: Iterable[str] = ()) -> list[str]:
    """A problem for each WIZARD_* variable that is no answer: a misspelt
    WIZARD_POSTGRES_PASWORD would otherwise be ignored and a password generated in silence.
    `also_known` are the variables the command line reads itself (WIZARD_PROJECT_DIR, ...)."""
    known = {option.env_var for option in OPTIONS} | set(also_known)
    problems = []
    for name in sorted(environ):
        if not name.startswith("WIZARD_") or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"did you mean {close[0]}?" if close else "remove it or check the spelling"
        problems.append(f"{name}: is not a variable of `wizard setup`; {hint}")
    return problems


def load_inputs(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    answers_path: Path | None,
    cli_variables: Iterable[str] = (),
) -> tuple[Answers, list[str]]:
    """The layers this run was given (flags > WIZARD_* environment > answers file), every secret
    file read, and every problem found in them. What could be read is returned even when there
    are problems, so that they can be reported together with those of the values themselves.
    `cli_variables` are the WIZARD_* variables the command line reads itself."""
    problems = unknown_variables(environ, cli_variables)
    file_values: dict[str, Any] = {}
    if answers_path is not None:
        file_values, file_problems = read_answers_file(answers_path)
        problems += file_problems
    layers, secret_problems = _read_secret_files(
        [
            (Source.FLAG, dict(flags)),
            (Source.ENV, from_environment(environ)),
            (Source.FILE, file_values),
        ]
    )
    return Answers(layers), problems + secret_problems
