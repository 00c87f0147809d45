"""A directory tree as a container that bind-mounts it sees it: what its permission bits let a
UID:GID do (ACLs are not read), and where a symbolic link leads when the tree is all there is
(an absolute link, or one that climbs out, leads nowhere in there)."""

from __future__ import annotations

import os
import stat

# Linux gives up on a path with more links than this (ELOOP).
MAX_LINK_HOPS = 40
READ = 4
LIST = 5  # read and search (r-x): what listing a directory and opening its files takes


def may(info: os.stat_result, uid: int, gid: int, wanted: int) -> bool:
    """Whether the permission bits grant `wanted` (r=4, x=1) to uid:gid: the owner's bits when
    it owns the file, else the group's when its group matches, else the others' (as the kernel
    picks them, so an owner without r is refused even where others may read)."""
    mode = info.st_mode
    if info.st_uid == uid:
        mode >>= 6
    elif info.st_gid == gid:
        mode >>= 3
    return mode & wanted == wanted


def resolve_inside(real_root: str, relative: str) -> str | None:
    """The real path that `relative` (a path inside the tree, "/"-separated) leads to when the
    tree is all there is, as in a container that bind-mounts it; None when a link on the way is
    absolute, climbs above the tree, loops, or leads to nothing."""
    done: list[str] = []
    todo = relative.split("/")[::-1]
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                return None
            done.pop()
            continue
        here = os.path.join(real_root, *done, part)
        try:
            info = os.lstat(here)
        except OSError:
            return None
        if stat.S_ISLNK(info.st_mode):
            hops += 1
            target = os.readlink(here)
            if hops > MAX_LINK_HOPS or target.startswith("/"):
                return None
            todo.extend(target.split("/")[::-1])
            continue
        done.append(part)
    return os.path.join(real_root, *done)
