"""Compose's YAML dialect, read safely: go-yaml's scalars, `!reset`/`!override`, bounded aliases.

compose-go reads compose files with go-yaml v3; PyYAML (YAML 1.1) differs in ways that matter
here (an unquoted `22:22` is a base-60 integer to it). The loader below reads as go-yaml does,
refuses a key defined twice as go-yaml does, and, as go-yaml does, refuses a document whose
aliases would expand it past a bound (an "alias bomb" makes anything that walks it spin).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ComposeError(Exception):
    """A compose file cannot be read: one sentence naming the file, what is wrong and the fix.

    `variable` is set when an interpolation failed because of that variable (`${X:?...}`).
    """

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


# --- YAML as compose reads it -------------------------------------------------------------------


class _Reset:
    """`!reset`: in an override file, drop what the earlier files set for this key."""

    def __repr__(self) -> str:
        return "!reset"


RESET = _Reset()


@dataclass(frozen=True)
class Override:
    """`!override VALUE`: in an override file, replace the earlier value instead of merging."""

    value: Any


# libyaml's parser where PyYAML has it: the same documents, read several times faster (a run reads
# every compose file and the stack profile on its way to the first prompt).
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ComposeLoader(_SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader reading scalars as compose's go-yaml v3 does.

    The difference matters for ports: PyYAML (YAML 1.1) reads an unquoted `22:22` as the base-60
    integer 1342, where compose reads the string "22:22". go-yaml keeps YAML 1.1's other integer
    forms (`0123` is octal 83, `1_000`, `0b11`) and adds `0o17`; only true/false are booleans
    (compose itself turns `yes` into true where a setting is a boolean, with a warning).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # go-yaml refuses a key defined twice; PyYAML would silently keep the last one, hiding a
        # file that `docker compose` will reject.
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"mapping key {key!r} is already defined at line "
                    f"{seen[key].start_mark.line + 1}",
                    key_node.start_mark,
                )
            if isinstance(key, str | int | float | bool):
                seen[key] = key_node
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_YAML11_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_ComposeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML11_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0[0-7_]+|0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    assert isinstance(node, yaml.ScalarNode)
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return sign * int(digits, 8)  # go-yaml v3 still reads 0777 as octal
    return sign * int(digits, 0)


def _construct_reset(loader: yaml.SafeLoader, node: yaml.Node) -> _Reset:
    return RESET


def _construct_override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    assert isinstance(node, yaml.ScalarNode)
    return Override(loader.construct_scalar(node))


class _ComposeDumper(yaml.SafeDumper):
    """yaml.safe_dump's output, plus compose's `!override` and `!reset` tags."""


def _represent_override(dumper: yaml.SafeDumper, data: Override) -> yaml.Node:
    value = data.value
    if isinstance(value, list):
        return dumper.represent_sequence("!override", value)
    if isinstance(value, dict):
        return dumper.represent_mapping("!override", value)
    return dumper.represent_scalar("!override", str(value))


def _represent_reset(dumper: yaml.SafeDumper, data: _Reset) -> yaml.Node:
    return dumper.represent_scalar("!reset", "")


_ComposeDumper.add_representer(Override, _represent_override)
_ComposeDumper.add_representer(_Reset, _represent_reset)


def override(value: Any) -> Any:
    """`!override VALUE` in a compose file the wizard writes: replaces what earlier files set."""
    return Override(value)


def dump_yaml(data: Any) -> str:
    """`data` as compose YAML (yaml.safe_dump's rules; `override()` and RESET as their tags)."""
    return yaml.dump(data, Dumper=_ComposeDumper, sort_keys=False, allow_unicode=True)


_ComposeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_ComposeLoader.add_constructor("!reset", _construct_reset)
_ComposeLoader.add_constructor("!override", _construct_override)


# go-yaml refuses a document whose aliases expand it far past its own size ("excessive
# aliasing"); a real compose file has a few thousand values. Past this, walking the document
# (merging, interpolating) would spin for minutes: 10 aliases of 10 aliases ... make 10^9.
MAX_EXPANDED_VALUES = 100_000


class AliasBombError(yaml.YAMLError):
    """The document's aliases expand it past MAX_EXPANDED_VALUES values, or an alias refers to
    a value that contains it."""


def parse_yaml(text: str) -> Any:
    """YAML as compose reads it, `!reset`/`!override` kept as markers. Raises yaml.YAMLError
    (AliasBombError for a document whose aliases expand it past MAX_EXPANDED_VALUES values)."""
    loader = _ComposeLoader(text)  # a SafeLoader: builds no objects
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _bound_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _bound_expansion(root: yaml.Node) -> None:
    """Count the values `root` stands for once every alias is expanded, visiting each node once
    (an alias is the same node object again), and raise AliasBombError past the bound."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_EXPANDED_VALUES + 1)
            continue
        if id(node) in sizes:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise AliasBombError(
                    f"an alias at line {child.start_mark.line + 1} refers to a value that "
                    "contains it; write the value out"
                )
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes[id(root)] > MAX_EXPANDED_VALUES:
        raise AliasBombError(
            f"its aliases (*name) expand it to more than {MAX_EXPANDED_VALUES:,} values (a YAML "
            "alias bomb?); write the repeated values out, or use fewer aliases"
        )


def read_compose(path: Path, named_in: str = "COMPOSE_FILE") -> str:
    """The text of a compose file; ComposeError saying what to do when it is missing or
    unreadable (`named_in`: where the file is named, to be removed from there)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError(
            f"{path}: the compose file does not exist; create it or remove it from {named_in}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeError(f"{path}: cannot be read ({exc}); check its permissions") from None


def load_document(
    path: Path, text: str | None = None, named_in: str = "COMPOSE_FILE"
) -> dict[str, Any]:
    """The top-level mapping of one compose file (or of `text`, the file as it is about to be
    written), `!reset`/`!override` kept as markers; `named_in` as for `read_compose`."""
    if text is None:
        text = read_compose(path, named_in)
    try:
        document = parse_yaml(text)
    except AliasBombError as exc:
        raise ComposeError(f"{path}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ComposeError(
            f"{path}: invalid YAML{where}: {exc.problem or exc.context}; fix the file there"
        ) from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"{path}: invalid YAML ({exc}); fix the file") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ComposeError(
            f"{path}: the file holds a {type(document).__name__}, not a mapping; "
            "a compose file is a mapping that starts with `services:`"
        )
    return document


def services_of(document: Mapping[str, Any], path: Path) -> dict[str, Any]:
    services = document.get("services")
    if isinstance(services, Override):
        services = services.value
    if services is None or services is RESET:
        return {}
    if not isinstance(services, dict):
        raise ComposeError(
            f"{path}: `services` must be a mapping of service names to their settings"
        )
    for name, body in services.items():
        if isinstance(body, Override):
            body = body.value
        if body is not None and body is not RESET and not isinstance(body, dict):
            raise ComposeError(f"{path}: service {name!r} must be a mapping of settings")
    return {str(name): body for name, body in services.items()}


def plain(value: Any) -> Any:
    """`value` with the merge markers resolved as a single file means them."""
    if isinstance(value, Override):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not RESET}
    if isinstance(value, list):
        return [plain(v) for v in value if v is not RESET]
    return None if value is RESET else value
