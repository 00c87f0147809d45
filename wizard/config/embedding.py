"""The models the stack runs: the embedding model, its quantization, the Hugging Face cache they
are kept in, offline mode, and vecpipe's share of the GPU. Parsing and the cache's layout; pure
but for reading the cache directory.

The stack's services set HF_HOME to the cache's mount, so Hugging Face keeps a model at
`<cache>/hub/models--<owner>--<name>/snapshots/<revision>/` (where the stack's
scripts/download-models.sh writes it).
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path

# The models the stack documents (scripts/download-models.sh --help): id, download size in GB.
DOCUMENTED_MODELS = (
    ("Qwen/Qwen3-Embedding-0.6B", 1.2, "recommended for most uses"),
    ("Qwen/Qwen3-Embedding-4B", 8.0, "better quality, more memory"),
    ("Qwen/Qwen3-Embedding-8B", 16.0, "best quality, 8 GB+ of GPU memory"),
)
DEFAULT_MODEL = DOCUMENTED_MODELS[0][0]


def model_size(model: str) -> int | None:
    """The download size in bytes of a model the stack documents; None for any other."""
    return next((int(gb * 1e9) for name, gb, _ in DOCUMENTED_MODELS if name == model), None)


# A Hugging Face repository id: owner/name, each of letters, digits and . _ -
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


class Quantization(StrEnum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    INT8 = "int8"


# shared/embedding/dense.py applies float16 and int8 only on CUDA.
CPU_QUANTIZATION = (
    "on a CPU deployment the stack loads the model in float32 whatever is chosen (it applies "
    "float16 and int8 only on a GPU)"
)

MIN_GPU_SHARE = 0.1
MAX_GPU_SHARE = 1.0


def parse_model_id(value: object, field_name: str) -> tuple[str | None, str | None]:
    text = str(value).strip()
    if not _MODEL_ID.fullmatch(text) or ".." in text:
        return None, (
            f"{field_name}: {value!r} is not a Hugging Face model id; use owner/name, e.g. "
            f"{DEFAULT_MODEL}"
        )
    return text, None


def parse_quantization(value: object, field_name: str) -> tuple[str | None, str | None]:
    text = str(value).strip().lower()
    if text not in {q.value for q in Quantization}:
        return None, f"{field_name}: {value!r} is not valid; use float32, float16 or int8"
    return text, None


def parse_gpu_share(value: object, field_name: str) -> tuple[float | None, str | None]:
    """The share of GPU memory vecpipe may use (GPU_MEMORY_MAX_PERCENT, a fraction)."""
    text = str(value).strip()
    share = float(text) if re.fullmatch(r"[0-9]{0,3}\.?[0-9]{1,6}", text) else None
    if share is None or not MIN_GPU_SHARE <= share <= MAX_GPU_SHARE:
        return None, (
            f"{field_name}: {value!r} is not valid; use a fraction from {MIN_GPU_SHARE} to "
            f"{MAX_GPU_SHARE} (0.9 lets vecpipe use 90% of the GPU's memory)"
        )
    return share, None


def parse_cache_dir(value: object, field_name: str) -> tuple[str | None, str | None]:
    """HF_CACHE_DIR as compose reads it: the base mounts it with the short syntax, which splits
    at ':' and takes a relative path without ./ for a volume's name."""
    text = str(value).strip()
    if not text or any(ord(ch) < 32 for ch in text) or ":" in text or "$" in text:
        return None, (
            f"{field_name}: {value!r} is not usable as the model cache; give a directory path "
            "without ':' or '$' (default ./models)"
        )
    text = os.path.expanduser(text)
    if not os.path.isabs(text) and not text.startswith(("./", "../")) and text not in (".", ".."):
        # compose takes a relative source without ./ for the name of a volume.
        text = "./" + text
    return text, None


def cache_path(cache: str, root: Path) -> Path:
    """The cache directory on the host: relative to the project directory, as compose reads it."""
    path = Path(os.path.expanduser(cache))
    return Path(os.path.normpath(path if path.is_absolute() else root / path))


def model_snapshot(cache: Path, model: str) -> Path | None:
    """A downloaded copy of `model` in the cache (a snapshot directory holding files), or None."""
    owner, _, name = model.partition("/")
    snapshots = cache / "hub" / f"models--{owner}--{name}" / "snapshots"
    try:
        for revision in sorted(snapshots.iterdir()):
            if revision.is_dir() and any(revision.iterdir()):
                return revision
    except OSError:
        return None
    return None


def snapshot_hint(cache: Path, model: str) -> str:
    owner, _, name = model.partition("/")
    return str(cache / "hub" / f"models--{owner}--{name}" / "snapshots" / "<revision>")
