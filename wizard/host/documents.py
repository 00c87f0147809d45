"""What the stack's containers will find in a document directory, and whether they may read it.

`preview` walks a directory the way semantik's local directory connector does
(packages/shared/connectors/local.py: `os.walk(followlinks=False)`, then only the extensions of
templates/stack.yaml, up to 500 MiB a file, and no file whose real path leaves the directory),
under a time budget, and counts what it finds. Symbolic links are judged as a container sees
them: a bind mount shows the directory and nothing around it, so an absolute link, or a relative
one that climbs out, leads nowhere in there even when it works on the host. With a `reader`
(the containers' UID:GID) the same walk judges every directory and document from its permission
bits, so a large tree is read once. `readable_by` makes that judgement on a small sample.

Nothing here prints; `describe`, `warnings` and `ReadAccess.problem` give the sentences.
"""

from __future__ import annotations

import errno
import os
import shlex
import stat
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wizard.stack import resources

# The connector skips larger files (packages/shared/connectors/local.py: MAX_FILE_SIZE).
MAX_DOCUMENT_BYTES = 500 * 1024 * 1024
# Who reads the documents: semantik's docker-compose.yml runs webui (and vecpipe) as
# "${UID:-1000}:${GID:-1000}"; the worker has no `user:` and runs as the image's appuser, whom
# its Dockerfile creates with uid 1000 (and group 1000).
STACK_UID = 1000
STACK_GID = 1000
# A budget for a preview shown while someone waits for the next question.
PREVIEW_BUDGET_S = 3.0
# How much `readable_by` looks at: the directory and this many entries below it, breadth first.
SAMPLE_ENTRIES = 2000
SAMPLE_BUDGET_S = 0.5

# Entries between two looks at the clock: often enough to stop within a few milliseconds of the
# budget, rarely enough to cost nothing next to a stat() per document.
CHECK_EVERY = 1024
PROGRESS_EVERY_S = 0.1
# Linux gives up on a path with more links than this (ELOOP).
_MAX_LINK_HOPS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ = 4
_LIST = 5  # read and search (r-x): what listing a directory and opening its files takes


@dataclass(frozen=True)
class Finding:
    """How many of one kind of thing a walk met, and the first one it met: its path, and a
    detail (a link's target, an error)."""

    count: int = 0
    first: Path | None = None
    detail: str = ""


@dataclass(frozen=True)
class ReadAccess:
    """What a process running as `uid`:`gid`, with no supplementary groups and no capabilities
    (the stack's containers drop them all, so even uid 0 obeys the permission bits), may read
    of a document directory, judged from the permission bits (ACLs are not read).

    The directories above `path` do not matter: a container reaches it through its bind mount.
    `documents` is how many documents were judged; `complete` is False when that was a sample
    or the walk ran out of time. `owner` is the (uid, gid) owning `first_blocked`.
    """

    path: Path
    uid: int
    gid: int
    documents: int
    blocked_documents: int
    blocked_dirs: int
    first_blocked: Path | None
    owner: tuple[int, int] | None
    top_blocked: bool
    complete: bool

    @property
    def ok(self) -> bool:
        return not self.blocked_documents and not self.blocked_dirs

    def problem(self) -> str | None:
        """One sentence naming the directory, the UID:GID, what they cannot read and the fix;
        None when nothing judged is out of their reach."""
        if self.ok:
            return None
        if self.top_blocked:
            what = "cannot open the directory itself"
        else:
            parts = []
            if self.blocked_documents:
                judged = f"{self.documents:,}" if self.complete else f"the first {self.documents:,}"
                parts.append(f"cannot read {self.blocked_documents:,} of {judged} documents")
            if self.blocked_dirs:
                parts.append(f"cannot list {_plural(self.blocked_dirs, 'directory')}")
            several = self.blocked_documents + self.blocked_dirs > 1
            what = " and ".join(parts) + f" ({'first: ' if several else ''}{self.first_blocked})"
        return (
            f"{self.path}: the stack's containers run as {self.uid}:{self.gid} and {what}; "
            f"{self.fix()}"
        )

    def fix(self) -> str:
        """The commands (or the .env change) that let `uid`:`gid` read the whole tree."""
        target = shlex.quote(str(self.path))
        owner_uid, owner_gid = self.owner or (-1, -1)
        if self.uid == owner_uid:
            return f"to fix it, run `chmod -R u+rX {target}`"
        if self.gid == owner_gid:
            return f"to fix it, run `chmod -R g+rX {target}`"
        text = (
            f"to fix it, run `chmod -R o+rX {target}`, or "
            f"`chgrp -R {self.gid} {target} && chmod -R g+rX {target}`"
        )
        # Not to root: the containers would then run as root to read what one user owns.
        if owner_uid > 0:
            text += (
                f", or set UID={owner_uid} and GID={owner_gid} in .env "
                f"(the owner of {self.first_blocked})"
            )
        return text


@dataclass(frozen=True)
class DocumentPreview:
    """What `preview` found in one directory tree.

    `by_type` counts the documents (files the stack indexes) per extension, lower case with the
    dot; `documents` and `document_bytes` are their number and total size (a link to a file
    counts with its target's size). Documents over MAX_DOCUMENT_BYTES are in `too_large`, not in
    those. `other_files` is every other file the stack will not index; `directories` counts the
    directories read. When `complete` is False the walk ran out of time and every number is a
    lower bound.

    `unreadable`: directories the wizard itself could not read (their contents are not
    counted). `outside_links`: symbolic links that lead outside the tree, or nowhere: the
    containers cannot follow them. `dir_links`: links to directories inside the tree, which the
    stack does not follow. `access`: the containers' view, when `preview` was given a reader.
    """

    path: Path
    by_type: Mapping[str, int]
    documents: int
    document_bytes: int
    other_files: int
    directories: int
    complete: bool
    budget_s: float
    elapsed_s: float
    unreadable: Finding = Finding()
    outside_links: Finding = Finding()
    dir_links: Finding = Finding()
    too_large: Finding = Finding()
    access: ReadAccess | None = None

    def describe(self) -> str:
        """One line: documents per type and their size, other files, directories; every
        number as "at least N" when the walk was cut short."""
        least = "" if self.complete else "at least "
        if self.documents:
            kinds = sorted(self.by_type.items(), key=lambda item: (-item[1], item[0]))
            types = ", ".join(f"{count:,} {ext}" for ext, count in kinds)
            found = (
                f"{least}{_plural(self.documents, 'document')}, "
                f"{least}{_size(self.document_bytes)} ({types})"
            )
        elif self.complete:
            found = f"no documents the stack indexes ({', '.join(resources.document_types())})"
        else:
            found = "no documents found yet"
        text = (
            f"{self.path}: {found}; {self._number(self.other_files, 'other file')}; "
            f"{self._number(self.directories, 'directory')}"
        )
        if not self.complete:
            text += f" (stopped after {self.budget_s:g} s, before the end)"
        return text

    def _number(self, count: int, noun: str) -> str:
        if self.complete:
            return _plural(count, noun)
        return f"at least {_plural(count, noun)}" if count else f"no {_plural_noun(noun)} yet"

    def warnings(self) -> tuple[str, ...]:
        """A sentence for each thing that keeps documents from the stack, with what to do."""
        found: list[str] = []
        unreadable, outside, dir_links = self.unreadable, self.outside_links, self.dir_links
        if unreadable.count:
            found.append(
                f"{self.path}: the wizard could not read "
                f"{_plural(unreadable.count, 'directory')} in it "
                f"({_first(unreadable, ': ')}); the counts leave out what "
                f"{'it holds' if unreadable.count == 1 else 'they hold'}"
            )
        if outside.count:
            found.append(
                f"{self.path}: {_plural(outside.count, 'symbolic link')} "
                f"{'leads' if outside.count == 1 else 'lead'} outside it or nowhere "
                f"({_first(outside, ' -> ')}); the containers see only this directory, so the "
                "stack skips such links: put the file itself in place of a link, or use a "
                "relative link that stays inside"
            )
        if dir_links.count:
            found.append(
                f"{self.path}: the stack does not follow symbolic links to directories and "
                f"skips {dir_links.count:,} here ({_first(dir_links, ' -> ')}); to have what a "
                "link points to searched, add that directory as a document directory of its "
                "own, or move it here in place of the link"
            )
        if self.too_large.count:
            found.append(
                f"{self.path}: the stack skips documents over {_size(MAX_DOCUMENT_BYTES)}: "
                f"{self.too_large.count:,} here ({_first(self.too_large)})"
            )
        problem = self.access.problem() if self.access else None
        if problem:
            found.append(problem)
        return tuple(found)


def preview(
    path: Path,
    *,
    budget_s: float,
    progress: Callable[[int], None] | None = None,
    reader: tuple[int, int] | None = None,
) -> DocumentPreview:
    """Walk `path` (an existing directory) for at most about `budget_s` seconds.

    `progress`, when given, is called with the number of files seen so far, about every
    PROGRESS_EVERY_S seconds of a long walk (never for a short one). `reader` (uid, gid) adds
    the containers' view (`access`) from the same walk. Symbolic links to directories are not
    followed, and a directory reached twice (a bind mount of its parent) is read once.

    Raises OSError when `path` does not exist or cannot be reached (NotADirectoryError when it is
    no directory); a directory inside it that cannot be read is a finding, not an error.
    """
    return _Walk(path, reader).run(budget_s, progress, limit=None)


def readable_by(
    path: Path,
    uid: int,
    gid: int,
    *,
    sample: int = SAMPLE_ENTRIES,
    budget_s: float = SAMPLE_BUDGET_S,
) -> ReadAccess:
    """Whether `uid`:`gid` may list `path` and read what is in it, judged on the directory
    itself and its first `sample` entries (breadth first). For a whole tree, pass `reader` to
    `preview` instead: the walk is then made once. Raises as `preview` does."""
    access = _Walk(path, (uid, gid)).run(budget_s, None, limit=sample).access
    assert access is not None  # a reader was given
    return access


class _Tally:
    """A mutable Finding, for the rare things; the hot loop keeps plain integers."""

    __slots__ = ("count", "detail", "first")

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None
        self.detail = ""

    def add(self, where: str, detail: str = "") -> None:
        if self.first is None:
            self.first, self.detail = where, detail
        self.count += 1

    def finding(self) -> Finding:
        return Finding(self.count, None if self.first is None else Path(self.first), self.detail)


class _Walk:
    """One walk's state. The counters of the hot loop live in `run`'s locals; what is rare
    (directories, links, refusals) goes through these methods and attributes."""

    def __init__(self, path: Path, reader: tuple[int, int] | None) -> None:
        self.path = path
        self.root = os.fspath(path)
        top = os.stat(self.root)
        if not stat.S_ISDIR(top.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), self.root)
        # A bind mount shows the directory's real path: links are resolved inside that.
        self.real_root = os.path.realpath(self.root)
        self.prefix = len(self.root.rstrip("/")) + 1
        self.judge = reader is not None
        self.uid, self.gid = reader if reader is not None else (0, 0)
        self.unreadable, self.outside, self.dir_links, self.too_large, self.blocked_dirs = (
            _Tally() for _ in range(5)
        )
        self.first_blocked: tuple[str, os.stat_result] | None = None
        # Directories met, by (st_dev, st_ino): no loop even through a bind mount of a parent,
        # which the containers see too (Docker binds recursively).
        self.visited = {(top.st_dev, top.st_ino)}
        self.top_ok = not self.judge or _may(top, self.uid, self.gid, _LIST)
        if not self.top_ok:
            self.block(self.root, top)
        # (directory, whether the reader can get at it); breadth first, so that a walk cut
        # short, and a sample, have seen the top of the tree.
        self.queue: deque[tuple[str, bool]] = deque([(self.root, self.top_ok)])

    def block(self, path: str, info: os.stat_result) -> None:
        self.blocked_dirs.add(path)
        if self.first_blocked is None:
            self.first_blocked = (path, info)

    def enter(self, path: str, info: os.stat_result, visible: bool) -> None:
        key = (info.st_dev, info.st_ino)
        if key in self.visited:
            return
        self.visited.add(key)
        inside = visible and (not self.judge or _may(info, self.uid, self.gid, _LIST))
        if visible and not inside:
            self.block(path, info)
        self.queue.append((path, inside))

    def follow(self, link: str) -> os.stat_result | None:
        """The stat of the file `link` leads to inside the tree; None (and noted) when it leads
        outside or nowhere, or to a directory."""
        target = _resolve_inside(self.real_root, link[self.prefix :])
        if target is None:
            self.outside.add(link, os.readlink(link))
            return None
        info = os.stat(target, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            self.dir_links.add(link, os.readlink(link))
            return None
        return info

    def run(
        self,
        budget_s: float,
        progress: Callable[[int], None] | None,
        limit: int | None,
    ) -> DocumentPreview:
        start = time.monotonic()
        deadline = start + budget_s
        types = frozenset(resources.document_types())
        judge, uid, gid = self.judge, self.uid, self.gid
        queue, unreadable, too_large = self.queue, self.unreadable, self.too_large
        # Every type counted from 0, so that the hot loop adds without a lookup-or-insert.
        by_type = dict.fromkeys(types, 0)
        # Locals: the hot loop reads them for every document.
        lstat_at, max_bytes, IFMT, IFREG = os.stat, MAX_DOCUMENT_BYTES, 0o170000, stat.S_IFREG
        documents = document_bytes = others = directories = seen = blocked = 0
        stop = limit if limit is not None else -1
        next_check = min(CHECK_EVERY, stop) if limit is not None else CHECK_EVERY
        next_progress = start + PROGRESS_EVERY_S
        cut = False

        while queue and not cut:
            here, visible = queue.popleft()
            try:
                fd = os.open(here, _DIR_FLAGS)
            except OSError as exc:
                unreadable.add(here, exc.strerror or str(exc))
                continue
            directories += 1
            base = here.rstrip("/") + "/"
            failed = False
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        # Before the entry, so that a walk stopped here has surely left some.
                        if seen >= next_check:
                            now = time.monotonic()
                            if now >= deadline or seen == stop:
                                cut = True
                                break
                            if progress is not None and now >= next_progress:
                                progress(documents + others)
                                next_progress = now + PROGRESS_EVERY_S
                            next_check = seen + CHECK_EVERY
                            if limit is not None:
                                next_check = min(next_check, stop)
                        seen += 1
                        try:
                            name = entry.name
                            # Path.suffix, as the connector compares it: "a.PDF" is a .pdf,
                            # ".pdf" (a hidden file without extension) is not.
                            dot = name.rfind(".")
                            # (A name ending in "." gives ext ".", which is no type.)
                            if dot > 0 and (ext := name[dot:].lower()) in types:
                                # The one stat a document needs also tells what it is; by
                                # name in the open directory, cheaper than DirEntry.stat.
                                info = lstat_at(name, dir_fd=fd, follow_symlinks=False)
                                kind = info.st_mode & IFMT
                                if kind != IFREG:
                                    if kind == stat.S_IFDIR:
                                        self.enter(base + name, info, visible)
                                        continue
                                    if kind != stat.S_IFLNK:
                                        others += 1
                                        continue
                                    target = self.follow(base + name)
                                    if target is None:
                                        continue
                                    if not stat.S_ISREG(target.st_mode):
                                        others += 1
                                        continue
                                    # Counted by its own name, as the connector does.
                                    info = target
                            elif entry.is_dir(follow_symlinks=False):
                                self.enter(base + name, entry.stat(follow_symlinks=False), visible)
                                continue
                            elif entry.is_symlink():
                                if self.follow(base + name) is not None:
                                    others += 1
                                continue
                            else:
                                others += 1
                                continue
                            size = info.st_size
                            if size > max_bytes:
                                too_large.add(base + name)
                                continue
                            documents += 1
                            document_bytes += size
                            by_type[ext] += 1
                            if judge:
                                mode = info.st_mode
                                if info.st_uid == uid:
                                    mode >>= 6
                                elif info.st_gid == gid:
                                    mode >>= 3
                                if not (visible and mode & _READ):
                                    blocked += 1
                                    if self.first_blocked is None:
                                        self.first_blocked = (base + name, info)
                        except OSError as exc:
                            # A directory listed but not searchable (r without x), or an entry
                            # gone since it was listed: the directory counts once as unreadable.
                            if not failed:
                                failed = True
                                unreadable.add(here, exc.strerror or str(exc))
            except OSError as exc:
                if not failed:
                    unreadable.add(here, exc.strerror or str(exc))
            finally:
                os.close(fd)

        access = None
        if judge:
            first = self.first_blocked
            access = ReadAccess(
                path=self.path,
                uid=uid,
                gid=gid,
                documents=documents,
                blocked_documents=blocked,
                blocked_dirs=self.blocked_dirs.count,
                first_blocked=None if first is None else Path(first[0]),
                owner=None if first is None else (first[1].st_uid, first[1].st_gid),
                top_blocked=not self.top_ok,
                complete=not cut,
            )
        return DocumentPreview(
            path=self.path,
            by_type={ext: count for ext, count in by_type.items() if count},
            documents=documents,
            document_bytes=document_bytes,
            other_files=others,
            directories=directories,
            complete=not cut,
            budget_s=budget_s,
            elapsed_s=time.monotonic() - start,
            unreadable=unreadable.finding(),
            outside_links=self.outside.finding(),
            dir_links=self.dir_links.finding(),
            too_large=too_large.finding(),
            access=access,
        )


def _may(info: os.stat_result, uid: int, gid: int, wanted: int) -> bool:
    """Whether the permission bits grant `wanted` (r=4, x=1) to uid:gid: the owner's bits when
    it owns the file, else the group's when its group matches, else the others' (as the kernel
    picks them, so an owner without r is refused even where others may read)."""
    mode = info.st_mode
    if info.st_uid == uid:
        mode >>= 6
    elif info.st_gid == gid:
        mode >>= 3
    return mode & wanted == wanted


def _resolve_inside(real_root: str, relative: str) -> str | None:
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
            if hops > _MAX_LINK_HOPS or target.startswith("/"):
                return None
            todo.extend(target.split("/")[::-1])
            continue
        done.append(part)
    return os.path.join(real_root, *done)


def _first(finding: Finding, joiner: str = "") -> str:
    """The example of a finding: "PATH" or "PATH -> TARGET", as "first: ..." when there are more."""
    example = f"{finding.first}{joiner}{finding.detail}" if joiner else str(finding.first)
    return f"first: {example}" if finding.count > 1 else example


def _plural(count: int, noun: str) -> str:
    return f"1 {noun}" if count == 1 else f"{count:,} {_plural_noun(noun)}"


def _plural_noun(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"


def _size(count: int) -> str:
    if count < 1024:
        return "1 byte" if count == 1 else f"{count} bytes"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def container_user(env: Mapping[str, str]) -> tuple[int, int]:
    """The UID:GID the stack's document readers run as: `user: "${UID:-1000}:${GID:-1000}"`,
    so UID and GID from .env (or the environment compose runs in), else 1000:1000."""

    def number(key: str, default: int) -> int:
        text = str(env.get(key, "")).strip()
        return int(text) if text.isascii() and text.isdigit() else default

    return number("UID", STACK_UID), number("GID", STACK_GID)
