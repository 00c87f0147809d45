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

from wizard.stack.compose_yaml import RESET as RESET
from wizard.stack.compose_yaml import ComposeError as ComposeError
from wizard.stack.compose_yaml import Override, load_document, plain, services_of
from wizard.stack.compose_yaml import dump_yaml as dump_yaml
from wizard.stack.compose_yaml import override as override
from wizard.stack.compose_yaml import parse_yaml as parse_yaml

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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError(
            f"{path}: the compose file does not exist; create it or remove it from COMPOSE_FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeError(f"{path}: cannot be read ({exc}); check its permissions") from None
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
    for source, services in _with_includes(path, load_document(path, text), env):
        for name, body in services.items():
            if body is not RESET:
                result[name] = _extended(name, services, source, env)
    return result


def _extended(
    name: str, services: Mapping[str, Any], path: Path, env: Mapping[str, str], chain: _Chain = ()
) -> dict[str, Any]:
    """Service `name` of the file at `path` as a plain mapping, its `extends` chain applied."""
    raw = services[name]
    raw = (raw.value if isinstance(raw, Override) else raw) or {}
    own = plain(raw)
    if own.get("extends") is None:
        return own or {}
    base_name, base_path, base_services = _extends_target(name, raw, services, path, env, chain)
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

_Chain = tuple[tuple[Path, str], ...]
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


def _with_includes(
    path: Path, document: Mapping[str, Any], env: Mapping[str, str], seen: tuple[Path, ...] = ()
) -> list[tuple[Path, Mapping[str, Any]]]:
    """(file, its services) for each included file, depth first, then for `path` itself. A
    service defined by two of them is refused, as compose refuses it."""
    if path.resolve() in seen:
        cycle = " -> ".join(p.name for p in (*seen, path))
        raise ComposeError(f"{path}: `include` goes round in a circle ({cycle}); break the cycle")
    loaded: list[tuple[Path, Mapping[str, Any]]] = []
    for included in include_files(document, path, env):
        loaded += _with_includes(included, load_document(included), env, (*seen, path.resolve()))
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


_REFERENCE = re.compile(rf"\$\$|\$\{{?(?P<name>{_NAME})", re.IGNORECASE | re.ASCII)


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
    if isinstance(value, Override):
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
            mappings.extend(_parse_entry(plain(entry), env))
        except ComposeError as exc:
            raise ComposeError(
                f"{path}: services.{name}.ports[{index}]: {exc}", variable=exc.variable
            ) from None
        except ValueError as exc:
            raise ComposeError(
                f"{path}: services.{name}.ports[{index}] {plain(entry)!r} is not a valid port "
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
    chain: _Chain = (),
) -> _ServicePorts:
    """Service `name` of the file at `path`, with its `extends` chain applied (compose resolves
    `extends` inside each file, before files are merged)."""
    body = services[name]
    body = body.value if isinstance(body, Override) else body
    body = body or {}
    own = _read_service(name, body, path, env)
    if plain(body.get("extends")) is None:
        return own
    base_name, base_path, base_services = _extends_target(name, body, services, path, env, chain)
    base = _resolve(base_name, base_services, base_path, env, (*chain, (path, name)))
    merged = _merge(base, own)
    # What extends produced is this file's definition: it still merges with earlier files.
    return _ServicePorts(merged.mappings, merged.profiles, own.replace_ports, own.replace_profiles)


def _extends_target(
    name: str,
    body: Mapping[str, Any],
    services: Mapping[str, Any],
    path: Path,
    env: Mapping[str, str],
    chain: _Chain,
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
    `extends` is followed (also into other files), and so is `include:` (include_files).
    Raises ComposeError naming the file and the entry when something cannot be read. `texts`
    gives the content of files about to be written (the wizard's planned override).
    """
    merged: dict[str, _ServicePorts] = {}
    for path in files:
        document = load_document(path, (texts or {}).get(path))
        for source, services in _with_includes(path, document, env):
            for name, body in services.items():
                if body is RESET:
                    merged.pop(name, None)
                    continue
                definition = _resolve(name, services, source, env)
                if isinstance(body, Override) or name not in merged:
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
