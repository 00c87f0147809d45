"""Which document directories may be mounted into the stack: never the system, never the secrets.

Every document directory is bound into the containers (read-only) and walked by the preview, and
a permission problem is answered with a recursive `chmod`/`chgrp` on it. So `/`, the kernel's and
the system's trees, and any directory holding the project directory (whose .env has every
secret) are refused; two directories of which one holds the other are mounted twice, which is
allowed but worth a warning.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

# Refused with everything inside them: the kernel's views, devices, configuration, boot files,
# runtime state, and the container engines' own storage.
SYSTEM_TREES = (
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/boot",
    "/run",
    "/var/run",
    "/var/lib/docker",
    "/var/lib/containerd",
)
# Refused as a whole (a directory inside one may well hold documents).
SYSTEM_ROOTS = frozenset(
    {"/", "/root", "/usr", "/var", "/var/lib", "/bin", "/sbin", "/lib", "/lib32", "/lib64"}
)


def system_directory_problem(path: Path, label: str) -> str | None:
    """One sentence when `path` (or where its links lead) is `/`, a system root or inside a
    system tree; None otherwise."""
    real = os.path.realpath(path)
    leads = "" if real == os.path.normpath(path) else f" (which leads to {real})"
    if real in SYSTEM_ROOTS:
        what = "the root of the filesystem" if real == "/" else "a system directory"
    elif tree := next((t for t in SYSTEM_TREES if real == t or real.startswith(t + "/")), None):
        what = f"inside the system tree {tree}"
    else:
        return None
    return (
        f"{label}: {path}{leads} is {what}; the stack would mount all of it into its "
        "containers and index it: give the directory that holds only the documents"
    )


def project_problems(project_dir: Path, documents: Sequence[Path], label: str) -> list[str]:
    """One sentence for each document directory that is the project directory or holds it: its
    .env (every secret) and the wizard's other files would be mounted into the containers."""
    project = os.path.realpath(project_dir)
    problems = []
    for path in documents:
        real = os.path.realpath(path)
        if project == real or project.startswith(real.rstrip("/") + "/"):
            problems.append(
                f"{label}: {path} holds the project directory {project_dir}, whose .env (every "
                "secret) the stack would then mount into its containers and index; give a "
                "directory outside it"
            )
    return problems


def nested_warnings(documents: Sequence[Path]) -> list[str]:
    """One sentence for each pair of document directories of which one holds the other."""
    reals = [(path, os.path.realpath(path)) for path in documents]
    warnings = []
    for outer, outer_real in reals:
        for inner, inner_real in reals:
            if inner_real.startswith(outer_real.rstrip("/") + "/"):
                warnings.append(
                    f"Document directory {inner} lies inside {outer}: its documents are "
                    "mounted, and indexed, twice; give only one of them unless that is wanted."
                )
    return warnings
