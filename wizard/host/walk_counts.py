"""What a document walk adds up, as plain values: a forked share of the walk sends its `state`
(for `marshal`) and the parent `merge`s it into its own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from wizard.host.document_findings import Finding

# (count, first path, its detail)
TallyState = tuple[int, str | None, str]
# counters (in COUNTERS' order), documents per type, cut short, tallies (in TALLIES' order), the
# first thing the reader may not read (path, uid, gid)
State = tuple[
    tuple[int, ...], dict[str, int], bool, tuple[TallyState, ...], tuple[str, int, int] | None
]
COUNTERS = ("documents", "document_bytes", "others", "directories", "seen", "blocked")
TALLIES = ("unreadable", "outside", "dir_links", "too_large", "blocked_dirs")


class Tally:
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

    def merge(self, other: TallyState) -> None:
        count, first, detail = other
        if self.first is None and first is not None:
            self.first, self.detail = first, detail
        self.count += count

    def state(self) -> TallyState:
        return self.count, self.first, self.detail

    def finding(self) -> Finding:
        return Finding(self.count, None if self.first is None else Path(self.first), self.detail)


class Counts:
    """Every number of one walk (or one share of it), from zero. `by_type` starts with every
    type at 0, so that the hot loop adds without a lookup-or-insert. What a walk met first is
    its own first where it has one: the parent's share holds the top of the tree."""

    def __init__(self, types: Iterable[str]) -> None:
        self.documents = self.document_bytes = self.others = self.directories = 0
        self.seen = self.blocked = 0
        self.cut = False
        self.by_type = dict.fromkeys(types, 0)
        self.unreadable, self.outside, self.dir_links, self.too_large, self.blocked_dirs = (
            Tally() for _ in range(5)
        )
        # The first thing the reader may not read: its path and its owner.
        self.first_blocked: tuple[str, int, int] | None = None

    def state(self) -> State:
        return (
            tuple(getattr(self, name) for name in COUNTERS),
            self.by_type,
            self.cut,
            tuple(getattr(self, name).state() for name in TALLIES),
            self.first_blocked,
        )

    def merge(self, state: State) -> None:
        counters, by_type, cut, tallies, first_blocked = state
        for name, value in zip(COUNTERS, counters, strict=True):
            setattr(self, name, getattr(self, name) + value)
        for ext, count in by_type.items():
            self.by_type[ext] += count
        self.cut = self.cut or cut
        for name, tally in zip(TALLIES, tallies, strict=True):
            getattr(self, name).merge(tally)
        if self.first_blocked is None and first_blocked is not None:
            path, uid, gid = first_blocked
            self.first_blocked = (path, uid, gid)
