"""What is in a project directory now: the .env, the wizard's override, the Stack.

Loading never changes anything. A malformed .env or override is an input problem (exit 2) with
line numbers, so the wizard never overwrites a file it could not read.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wizard.config.answers import Answers, Source
from wizard.config.model import DocumentDir
from wizard.config.resolve import existing_answers
from wizard.errors import InputError
from wizard.stack.compose import OVERRIDE_NAME, parse_yaml, variables_in
from wizard.stack.contract import Stack, load_stack, split_compose_file
from wizard.stack.envfile import EnvParseError, read_env

ENV_NAME = ".env"


@dataclass(frozen=True)
class Project:
    """The directory as it is now: .env, the wizard's override (its x-wizard block), the Stack.
    Built once per run by `load_project`."""

    root: Path
    env_text: str | None
    env: Mapping[str, str] = field(repr=False)
    override_text: str | None
    documents: tuple[DocumentDir, ...]
    gpu_ids: tuple[str, ...]
    stack: Stack
    # .env and the override as they were read from disk (None: absent): the writer checks,
    # under the lock, that they still are.
    read: Mapping[str, str | None] = field(default_factory=dict, repr=False)

    @property
    def configured(self) -> bool:
        """True on a re-run: the wizard has written this directory before."""
        return self.env_text is not None

    @property
    def base_file(self) -> Path | None:
        return self.stack.base_file

    @property
    def own_override(self) -> Path | None:
        return self.stack.own_override

    @property
    def adopted(self) -> bool:
        """A .env the wizard did not write (made from the stack's example file): no USE_GPU."""
        return self.configured and "USE_GPU" not in self.env

    def layered(self, inputs: Answers, *, gpu_found: bool = False) -> Answers:
        """`inputs` (flags > WIZARD_* > answers file) over this deployment's current answers over
        the defaults: the one lookup order of setup, check and show. `gpu_found`: what GPU
        detection said, which decides an adopted install's deployment type."""
        existing = existing_answers(self.env, self.documents, self.root, gpu_found)
        if self.gpu_ids:
            # Recorded in the override's x-wizard block: part of the current deployment, like
            # the document directories (`wizard show` must not call them a default).
            existing["gpu_ids"] = ",".join(self.gpu_ids)
        return inputs.below(Source.EXISTING, existing).below(
            Source.DEFAULT, self.stack.answer_defaults()
        )


def require_directory(root: Path) -> None:
    """InputError unless `root` is an existing directory: a typo must not become a deployment."""
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise InputError([f"--project-dir: {root} {what}; create it first or fix the path"])


def load_project(root: Path) -> Project:
    """Read the project directory, each file once. Raises InputError for files that exist but
    cannot be read, and for a project directory that does not exist (a typo must not become a
    new deployment)."""
    require_directory(root)
    problems: list[str] = []
    env_path = root / ENV_NAME
    env_text = _read(env_path, problems)
    env: dict[str, str] = {}
    if env_text is not None:
        try:
            env = read_env(env_text)
        except EnvParseError as exc:
            problems.extend(
                f"{env_path}: {problem} (the file was left untouched)" for problem in exc.problems
            )

    override_path = root / OVERRIDE_NAME
    override_text = _read(override_path, problems)
    documents: tuple[DocumentDir, ...] = ()
    gpu_ids: tuple[str, ...] = ()
    if override_text is not None:
        try:
            documents, gpu_ids = read_wizard_block(override_text)
        except ValueError as exc:
            problems.append(f"{override_path}: {exc}")
    try:
        stack = load_stack(root, env)
    except InputError as exc:
        problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return Project(
        root=root,
        env_text=env_text,
        env=env,
        override_text=override_text,
        documents=documents,
        gpu_ids=gpu_ids,
        stack=stack,
        read={ENV_NAME: env_text, OVERRIDE_NAME: override_text},
    )


def _not_a_file(path: Path) -> str | None:
    """What `path` is when it exists and is no regular file (links followed), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # missing, or unreadable: reading it says which
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    )
    return next((what for test, what in kinds if test(mode)), None)


def from_shell(project: Project, compose_file: str) -> str | None:
    """The sentence naming the variables the stack's compose files interpolate that the shell
    sets (compose takes each from the shell before .env), or None. Values are shown only where
    they are port numbers: any other may be a secret. COMPOSE_FILE counts too, where the shell's
    lists other files than `compose_file` (.env's, or the one about to be written): compose
    would load those instead (without the wizard's override, say)."""
    names = variables_in(dict(project.stack.services)) & set(os.environ)
    shell_files = os.environ.get("COMPOSE_FILE")
    if shell_files is not None and split_compose_file(shell_files) != split_compose_file(
        compose_file
    ):
        names.add("COMPOSE_FILE")
    if not names:
        return None
    shown = [
        f"{name}={os.environ[name]}" if _PORT.fullmatch(os.environ[name]) else name
        for name in sorted(names)
    ]
    return (
        f"From the shell, not from .env: {', '.join(shown)} (compose takes a variable from the "
        "environment before .env; unset it there to use .env's value)."
    )


_PORT = re.compile(r"[0-9]{1,5}")


def read_file(path: Path) -> str | None:
    """A file's text exactly as on disk (None when it does not exist).

    newline="": universal newlines would turn CRLF into LF, so a CRLF .env would look changed on
    every line and be rewritten whole.
    """
    try:
        # Decoded whole, not as a text stream: a decoding error then knows its place in the file.
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None


def _read(path: Path, problems: list[str]) -> str | None:
    if kind := _not_a_file(path):
        # Reading a FIFO would wait for a writer forever; a directory's "Is a directory" is no
        # permission problem.
        problems.append(
            f"{path}: is {kind}, not a file; the wizard keeps its settings in a file of that "
            "name: move it away (or remove it) and run the wizard again"
        )
        return None
    try:
        return read_file(path)
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        problems.append(f"{path}: is not UTF-8 text (line {line}); save it as UTF-8")
    except OSError as exc:
        problems.append(
            f"{path}: cannot read it ({exc.strerror}); fix its permissions or remove it"
        )
    return None


def unescape(text: str) -> str:
    """Undo compose's `$$` escaping of a literal `$`."""
    return text.replace("$$", "$")


def escape(text: str) -> str:
    """Compose interpolates `$` in every string of a compose file, x- blocks included."""
    return text.replace("$", "$$")


def read_wizard_block(text: str) -> tuple[tuple[DocumentDir, ...], tuple[str, ...]]:
    """The document directories and GPU ids recorded in the override's `x-wizard` block."""
    try:
        # The wizard's override holds compose's `!override` and `!reset` tags.
        data: Any = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(
            f"not valid YAML{where}; fix it, or delete the file and re-run the wizard"
        ) from None
    if data is None:
        return (), ()
    if not isinstance(data, dict):
        raise ValueError(
            "is not a mapping of compose keys (services:, x-wizard:, ...); delete the file and "
            "re-run the wizard to write it again"
        )
    block = data.get("x-wizard")
    if block is None:
        return (), ()
    # Hand edits with the wrong shape are named here: iterating them would raise TypeError.
    if not isinstance(block, dict):
        raise ValueError(f"x-wizard: must be a mapping, not {_shape(block)}; {_REWRITE}")
    items = block.get("documents") or []
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and "source" in item and "target" in item for item in items
    ):
        raise ValueError(
            f"x-wizard.host.documents: must be a list of {{source: ..., target: ...}} entries, "
            f"not {_shape(items)}; {_REWRITE}"
        )
    ids = block.get("gpu_ids") or []
    if not isinstance(ids, list) or not all(isinstance(item, str | int) for item in ids):
        raise ValueError(
            f"x-wizard.gpu_ids: must be a list of GPU indexes or UUIDs, not {_shape(ids)}; "
            f"{_REWRITE}"
        )
    documents = tuple(
        DocumentDir(source=Path(unescape(str(item["source"]))), target=str(item["target"]))
        for item in items
    )
    return documents, tuple(str(item) for item in ids)


_REWRITE = "fix it, or delete the file and re-run setup with --doc-dir"


def _shape(value: Any) -> str:
    """What a hand edit put there, without repeating it: a value may be long or a path."""
    if isinstance(value, list):
        return "a list with other entries"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    return "a string" if isinstance(value, str) else "null"
