"""The host directories the stack binds into its containers, made ready before the first start.

Docker creates a missing bind source as root, and the services (which run as `UID:GID`) then
cannot write their data, logs or model cache. So each writable bind source is created here and
handed to `UID:GID` (as root), or checked to be writable by them. A bind of the stack's own source
(`./packages`) must already be there: created empty it would hide the image's code.
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DirsReport:
    created: tuple[Path, ...]
    problems: tuple[str, ...]  # one sentence each: what is wrong and the command that fixes it


def writable_by(path: Path, uid: int, gid: int) -> bool:
    """Could a process running as uid:gid (no supplementary groups) create files in `path`?"""
    if uid == 0:
        return True
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == uid:
        return mode & 0o300 == 0o300
    if info.st_gid == gid:
        return mode & 0o030 == 0o030
    return mode & 0o003 == 0o003


def prepare(
    data_dirs: tuple[Path, ...], source_dirs: tuple[Path, ...], owner: tuple[int, int]
) -> DirsReport:
    """Create the missing `data_dirs` (owned by `owner` when run as root) and check that each is
    a directory `owner` can write; check that each of `source_dirs` exists."""
    uid, gid = owner
    created: list[Path] = []
    problems: list[str] = []
    for path in source_dirs:
        if not path.is_dir():
            problems.append(
                f"{path} is missing: the web UI binds the stack's source from there, and Docker "
                "would create it empty and hide the image's code; run `wizard up` in the "
                "stack's checkout (where its docker-compose.yml and packages/ are)"
            )
    for path in data_dirs:
        if not path.exists():
            try:
                path.mkdir(parents=True, mode=0o755)
                if os.geteuid() == 0:
                    os.chown(path, uid, gid)
            except OSError as exc:
                problems.append(f"{path}: cannot create it ({exc.strerror}); create it yourself")
                continue
            created.append(path)
        if not path.is_dir():
            problems.append(f"{path} is not a directory; the stack binds a directory there")
        elif not writable_by(path, uid, gid):
            quoted = shlex.quote(str(path))
            problems.append(
                f"{path} is not writable by the containers' user {uid}:{gid}; run "
                f"`sudo chown -R {uid}:{gid} {quoted}`"
            )
    return DirsReport(tuple(created), tuple(problems))
