"""Step 3's answers -> the document directories: where each is mounted, which to create, and
what makes a directory unusable (named, with the fix)."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path

from wizard.config.collect import Collector, has_control_characters
from wizard.config.document_dirs import system_directory_problem
from wizard.config.model import DocumentDir
from wizard.stack.profile import profile

DOCS_ROOT = "/mnt/docs"


def resolve_documents(
    c: Collector,
    cwd: Path,
    existing: Sequence[DocumentDir],
    create: bool,
    root: str | None = None,
) -> tuple[tuple[DocumentDir, ...], tuple[Path, ...]]:
    raw = c.raw("doc_dir")
    label = c.label("doc_dir")
    if not raw:
        c.problem(
            "doc_dir",
            "--doc-dir: at least one document directory is required (the documents to search); "
            "give --doc-dir PATH, repeatable",
        )
        return (), ()
    paths = raw if isinstance(raw, list) else [raw]
    targets = {
        doc.source: doc.target
        for doc in existing
        # Inside the base's read-only bind no mount point can be made: such a target (written
        # before the wizard knew the stack's own bind) is chosen again.
        if root is None or not doc.target.startswith(root + "/")
    }
    used = set(targets.values())
    seen: set[str] = set()
    documents: list[DocumentDir] = []
    missing: list[Path] = []
    for item in paths:
        path = _path(c, label, str(item), cwd, create)
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue  # the same directory twice (also through a symlink): mount it once
        seen.add(real)
        target = targets.get(path)
        if target is None and root is not None:
            target = root if root not in used else unique_target(path, used, root + "-")
        target = target or unique_target(path, used)
        if root is not None and target == root and ":" in str(path):
            c.problem(
                "doc_dir",
                f"{label}: {path} contains ':', and the stack's compose file mounts its first "
                f"document directory ({profile().documents_variable}) with the short volume "
                "syntax, which splits at ':'; rename the directory, or give another one first",
            )
            continue
        if not path.exists():
            missing.append(path)
        used.add(target)
        documents.append(DocumentDir(source=path, target=target))
    return tuple(documents), tuple(missing)


def _path(c: Collector, label: str, text: str, cwd: Path, create: bool) -> Path | None:
    """One directory as given: absolute and normalised, or None (and a problem) when unusable."""
    text = text.strip()
    if not text:
        # `--doc-dir "$UNSET"`: taken as no directory, it would drop every current mount.
        c.problem(
            "doc_dir",
            f"{label}: an empty path is not a document directory (an unset variable?); "
            "give the directory that holds the documents",
        )
        return None
    path = Path(os.path.expanduser(text))
    path = Path(os.path.normpath(path if path.is_absolute() else cwd / path))
    problem = document_dir_problem(path, label, create)
    if problem:
        c.problem("doc_dir", problem)
        return None
    return path


def document_dir_problem(path: Path, label: str, create: bool) -> str | None:
    if has_control_characters(str(path)):
        return f"{label}: the path contains control characters; rename the directory"
    if problem := _broken_link_problem(path, label):
        return problem
    if problem := system_directory_problem(path, label):
        return problem
    if not path.exists():
        if create:
            return _creation_problem(path, label)
        return (
            f"{label}: {path} does not exist; create it, or pass --create-doc-dirs to let "
            "the wizard create it"
        )
    if not path.is_dir():
        return f"{label}: {path} is not a directory; give the directory that holds the documents"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"{label}: {path} is not readable; fix its permissions (chmod a+rx)"
    return None


def _broken_link_problem(path: Path, label: str) -> str | None:
    """A symlink loop or a link to nothing: for pathlib both are a path that "does not exist"."""
    try:
        os.stat(path)
    except OSError as exc:
        fix = "point it at a directory or give the directory itself"
        if exc.errno == errno.ELOOP:
            where = "is a symbolic link" if path.is_symlink() else "goes through a symbolic link"
            return f"{label}: {path} {where} that loops (it leads back to itself); {fix}"
        if path.is_symlink():
            target = os.readlink(path)
            return f"{label}: {path} is a symbolic link to {target}, which does not exist; {fix}"
    return None


def _creation_problem(path: Path, label: str) -> str | None:
    """Why `path` (missing) cannot be created, judged by its nearest existing parent."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{label}: {path} cannot be created: {parent} is not a directory; give another path"
    if not os.access(parent, os.W_OK | os.X_OK):
        return (
            f"{label}: {path} cannot be created: {parent} is not writable; create the directory "
            "yourself or fix the permissions"
        )
    return None


def unique_target(path: Path, used: set[str], prefix: str = DOCS_ROOT + "/") -> str:
    """A container path <prefix><name> (/mnt/docs/<name>) from the directory's name, unique
    among `used`."""
    stem = re.sub(r"[^a-z0-9._-]+", "-", path.name.lower()).strip("-.") or "docs"
    target = f"{prefix}{stem}"
    counter = 2
    while target in used:
        target = f"{prefix}{stem}-{counter}"
        counter += 1
    return target
