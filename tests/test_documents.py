"""Document preview and read access, on real files in temporary directories."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import children_of, processes_with, python_lines, run_as

from wizard.host import documents
from wizard.host.document_findings import MAX_DOCUMENT_BYTES, Finding
from wizard.host.documents import preview, readable_by
from wizard.stack import resources
from wizard.ui.console import UI

ROOT = os.geteuid() == 0
NOBODY = 65534
# Owner of the trees in the permission tests: chowned to these when the tests run as root, so
# the verdicts (computed from bits alone) read the same whoever runs them.
OWNER = (1234, 2345) if ROOT else (os.getuid(), os.getgid())
LARGE_TYPES = (".pdf", ".md", ".txt", ".docx", ".html", ".eml", ".PDF", ".png", ".jpg", ".bin")


def write(path: Path, size: int = 0, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if mode is not None:
        path.chmod(mode)
    return path


def own(tree: Path) -> None:
    """Give `tree` to OWNER (only possible, and only needed, as root)."""
    if ROOT:
        for here, dirs, files in os.walk(tree):
            for name in [*dirs, *files]:
                os.chown(os.path.join(here, name), *OWNER, follow_symlinks=False)
        os.chown(tree, *OWNER)


# --- what is in a directory -----------------------------------------------------------------------


def test_counts_documents_per_type_and_total_size(tmp_path: Path) -> None:
    write(tmp_path / "report.pdf", 100)
    write(tmp_path / "SCAN.PDF", 50)
    write(tmp_path / "notes" / "meeting.md", 7)
    write(tmp_path / "notes" / "old" / "plan.docx", 3)
    for other in ("sheet.xlsx", ".pdf", "photo.png", "README", "backup.tar.gz", "trailing."):
        write(tmp_path / other, 1000)

    result = preview(tmp_path, budget_s=10)

    assert result.by_type == {".pdf": 2, ".md": 1, ".docx": 1}
    assert (result.documents, result.document_bytes) == (4, 160)
    assert (result.other_files, result.directories, result.complete) == (6, 3, True)
    assert result.describe() == (
        f"{tmp_path}: 4 documents, 160 bytes (2 .pdf, 1 .docx, 1 .md); 6 other files; "
        "2 subdirectories"
    )
    assert result.warnings() == ()


def test_sizes_are_said_in_binary_units(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", 1536)
    assert preview(tmp_path, budget_s=10).describe() == (
        f"{tmp_path}: 1 document, 1.5 KiB (1 .txt); no other files; no subdirectories"
    )


def test_directory_without_documents_names_what_the_stack_reads(tmp_path: Path) -> None:
    write(tmp_path / "photo.jpg")
    assert preview(tmp_path, budget_s=10).describe() == (
        f"{tmp_path}: no documents the stack indexes (.pdf, .docx, .doc, .txt, .text, .pptx, "
        ".eml, .md, .html); 1 other file; no subdirectories"
    )


def test_an_empty_directory_is_said_to_be_empty(tmp_path: Path) -> None:
    assert preview(tmp_path, budget_s=10).describe() == f"{tmp_path}: an empty directory"
    # Not empty: what the stack skips is there.
    (tmp_path / "gone.pdf").symlink_to("missing.pdf")
    assert preview(tmp_path, budget_s=10).describe() == (
        f"{tmp_path}: no documents the stack indexes (.pdf, .docx, .doc, .txt, .text, .pptx, "
        ".eml, .md, .html); no other files; no subdirectories"
    )


def test_document_types_are_the_stack_connectors() -> None:
    # semantik packages/shared/connectors/local.py: SUPPORTED_EXTENSIONS
    assert set(resources.document_types()) == {
        ".pdf", ".docx", ".doc", ".txt", ".text", ".pptx", ".eml", ".md", ".html",
    }  # fmt: skip


def test_documents_over_the_stacks_limit_are_reported_not_counted(tmp_path: Path) -> None:
    big = tmp_path / "huge.pdf"
    with big.open("wb") as handle:  # sparse: no disk space used
        handle.truncate(MAX_DOCUMENT_BYTES + 1)
    write(tmp_path / "small.pdf", 10)

    result = preview(tmp_path, budget_s=10)

    assert (result.documents, result.document_bytes) == (1, 10)
    assert result.too_large == Finding(1, big)
    assert result.warnings() == (
        f"{tmp_path}: the stack skips documents over 500 MiB: 1 here ({big})",
    )


def test_a_file_instead_of_a_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        preview(write(tmp_path / "a.pdf"), budget_s=1)
    with pytest.raises(FileNotFoundError):
        preview(tmp_path / "missing", budget_s=1)


# --- a large tree, the time budget ----------------------------------------------------------------


@dataclass(frozen=True)
class LargeTree:
    root: Path
    files: int
    entries: int  # files and directories below the root
    by_type: dict[str, int]
    document_bytes: int
    other_files: int
    directories: int
    created_s: float


@pytest.fixture(scope="module")
def large_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LargeTree]:
    """100,000 files: 100 directories of 10 subdirectories of 100 files, ten extensions
    round-robin (seven the stack indexes, counting .PDF); the files of one subdirectory have
    a few bytes each, so that the total size is not zero.

    On the tmpfs /dev/shm where there is one, and removed at the end: on a busy disk creating
    and removing 100,000 files takes from seconds to a minute, and left in pytest's temporary
    directories they would be removed by some later run."""
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path_factory.getbasetemp()
    root = Path(tempfile.mkdtemp(prefix="wizard-large-", dir=parent))
    try:
        root.chmod(0o755)  # mkdtemp makes it private; the access tests read it as nobody
        started = time.perf_counter()
        by_type: Counter[str] = Counter()
        others = total_bytes = 0
        flags = os.O_CREAT | os.O_WRONLY | os.O_EXCL
        for top in range(100):
            for sub in range(10):
                here = root / f"d{top:02}" / f"s{sub}"
                here.mkdir(parents=True)
                prefix = f"{here}/f"
                for number in range(100):
                    ext = LARGE_TYPES[number % len(LARGE_TYPES)]
                    fd = os.open(f"{prefix}{number}{ext}", flags, 0o644)
                    size = number if top == 0 and sub == 0 else 0
                    if size:
                        os.write(fd, b"x" * size)
                    os.close(fd)
                    if ext.lower() in resources.document_types():
                        by_type[ext.lower()] += 1
                        total_bytes += size
                    else:
                        others += 1
        yield LargeTree(
            root=root,
            files=100_000,
            entries=100_000 + 100 + 1000,
            by_type=dict(by_type),
            document_bytes=total_bytes,
            other_files=others,
            directories=1 + 100 + 1000,
            created_s=time.perf_counter() - started,
        )
    finally:
        shutil.rmtree(root)


def test_large_tree_is_previewed_within_its_budget_and_counted_exactly(
    large_tree: LargeTree, record_property: pytest.RecordProperty
) -> None:
    budget = 20.0  # generous for a loaded machine; the speed itself is tests/bench.py's job
    result = preview(large_tree.root, budget_s=budget)

    record_property("tree_created_s", round(large_tree.created_s, 2))
    record_property("preview_s", round(result.elapsed_s, 3))
    assert result.complete
    assert result.elapsed_s < budget
    assert result.by_type == large_tree.by_type == {
        ".pdf": 20_000, ".md": 10_000, ".txt": 10_000, ".docx": 10_000, ".html": 10_000,
        ".eml": 10_000,
    }  # fmt: skip
    assert result.documents == 70_000
    assert result.document_bytes == large_tree.document_bytes
    assert result.other_files == large_tree.other_files == 30_000
    assert result.directories == large_tree.directories
    assert result.describe().startswith(f"{large_tree.root}: 70,000 documents, ")


def test_tiny_budget_stops_early_and_says_at_least(large_tree: LargeTree) -> None:
    started = time.monotonic()
    result = preview(large_tree.root, budget_s=0.001)
    took = time.monotonic() - started

    assert not result.complete
    assert result.documents + result.other_files < large_tree.files
    # It looks at the clock every CHECK_EVERY entries: a budget is overrun by one such batch.
    assert took < 1.0
    # The first 1,024 entries are directories: nothing found yet, and said so.
    assert result.describe() == (
        f"{large_tree.root}: no documents found yet; no other files yet; at least "
        f"{result.directories - 1} subdirectories (stopped after 0.001 s, before the end)"
    )


def test_budget_cut_in_the_files_says_at_least(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(30):
        write(tmp_path / f"{number}.pdf", 100)
    # A look at the clock every 10 entries, and a clock that moves a second each time it is
    # read: start 0, deadline 1.5; after 10 entries it says 1 s, after 20, 2 s: stop.
    monkeypatch.setattr(documents, "CHECK_EVERY", 10)
    ticks = iter(range(1000))
    monkeypatch.setattr(documents, "time", SimpleNamespace(monotonic=lambda: next(ticks)))

    result = preview(tmp_path, budget_s=1.5)

    assert not result.complete
    assert result.describe() == (
        f"{tmp_path}: at least 20 documents, at least 2 KiB (20 .pdf); no other files "
        "yet; no subdirectories yet (stopped after 1.5 s, before the end)"
    )


def test_progress_is_reported_sparsely_with_a_growing_count(
    large_tree: LargeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the pause between calls, progress comes at each look at the clock.
    monkeypatch.setattr(documents, "PROGRESS_EVERY_S", 0.0)
    counts: list[int] = []
    preview(large_tree.root, budget_s=20, progress=counts.append)

    assert 0 < len(counts) <= large_tree.entries // documents.CHECK_EVERY
    assert counts == sorted(counts)
    assert counts[-1] <= large_tree.files


def test_quick_preview_reports_no_progress(tmp_path: Path) -> None:
    write(tmp_path / "a.pdf")
    counts: list[int] = []
    preview(tmp_path, budget_s=10, progress=counts.append)
    assert counts == []


# --- a large tree shared out between processes ---------------------------------------------------

FORKS: list[str] = []
sys.addaudithook(lambda event, _args: FORKS.append(event) if event == "os.fork" else None)


@dataclass(frozen=True)
class MixedTree:
    root: Path
    by_type: dict[str, int]
    document_bytes: int
    other_files: int
    directories: int
    blocked_documents: int
    rare: list[Path]  # the subdirectories that hold one of each rare thing
    private: list[Path]


@pytest.fixture(scope="module")
def mixed_tree() -> Iterator[MixedTree]:
    """Twice SPLIT_AFTER files in 20 directories of 5 subdirectories. Each subdirectory of
    d10 to d19, which the walk reaches after SPLIT_AFTER entries and shares out, holds one of
    each rare thing: a file over the stack's limit, a link out of the tree, one to a file and
    one to a directory inside it; d15/s3 to d19/s3 hold a private directory. Every tenth file of
    each s4 is private (0600), so another user may not read it."""
    root = Path(tempfile.mkdtemp(prefix="wizard-mixed-"))
    root.chmod(0o755)
    per_dir = -(-2 * documents.SPLIT_AFTER // 100)
    by_type: Counter[str] = Counter()
    others = total = blocked = 0
    rare: list[Path] = []
    private: list[Path] = []
    try:
        for top in range(20):
            for sub in range(5):
                here = root / f"d{top:02}" / f"s{sub}"
                here.mkdir(parents=True)
                for number in range(per_dir):
                    ext = LARGE_TYPES[number % len(LARGE_TYPES)]
                    locked = sub == 4 and number % 10 == 0
                    write(here / f"f{number}{ext}", number % 7, 0o600 if locked else 0o644)
                    if ext.lower() not in resources.document_types():
                        others += 1
                        continue
                    by_type[ext.lower()] += 1
                    total += number % 7
                    blocked += locked
                if top < 10:
                    continue
                rare.append(here)
                with (here / "big.pdf").open("wb") as handle:
                    handle.truncate(MAX_DOCUMENT_BYTES + 1)  # sparse: no disk used
                (here / "out.pdf").symlink_to("../../../elsewhere.pdf")
                (here / "inside.md").symlink_to("../../d00/s0/f1.md")  # a document of 1 byte
                (here / "alias").symlink_to("../s0")
                by_type[".md"] += 1
                total += 1
                if top >= 15 and sub == 3:
                    private.append(write(here / "private" / "x.pdf", 3).parent)
                    private[-1].chmod(0o700)
                    by_type[".pdf"] += 1
                    total += 3
                    blocked += 1
        own(root)
        yield MixedTree(
            root=root,
            by_type=dict(by_type),
            document_bytes=total,
            other_files=others,
            directories=1 + 20 + 100 + len(private),
            blocked_documents=blocked,
            rare=rare,
            private=private,
        )
    finally:
        shutil.rmtree(root)


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_a_shared_walk_counts_what_one_walk_counts(mixed_tree: MixedTree, processes: int) -> None:
    FORKS.clear()
    result = preview(mixed_tree.root, budget_s=60, reader=(NOBODY, NOBODY), processes=processes)

    assert len(FORKS) == processes - 1
    assert result.processes == processes  # every child's counts came back
    assert result.complete
    assert result.by_type == mixed_tree.by_type
    assert result.documents == sum(mixed_tree.by_type.values())
    assert result.document_bytes == mixed_tree.document_bytes
    assert result.other_files == mixed_tree.other_files
    assert result.directories == mixed_tree.directories
    rare = len(mixed_tree.rare)
    assert result.too_large.count == result.outside_links.count == rare
    assert result.dir_links.count == rare
    assert result.too_large.first in {here / "big.pdf" for here in mixed_tree.rare}
    assert result.outside_links.first in {here / "out.pdf" for here in mixed_tree.rare}
    assert result.outside_links.detail == "../../../elsewhere.pdf"
    assert result.unreadable.count == 0
    access = result.access
    assert access is not None and access.complete
    assert (access.documents, access.blocked_documents) == (
        result.documents, mixed_tree.blocked_documents
    )  # fmt: skip
    assert access.blocked_dirs == len(mixed_tree.private)
    assert access.owner == OWNER


def test_directories_the_wizard_cannot_read_are_found_in_a_shared_walk(
    mixed_tree: MixedTree,
) -> None:
    def run() -> list[object]:
        FORKS.clear()
        result = preview(mixed_tree.root, budget_s=60, processes=3)
        found = result.unreadable
        return [result.processes, result.documents, found.count, str(found.first), found.detail]

    resources.document_types()  # cached before the fork: the child may not read the checkout
    seen = run_as(NOBODY, NOBODY, run) if ROOT else run()
    forks, counted, unreadable, first, detail = seen  # (forks: processes)
    assert forks == 3
    assert counted == sum(mixed_tree.by_type.values()) - len(mixed_tree.private)
    assert unreadable == len(mixed_tree.private)
    assert first in {str(path) for path in mixed_tree.private}
    assert detail == "Permission denied"


@pytest.mark.skipif(not ROOT, reason="a bind mount needs root")
def test_a_tree_holding_a_directory_twice_is_walked_by_one_process(mixed_tree: MixedTree) -> None:
    # A bind mount of one part of the tree in another: apart, two processes would each count it.
    mirror = mixed_tree.root / "d17" / "s2" / "mirror"
    mirror.mkdir()
    source = mixed_tree.root / "d16" / "s1"
    mounted = subprocess.run(
        ["mount", "--bind", str(source), str(mirror)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        mirror.rmdir()
        pytest.skip(f"mount --bind failed: {mounted.stderr.decode().strip()}")
    try:
        FORKS.clear()
        shared = preview(mixed_tree.root, budget_s=60, processes=3)
        alone = preview(mixed_tree.root, budget_s=60, processes=1)
    finally:
        subprocess.run(["umount", str(mirror)], check=True)
        mirror.rmdir()
    assert (FORKS, shared.processes) == ([], 1)
    assert shared.documents == alone.documents == sum(mixed_tree.by_type.values())
    assert shared.directories == alone.directories == mixed_tree.directories


def test_an_interrupted_shared_walk_leaves_no_process_behind(
    mixed_tree: MixedTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "PROGRESS_EVERY_S", 0.0)
    before = children_of(os.getpid())
    FORKS.clear()

    def interrupt(seen: int) -> None:
        if FORKS:  # once the walk is shared out
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        preview(mixed_tree.root, budget_s=60, progress=interrupt, processes=2)
    assert FORKS
    assert children_of(os.getpid()) == before


# A preview of a shared walk as the wizard runs it (SIGTERM and SIGINT raise KeyboardInterrupt),
# holding the project's lock. argv: the tree, then "child" or "parent" to have that side get a
# SIGINT the moment fork() returns (the worst moment), or "none".
INTERRUPTED_WALK = """
import atexit, os, signal, sys
from pathlib import Path
from wizard.signals import RUN, hold_interrupts, redeliver_dropped, take_interrupts
redeliver_dropped()  # (as wizard's main: an interrupt in an import's clean-up is sent again)
take_interrupts()
from wizard.files.lock import project_lock
from wizard.host.documents import preview

me = os.getpid()
def escaped():
    if os.getpid() != me:
        os.write(2, b"ESCAPED %d\\n" % os.getpid())
atexit.register(escaped)
fork, side, forks = os.fork, sys.argv[2], []
def fork_then_interrupted():
    forks.append(1)
    pid = fork()
    if (pid == 0) == (side == "child") and side != "none":
        os.kill(os.getpid(), signal.SIGINT)
    return pid
os.fork = fork_then_interrupted
try:
    try:
        with project_lock(Path(sys.argv[3])):
            print("ready", flush=True)
            found = preview(Path(sys.argv[1]), budget_s=60, processes=3)
            said = f"{found.documents} {found.processes}"
    except KeyboardInterrupt:
        said = "interrupted"
except KeyboardInterrupt:  # (one landing as the first is handled)
    said = "interrupted"
RUN.over = True  # as wizard's main
hold_interrupts()
print(said, f"forks={len(forks)}", flush=True)
escaped()
"""


def walk_interrupted(
    tree: Path, side: str, project: Path, signals: tuple[tuple[float, int], ...] = ()
) -> str:
    """Run INTERRUPTED_WALK in a session of its own, sending it each (seconds after it says it
    is ready, signal) of `signals`. Returns the line it ends with, after checking that no
    process of its session is left and that no child ran the caller's code."""
    run = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_WALK, str(tree), side, str(project)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert run.stdout is not None
    assert run.stdout.readline() == "ready\n"
    ready = time.monotonic()
    for after_s, signum in signals:
        while time.monotonic() < ready + after_s:
            pass  # (sleep() wakes too late for the gaps wanted here)
        os.kill(run.pid, signum)
    out, err = run.communicate(timeout=60)
    assert "ESCAPED" not in err and "Traceback" not in err, err
    # 130: CPython (3.11) marks an interrupt that lands in code run by exec() from a string (a
    # dataclass being made by a lazy import, say) as unhandled even once it is caught, and then
    # exits 130 at the end, as the wizard does after any interrupt.
    assert run.returncode == 0 or (run.returncode == 130 and out.startswith("interrupted")), err
    deadline = time.monotonic() + 5
    while processes_with(4, run.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(4, run.pid) == set()  # nothing of its session is left
    (line,) = out.splitlines()
    return line


def test_a_child_interrupted_as_it_is_forked_dies_and_its_part_is_walked_all_the_same(
    mixed_tree: MixedTree, tmp_path: Path
) -> None:
    # Each child died of the SIGINT, without running a line of the caller's; the parent did
    # their parts itself.
    line = walk_interrupted(mixed_tree.root, "child", tmp_path)
    assert line == f"{sum(mixed_tree.by_type.values())} 1 forks=2"


def test_a_parent_interrupted_as_it_forks_leaves_no_child_behind(
    mixed_tree: MixedTree, tmp_path: Path
) -> None:
    assert walk_interrupted(mixed_tree.root, "parent", tmp_path) == "interrupted forks=1"


def test_ctrl_c_then_sigterm_at_any_moment_of_a_shared_walk_end_it_whole(
    large_tree: LargeTree, tmp_path: Path
) -> None:
    # The second signal lands while the first is being handled: in the children's clean-up,
    # say, which must be done all the same. Spread over the walk (it shares out after a few
    # milliseconds and takes about a hundred).
    outcomes: Counter[str] = Counter()
    for step in range(12):
        first = step * 0.005
        line = walk_interrupted(
            large_tree.root, "none", tmp_path,
            ((first, signal.SIGINT), (first + step * 0.00004, signal.SIGTERM)),
        )  # fmt: skip
        outcomes[line] += 1
    ends = {"interrupted forks=0", "interrupted forks=1", "interrupted forks=2", "70000 3 forks=2"}
    assert set(outcomes) <= ends, outcomes
    assert outcomes["interrupted forks=2"] > 0, outcomes  # some landed in the shared walk


# --- links ----------------------------------------------------------------------------------------


def test_symlink_loop_ends_and_counts_each_file_once(tmp_path: Path) -> None:
    write(tmp_path / "a" / "x.pdf", 5)
    (tmp_path / "a" / "up").symlink_to("..")
    (tmp_path / "a" / "self").symlink_to(".")
    (tmp_path / "b").symlink_to("a")

    result = preview(tmp_path, budget_s=10)

    assert result.complete
    assert (result.documents, result.document_bytes, result.other_files) == (1, 5, 0)
    assert result.directories == 2
    assert result.dir_links.count == 3
    assert result.outside_links.count == 0


def test_directory_link_is_not_followed_as_the_stack_does_not(tmp_path: Path) -> None:
    write(tmp_path / "real" / "x.pdf")
    (tmp_path / "alias").symlink_to("real")

    result = preview(tmp_path, budget_s=10)

    assert result.documents == 1
    assert result.dir_links == Finding(1, tmp_path / "alias", "real")
    assert result.warnings() == (
        f"{tmp_path}: the stack does not follow symbolic links to directories and skips 1 here "
        f"({tmp_path / 'alias'} -> real); to have what a link points to searched, add that "
        "directory as a document directory of its own, or move it here in place of the link",
    )


@pytest.mark.skipif(not ROOT, reason="a bind mount needs root")
def test_bind_mount_of_a_parent_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "x.pdf")
    inner = tmp_path / "docs" / "sub" / "again"
    inner.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "--bind", str(tmp_path / "docs"), str(inner)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount --bind failed: {mounted.stderr.decode().strip()}")
    try:
        result = preview(tmp_path / "docs", budget_s=10)
    finally:
        subprocess.run(["umount", str(inner)], check=True)
    assert result.complete
    assert result.documents == 1


def test_links_inside_the_tree_count_as_documents(tmp_path: Path) -> None:
    write(tmp_path / "a.pdf", 10)
    (tmp_path / "same.pdf").symlink_to("a.pdf")
    write(tmp_path / "sub" / "b.bin", 4)
    (tmp_path / "sub" / "up.md").symlink_to("../sub/./b.bin")
    (tmp_path / "sub" / "via").symlink_to(".")
    (tmp_path / "chained.txt").symlink_to("sub/via/up.md")

    result = preview(tmp_path, budget_s=10)

    # As the connector names them: a link counts by its own name, with its target's size.
    assert result.by_type == {".pdf": 2, ".md": 1, ".txt": 1}
    assert result.document_bytes == 10 + 10 + 4 + 4
    assert result.outside_links.count == 0


def test_links_leading_outside_the_tree_are_reported(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    secret = write(tmp_path / "elsewhere" / "secret.pdf")
    write(docs / "a.pdf")
    (docs / "absolute.pdf").symlink_to(secret)
    (docs / "climbs.pdf").symlink_to("../elsewhere/secret.pdf")
    # Works on the host, leads nowhere in a container (its path is the host's).
    (docs / "absolute-inside.pdf").symlink_to(docs / "a.pdf")
    (docs / "missing.pdf").symlink_to("gone.pdf")
    (docs / "loop.pdf").symlink_to("loop.pdf")
    (docs / "outside-dir").symlink_to("../elsewhere")

    result = preview(docs, budget_s=10)

    assert result.documents == 1
    assert result.outside_links.count == 6
    assert result.dir_links.count == 0
    (warning,) = result.warnings()
    assert warning.startswith(f"{docs}: 6 symbolic links lead outside it or nowhere (first: ")
    assert warning.endswith(
        "; the containers see only this directory, so the stack skips such links: put the file "
        "itself in place of a link, or use a relative link that stays inside"
    )


def test_link_outside_the_tree_is_explained(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(tmp_path / "elsewhere" / "secret.pdf")
    (docs / "sub").mkdir(parents=True)
    (docs / "sub" / "secret.pdf").symlink_to("../../elsewhere/secret.pdf")

    result = preview(docs, budget_s=10)

    link = docs / "sub" / "secret.pdf"
    assert result.outside_links == Finding(1, link, "../../elsewhere/secret.pdf")
    assert result.warnings() == (
        f"{docs}: 1 symbolic link leads outside it or nowhere ({link} -> "
        "../../elsewhere/secret.pdf); the containers see only this directory, so the stack "
        "skips such links: put the file itself in place of a link, or use a relative link that "
        "stays inside",
    )


def test_the_directory_itself_may_be_a_link(tmp_path: Path) -> None:
    write(tmp_path / "real" / "a.pdf")
    (tmp_path / "real" / "b.pdf").symlink_to("a.pdf")
    (tmp_path / "alias").symlink_to("real")
    result = preview(tmp_path / "alias", budget_s=10)
    assert (result.documents, result.outside_links.count) == (2, 0)


# --- what the wizard itself cannot read ------------------------------------------------------


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary directory that other users may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="wizard-docs-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for here, dirs, _ in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(here, name), 0o755)
        shutil.rmtree(path)


def preview_as_unprivileged(path: Path) -> dict[str, object]:
    """`preview(path)` as this user or, for root (whom permission bits do not stop), in a child
    running as nobody; returns the counts, the unreadable finding and the warnings."""

    def run() -> dict[str, object]:
        result = preview(path, budget_s=10)
        return {
            "documents": result.documents,
            "unreadable": [result.unreadable.count, str(result.unreadable.first)],
            "detail": result.unreadable.detail,
            "warnings": list(result.warnings()),
        }

    if not ROOT:
        return run()
    resources.document_types()  # cached before the fork: the child may not read the checkout
    answer: dict[str, object] = run_as(NOBODY, NOBODY, run)
    return answer


def test_unreadable_subdirectory_is_reported(shared_tmp: Path) -> None:
    write(shared_tmp / "a.pdf", mode=0o644)
    locked = shared_tmp / "locked"
    write(locked / "b.pdf", mode=0o644)
    locked.chmod(0o000)

    seen = preview_as_unprivileged(shared_tmp)

    assert seen["documents"] == 1
    assert seen["unreadable"] == [1, str(locked)]
    assert seen["warnings"] == [
        f"{shared_tmp}: the wizard could not read 1 directory in it ({locked}: "
        "Permission denied); the counts leave out what it holds"
    ]


def test_listed_but_unsearchable_directory_is_unreadable(shared_tmp: Path) -> None:
    half = shared_tmp / "half"
    write(half / "b.pdf", mode=0o644)
    half.chmod(0o444)  # names can be listed, files not opened

    seen = preview_as_unprivileged(shared_tmp)

    assert seen["documents"] == 0
    assert seen["unreadable"] == [1, str(half)]


# --- what the containers may read (permission bits; whoever runs the tests) ----------------------


def tree(base: Path, top_mode: int, file_mode: int, *, files: int = 1) -> Path:
    docs = base / "docs"
    for number in range(files):
        write(docs / f"doc{number}.pdf", 1, mode=file_mode)
    docs.chmod(top_mode)
    own(docs)
    return docs


def test_others_may_read_a_world_readable_tree(tmp_path: Path) -> None:
    docs = tree(tmp_path, 0o755, 0o644)
    access = readable_by(docs, NOBODY, NOBODY)
    assert access.ok and access.complete
    assert access.problem() is None


def test_private_directory_names_every_fix(tmp_path: Path) -> None:
    docs = tree(tmp_path, 0o700, 0o600)
    access = readable_by(docs, NOBODY, NOBODY)
    assert access.top_blocked
    assert access.problem() == (
        f"{docs}: the stack's containers run as 65534:65534 and cannot open the directory "
        f"itself; to fix it, run `chmod -R o+rX {docs}`, or `chgrp -R 65534 {docs} && chmod -R "
        f"g+rX {docs}`, or set UID={OWNER[0]} and GID={OWNER[1]} in .env (the owner of {docs})"
    )


def test_group_members_read_a_group_readable_tree(tmp_path: Path) -> None:
    docs = tree(tmp_path, 0o750, 0o640)
    assert readable_by(docs, NOBODY, OWNER[1]).ok
    assert not readable_by(docs, NOBODY, NOBODY).ok


def test_group_without_read_is_refused_even_where_others_may_read(tmp_path: Path) -> None:
    docs = tree(tmp_path, 0o755, 0o604, files=3)
    access = readable_by(docs, NOBODY, OWNER[1])
    assert (access.documents, access.blocked_documents) == (3, 3)
    assert access.problem() == (
        f"{docs}: the stack's containers run as 65534:{OWNER[1]} and cannot read 3 of 3 "
        f"documents (first: {access.first_blocked}); to fix it, run `chmod -R g+rX {docs}`"
    )


def test_owner_without_read_is_told_to_chmod_u(tmp_path: Path) -> None:
    docs = tree(tmp_path, 0o755, 0o044)
    access = readable_by(docs, OWNER[0], NOBODY)
    assert access.problem() == (
        f"{docs}: the stack's containers run as {OWNER[0]}:65534 and cannot read 1 of 1 "
        f"documents ({docs / 'doc0.pdf'}); to fix it, run `chmod -R u+rX {docs}`"
    )


def test_root_in_the_containers_obeys_the_bits(tmp_path: Path) -> None:
    # The stack's containers drop every capability (cap_drop: ALL), DAC override included.
    docs = tree(tmp_path, 0o755, 0o600)
    if OWNER[0] == 0:
        pytest.skip("the files belong to root")
    assert readable_by(docs, 0, 0).blocked_documents == 1


def test_private_subdirectory_hides_its_documents(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "open.pdf", mode=0o644)
    write(docs / "private" / "a.pdf", mode=0o644)
    write(docs / "private" / "deeper" / "b.pdf", mode=0o644)
    (docs / "private").chmod(0o700)
    own(docs)

    access = preview(docs, budget_s=10, reader=(NOBODY, NOBODY)).access

    assert access is not None
    assert (access.documents, access.blocked_documents, access.blocked_dirs) == (3, 2, 1)
    assert access.problem() == (
        f"{docs}: the stack's containers run as 65534:65534 and cannot read 2 of 3 documents "
        f"and cannot list 1 directory (first: {docs / 'private'}); to fix it, run "
        f"`chmod -R o+rX {docs}`, or `chgrp -R 65534 {docs} && chmod -R g+rX {docs}`, or set "
        f"UID={OWNER[0]} and GID={OWNER[1]} in .env (the owner of {docs / 'private'})"
    )


def test_path_with_spaces_is_quoted_in_the_fix(tmp_path: Path) -> None:
    docs = tree(tmp_path / "my files", 0o700, 0o600)
    problem = readable_by(docs, NOBODY, NOBODY).problem()
    assert problem is not None
    assert f"`chmod -R o+rX '{docs}'`" in problem


def test_read_access_of_a_large_tree_is_sampled(large_tree: LargeTree) -> None:
    started = time.monotonic()
    # Breadth first: the 1,100 directories of the top two levels, then the first files.
    access = readable_by(large_tree.root, NOBODY, NOBODY, sample=2000)
    assert time.monotonic() - started < 1.0
    assert access.ok
    assert not access.complete
    assert 0 < access.documents < 2000


def test_read_access_is_judged_in_the_same_walk(large_tree: LargeTree) -> None:
    result = preview(large_tree.root, budget_s=20, reader=(NOBODY, NOBODY))
    assert result.access is not None
    assert result.access.complete and result.access.ok
    assert result.access.documents == result.documents == 70_000


# --- the spinner ----------------------------------------------------------------------------------


def test_spinner_shows_a_live_count_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setenv("NO_COLOR", "1")
    with UI(color=True).counting("Reading /srv/docs") as tick:
        tick(1500)
        tick(250000)
    assert err.getvalue() == (
        "\r\x1b[K⠋ Reading /srv/docs"
        "\r\x1b[K⠋ Reading /srv/docs (1,500 files)"
        "\r\x1b[K⠙ Reading /srv/docs (250,000 files)"
        "\r\x1b[K"
    )


def test_spinner_prints_nothing_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with UI(color=False).counting("Reading /srv/docs") as tick:
        tick(1500)
    assert err.getvalue() == ""


def test_help_does_not_import_the_preview() -> None:
    code = (
        "import sys\n"
        "from wizard.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('wizard.host.documents' in sys.modules)\n"
    )
    assert python_lines(code)[-1] == "False"
