"""Objects -> a kustomize directory: `kustomization.yaml` (with the wizard's header) and one file
per object, each written atomically; the Secret's file is 0600 and the only one with a secret.

A directory is the wizard's when its `kustomization.yaml` starts with the header: only then are
its files replaced. Files it does not list are left in place (the caller warns about them).
Output is deterministic: the same objects give the same bytes, so an unchanged file is not
rewritten.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION = "kustomization.yaml"
OWNER_LINE = "# Written by `wizard export kubernetes`; re-run it to change these files."
SECRET_MODE = 0o600
FILE_MODE = 0o644


@dataclass(frozen=True)
class OutputFile:
    name: str
    text: str = field(repr=False)
    mode: int


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the SQL, a CA certificate) as `|` blocks, readable in a review; no
    anchors for repeated values (each object reads whole on its own)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and value.endswith("\n") and " \n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def dump(data: Any) -> str:
    text: str = yaml.dump(
        data, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, width=100
    )
    return text


def file_name(item: Mapping[str, Any]) -> str:
    return f"{str(item['kind']).lower()}-{item['metadata']['name']}.yaml"


def files(objects: Sequence[Mapping[str, Any]], namespace: str | None) -> list[OutputFile]:
    """One file per object and the kustomization listing them (last, so a directory whose
    kustomization is written has every file it lists)."""
    result = []
    secret_files = []
    for item in objects:
        secret = item["kind"] == "Secret"
        name = file_name(item)
        if secret:
            secret_files.append(name)
        result.append(OutputFile(name, dump(item), SECRET_MODE if secret else FILE_MODE))
    header = [
        OWNER_LINE,
        "# Apply with `kubectl apply -k DIR`. Edits here are replaced by the next export.",
        *(
            f"# {name} holds every secret of .env (mode 0600): keep it out of version control."
            for name in secret_files
        ),
    ]
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    }
    if namespace:
        kustomization["namespace"] = namespace
    kustomization["resources"] = [entry.name for entry in result]
    text = "\n".join(header) + "\n" + dump(kustomization)
    return [*result, OutputFile(KUSTOMIZATION, text, FILE_MODE)]


def out_problems(out: Path) -> list[str]:
    """Why `out` cannot take an export (empty: it can): a file, or a directory with files the
    wizard did not write."""
    if out.exists() and not out.is_dir():
        return [f"--out: {out} is a file; give a directory (new or empty, or an earlier export)"]
    if not out.is_dir() or not any(out.iterdir()):
        return []
    if not written_by_wizard(out):
        return [
            f"--out: {out} holds files the wizard did not write (no {KUSTOMIZATION} starting "
            "with its header); give a new or empty directory"
        ]
    return []


def written_by_wizard(out: Path) -> bool:
    try:
        with open(out / KUSTOMIZATION, encoding="utf-8") as handle:
            return handle.readline().rstrip("\n") == OWNER_LINE
    except (OSError, UnicodeDecodeError):
        return False


def previous(out: Path, name: str) -> Mapping[str, Any]:
    """An object of an earlier export in `out` (empty when there is none or it is unreadable)."""
    if not written_by_wizard(out):
        return {}
    try:
        data = yaml.safe_load((out / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def write(out: Path, planned: Sequence[OutputFile]) -> tuple[list[str], list[str]]:
    """Write the files into `out` (created if missing). Returns (the files that changed, the
    files in `out` the export does not list)."""
    out.mkdir(parents=True, exist_ok=True)
    changed = []
    for entry in planned:
        path = out / entry.name
        data = entry.text.encode("utf-8")
        try:
            same = path.read_bytes() == data and (path.stat().st_mode & 0o777) == entry.mode
        except OSError:
            same = False
        if not same:
            _write_atomic(path, data, entry.mode)
            changed.append(entry.name)
    listed = {entry.name for entry in planned}
    others = sorted(p.name for p in out.iterdir() if p.name not in listed)
    return changed, others


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    # A temporary file in the same directory, renamed over the old one: a reader (or an
    # interrupted run) sees the old file or the new one, never half of one. The mode is set
    # before the content is written, so a secret is never readable by others.
    handle, temporary = tempfile.mkstemp(prefix=".wizard-tmp-", dir=path.parent)
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
