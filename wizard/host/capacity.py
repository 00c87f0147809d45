"""The host's capacity against what the stack asks for: memory (the compose files'
`deploy.resources` reservations and limits) and free disk where the model cache and Docker's
data live. Reads /proc/meminfo and the file systems; changes nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# compose's byte units (b, k, m, g; with or without a trailing b), as in `memory: 4G`.
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)b?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

# Where Docker keeps images and volumes unless its daemon is told otherwise.
DOCKER_DATA = Path("/var/lib/docker")


def parse_size(value: Any) -> int | None:
    """A compose memory size in bytes (`512M`, `4G`, 1073741824), or None if it is not one."""
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value))
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass(frozen=True)
class MemoryAsked:
    """The sums over the services that will run: what they reserve, and what they may use."""

    reserved: int
    limited: int
    # Services without a limit: they may use any amount.
    unlimited: tuple[str, ...]


def memory_asked(services: Mapping[str, Any], names: Iterable[str]) -> MemoryAsked:
    reserved = limited = 0
    unlimited: list[str] = []
    for name in names:
        body = services.get(name)
        resources = body.get("deploy", {}).get("resources", {}) if isinstance(body, dict) else {}
        resources = resources if isinstance(resources, dict) else {}
        reservation = parse_size((resources.get("reservations") or {}).get("memory"))
        limit = parse_size((resources.get("limits") or {}).get("memory"))
        reserved += reservation or 0
        if limit is None:
            unlimited.append(name)
        else:
            limited += limit
    return MemoryAsked(reserved, limited, tuple(unlimited))


def host_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The host's memory in bytes (MemTotal), or None where /proc/meminfo cannot be read."""
    try:
        text = meminfo.read_text()
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s+([0-9]+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def free_space(path: Path) -> int | None:
    """Bytes free where `path` is, or would be created (its nearest existing parent)."""
    for candidate in (path, *path.parents):
        try:
            stats = os.statvfs(candidate)
        except OSError:
            continue
        return stats.f_bavail * stats.f_frsize
    return None


def writable_by(path: Path, uid: int, gid: int) -> bool | None:
    """Whether `uid`:`gid` may create files in directory `path`, judged on its permission bits
    (the stack's containers drop every capability, so even uid 0 obeys them); None when `path`
    cannot be examined."""
    try:
        info = path.stat()
    except OSError:
        return None
    shift = 6 if info.st_uid == uid else 3 if info.st_gid == gid else 0
    return (info.st_mode >> shift) & 0o3 == 0o3  # write and search


def gigabytes(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"
