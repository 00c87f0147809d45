"""Read compose files the way `docker compose` does, without Docker: YAML, interpolation, ports.

The wizard runs where no compose binary may exist, yet it must know which host ports the stack
will publish before `docker compose up` tries to bind them. This module reproduces the parts of
compose-go (v2.40.3) that decide that: its YAML dialect (go-yaml scalars, `!reset`, `!override`),
its `${VAR...}` interpolation, per-file `extends`, the merge of `ports` across files, profiles, and
the short and long port syntaxes. The tests compare every one of these with the real binary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wizard.stack.compose_yaml import RESET as RESET
from wizard.stack.compose_yaml import ComposeError as ComposeError
from wizard.stack.compose_yaml import Override, load_document, plain, read_compose, services_of
from wizard.stack.compose_yaml import dump_yaml as dump_yaml
from wizard.stack.compose_yaml import override as override
from wizard.stack.compose_yaml import parse_yaml as parse_yaml

# compose's own lookup order when no -f or COMPOSE_FILE is given.
BASE_FILE_NAMES = (
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
)

PROTOCOLS = ("tcp", "udp", "sctp")

# The override the wizard owns, and the other names compose loads an override file by, in its
# order, when no COMPOSE_FILE is set. Once the wizard sets COMPOSE_FILE compose no longer looks
# for them, so a person's own override must be listed there too or it silently stops applying.
OVERRIDE_NAME = "docker-compose.override.yml"
OWN_OVERRIDE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yaml",
)


def find_base_file(project_dir: Path) -> Path | None:
    """The base compose file compose would pick in `project_dir`, or None when there is none.

    Unlike compose, parent directories are not searched: the wizard always works in one directory.
    """
    for name in BASE_FILE_NAMES:
        candidate = project_dir / name
        if candidate.is_file():
            return candidate
    return None


def services_of_text(path: Path, env: Mapping[str, str]) -> tuple[str, dict[str, dict[str, Any]]]:
    """(the file's text, its services as load_services gives them): read once, parsed once."""
    text = read_compose(path)
    return text, load_services(path, text, env)


def load_services(
    path: Path, text: str | None = None, env: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """The services compose loads from the file at `path`, uninterpolated; empty when none.

    The files its `include:` names come first (include_files), then its own services, each with
    its `extends` applied as compose applies it (lists concatenated, mappings merged, the
    service's own values win). Values are read as compose reads them (go-yaml's scalars); a
    `!override` value is given plainly and a `!reset` key is left out. `env` interpolates the
    include paths and `extends` names. Raises ComposeError when a file is missing, is not valid
    YAML (the message has the line), its shape is not a compose file's, or an include cannot be
    followed.
    """
    env = env or {}
    result: dict[str, dict[str, Any]] = {}
    for source, services in with_includes(path, load_document(path, text), env):
        for name, body in services.items():
            if body is not RESET:
                result[name] = _extended(name, services, source, env)
    return result


def _extended(
    name: str, services: Mapping[str, Any], path: Path, env: Mapping[str, str], chain: Chain = ()
) -> dict[str, Any]:
    """Service `name` of the file at `path` as a plain mapping, its `extends` chain applied."""
    raw = services[name]
    raw = (raw.value if isinstance(raw, Override) else raw) or {}
    own = plain(raw)
    if own.get("extends") is None:
        return own or {}
    base_name, base_path, base_services = extends_target(name, raw, services, path, env, chain)
    merged = merge_services(
        {name: _extended(base_name, base_services, base_path, env, (*chain, (path, name)))},
        {name: {key: value for key, value in own.items() if key != "extends"}},
    )[name]
    for key, value in raw.items():
        if isinstance(value, Override):
            merged[key] = plain(value)
        elif value is RESET:
            merged.pop(key, None)
    merged.pop("extends", None)
    return dict(merged)


def merge_services(base: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """Services of two compose files as the contract sees them: a later file's lists add to the
    earlier ones (ports, volumes), its mappings merge, its other values win."""
    merged = dict(base)
    for name, body in later.items():
        merged[name] = _merge_values(merged[name], body) if name in merged else body
    return merged


def _merge_values(earlier: Any, later: Any) -> Any:
    if isinstance(earlier, dict) and isinstance(later, dict):
        merged = dict(earlier)
        for key, value in later.items():
            merged[key] = _merge_values(earlier[key], value) if key in earlier else value
        return merged
    if isinstance(earlier, list) and isinstance(later, list):
        return [*earlier, *later]
    return later


# --- include ----------------------------------------------------------------------------------

Chain = tuple[tuple[Path, str], ...]
# What an include entry may say beyond its path: each makes compose read the included file with
# variables (and relative paths) of its own, which the wizard's override, interpolated with this
# project's, cannot rebind faithfully.
_INCLUDE_KEYS_NOT_FOLLOWED = ("env_file", "project_directory")


def include_files(document: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> list[Path]:
    """The files the top-level `include:` of the compose file at `path` loads, in order.

    Followed: `include: [FILE, ...]` and `include: [{path: FILE or [FILE, ...]}]`, relative to
    the file's directory, interpolated with `env` (compose passes this project's variables on,
    and they win over the included directory's .env). Raises ComposeError naming what cannot
    be followed that way: `env_file`, `project_directory`, a remote (`oci://`, `git`) source, or
    an included file whose directory has its own .env.
    """
    entries = document.get("include")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ComposeError(f"{path}: `include` must be a list of compose files")
    found: list[Path] = []
    for index, entry in enumerate(entries):
        where = f"{path}: include[{index}]"
        if isinstance(entry, dict):
            if keys := [key for key in _INCLUDE_KEYS_NOT_FOLLOWED if key in entry]:
                raise ComposeError(
                    f"{where}: `{'`, `'.join(keys)}` cannot be followed by the wizard (compose "
                    "then reads the included file with variables of its own, which its port "
                    "rebinding cannot reproduce); include the file by its `path` alone"
                )
            entry = entry.get("path")
        for item in entry if isinstance(entry, list) else [entry]:
            if not isinstance(item, str) or not item.strip():
                raise ComposeError(f"{where}: {item!r} is not a compose file path; name a file")
            name = interpolate(item, env)
            if "://" in name or name.startswith("git@"):
                raise ComposeError(
                    f"{where}: {name!r} is a remote resource, which the wizard cannot read to "
                    "rebind and check its ports; copy the file here and include it by its path"
                )
            included = path.parent / name
            if included.parent.resolve() != path.parent.resolve() and (
                (included.parent / ".env").is_file()
            ):
                raise ComposeError(
                    f"{where}: {name!r} lies in a directory with its own .env, whose variables "
                    "compose uses for that file only and the wizard's port rebinding cannot; "
                    "move those variables into this project's .env and remove that file"
                )
            found.append(included)
    return found


def with_includes(
    path: Path, document: Mapping[str, Any], env: Mapping[str, str], seen: tuple[Path, ...] = ()
) -> list[tuple[Path, Mapping[str, Any]]]:
    """(file, its services) for each included file, depth first, then for `path` itself. A
    service defined by two of them is refused, as compose refuses it."""
    if path.resolve() in seen:
        cycle = " -> ".join(p.name for p in (*seen, path))
        raise ComposeError(f"{path}: `include` goes round in a circle ({cycle}); break the cycle")
    loaded: list[tuple[Path, Mapping[str, Any]]] = []
    for included in include_files(document, path, env):
        document_of = load_document(included, named_in=f"the `include:` of {path}")
        loaded += with_includes(included, document_of, env, (*seen, path.resolve()))
    own = services_of(document, path)
    owners: dict[str, Path] = {}
    for source, services in [*loaded, (path, own)]:
        for name in services:
            if name in owners and owners[name] != source:
                raise ComposeError(
                    f"{path}: service {name!r} is defined both in {owners[name]} and in {source}, "
                    "which compose refuses for an included file; rename one of them"
                )
            owners[name] = source
    return [*loaded, (path, own)]


# --- interpolation --------------------------------------------------------------------------------

# compose-go's template pattern, unchanged: `$$`, `$NAME`, `${NAME}`, `${NAME<op>...}`, and an
# "invalid" branch that catches every other `${`. The greedy `(.*)` reaches the last `}` on the
# line; `_split_at_closing_brace` then cuts it back to the balanced one, as compose-go does.
NAME_PATTERN = r"[_a-z][_a-z0-9]*"
_TEMPLATE = re.compile(
    rf"\$(?:(?P<escaped>\$)|(?P<named>{NAME_PATTERN})|\{{(?:(?P<braced>{NAME_PATTERN}(?::?[-+?](.*))?)\}}"
    r"|(?P<invalid>)))",
    re.IGNORECASE | re.ASCII,
)
# The operator is the first of these after the name (`:?` before `?`, `:-` before `-`, ...).
_OPERATOR = re.compile(r":?[-+?]")


def closing_brace(text: str) -> int:
    """Index of the `}` that closes the `${` at the start of `text`, or -1 (compose-go's rule:
    every `{` opens, and the character after it is skipped)."""
    depth = 0
    i = 0
    while i < len(text):
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        if text[i] == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _split_atclosing_brace(text: str) -> tuple[str, str]:
    end = closing_brace(text)
    if end == -1:
        return text, ""
    return text[: end + 1], text[end + 1 :]


def _substitute_braced(expression: str, env: Mapping[str, str]) -> str:
    """The value of `NAME<op>word` (the inside of `${...}`)."""
    operator = _OPERATOR.search(expression)
    if operator is None:
        return env.get(expression, "")
    name, op, word = expression[: operator.start()], operator.group(), expression[operator.end() :]
    value = env.get(name)
    if op in (":-", "-"):
        if value is None or (op == ":-" and value == ""):
            return interpolate(word, env)
        return value
    if op in (":+", "+"):
        if value is not None and (op == "+" or value != ""):
            return interpolate(word, env)
        return value or ""
    # `:?` and `?`
    if value is None or (op == ":?" and value == ""):
        reason = interpolate(word, env)
        detail = f": {reason}" if reason else ""
        raise ComposeError(
            f"required variable {name} is missing a value{detail}; "
            f"set {name} in .env or the environment",
            variable=name,
        )
    return value


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """`text` with compose's variable substitution applied, using `env` (what compose would see:
    the environment over `.env`).

    `$$` is a literal `$`; `$NAME`/`${NAME}` (unset: empty); `${NAME:-word}` / `${NAME-word}`
    (default when unset or empty / unset); `${NAME:+word}` / `${NAME+word}` (alternative when set
    and non-empty / set); `${NAME:?msg}` / `${NAME?msg}` (ComposeError naming NAME when unset or
    empty / unset). Words nest (`${A:-${B:-x}}`). A `$` not followed by a name, `$` or `{` stays
    as it is. Raises ComposeError for a malformed `${...}`, as compose does.
    """

    def replace(match: re.Match[str]) -> str:
        head, rest = _split_atclosing_brace(match.group(0))
        parts = _TEMPLATE.match(head)
        assert parts is not None  # `head` starts with the `$` that matched
        if parts.group("escaped"):
            return "$"
        if parts.group("named"):
            return env.get(parts.group("named"), "")
        if parts.group("braced"):
            return _substitute_braced(parts.group("braced"), env) + interpolate(rest, env)
        # Only the start of the reference: `text` may be a value that should not be shown whole.
        start = text[match.start() : match.start() + 24]
        raise ComposeError(
            f"invalid interpolation at {start!r}; use ${{NAME}} or ${{NAME:-default}}, "
            "and write a literal $ as $$"
        )

    return _TEMPLATE.sub(replace, text)


_REFERENCE = re.compile(rf"\$\$|\$\{{?(?P<name>{NAME_PATTERN})", re.IGNORECASE | re.ASCII)


def variables_in(value: Any) -> set[str]:
    """The names of the variables that strings inside `value` (a compose file's services, say)
    interpolate, defaults' own references included; `$$` is no reference."""
    if isinstance(value, str):
        return {m.group("name") for m in _REFERENCE.finditer(value) if m.group("name")}
    if isinstance(value, dict):
        return set().union(*(variables_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(variables_in(v) for v in value))
    return set()


def extends_target(
    name: str,
    body: Mapping[str, Any],
    services: Mapping[str, Any],
    path: Path,
    env: Mapping[str, str],
    chain: Chain,
) -> tuple[str, Path, Mapping[str, Any]]:
    """(service, file, that file's services) that service `name` of `path` extends."""
    if (path, name) in chain:
        cycle = " -> ".join(n for _, n in (*chain, (path, name)))
        raise ComposeError(f"{path}: `extends` goes round in a circle ({cycle}); break the cycle")
    extends = plain(body.get("extends"))
    if isinstance(extends, str):
        base_name, base_file = extends, None
    elif isinstance(extends, dict) and isinstance(extends.get("service"), str):
        base_name, base_file = extends["service"], extends.get("file")
    else:
        raise ComposeError(
            f"{path}: services.{name}.extends must name a service (`extends: NAME` or "
            "`extends: {service: NAME, file: FILE}`)"
        )
    base_name = interpolate(base_name, env)
    base_path, base_services = path, services
    if base_file is not None:
        base_path = path.parent / interpolate(str(base_file), env)
        base_services = services_of(load_document(base_path), base_path)
    if base_name not in base_services or base_services[base_name] is RESET:
        raise ComposeError(
            f"{path}: services.{name} extends {base_name!r}, which {base_path} does not define; "
            "fix the name or the file"
        )
    return base_name, base_path, base_services
