"""What a document preview found, as values, and the sentences that say it: how many documents
of the stack's types, what was skipped and why, and whether the containers' UID:GID may read
them (with the one fix that matters). Nothing here walks or prints."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wizard.stack import resources

# The connector skips larger files (packages/shared/connectors/local.py: MAX_FILE_SIZE).
MAX_DOCUMENT_BYTES = 500 * 1024 * 1024


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
    `processes`: how many processes walked the tree (their counts are added up).
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
    processes: int = 1

    def describe(self) -> str:
        """One line: documents per type and their size, other files, subdirectories (or that
        the directory is empty); every number as "at least N" when the walk was cut short."""
        least = "" if self.complete else "at least "
        skipped = (self.unreadable, self.outside_links, self.dir_links, self.too_large)
        found_nothing = not (self.documents or self.other_files or self.subdirectories)
        if self.complete and found_nothing and not any(f.count for f in skipped):
            return f"{self.path}: an empty directory"
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
            f"{self._number(self.subdirectories, 'subdirectory')}"
        )
        if not self.complete:
            text += f" (stopped after {self.budget_s:g} s, before the end)"
        return text

    @property
    def subdirectories(self) -> int:
        """The directories read below `path` (`directories` counts `path` itself)."""
        return max(self.directories - 1, 0)

    def _number(self, count: int, noun: str) -> str:
        if self.complete:
            return _plural(count, noun) if count else f"no {_plural_noun(noun)}"
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
