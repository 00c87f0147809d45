"""One-off check of GPU detection on a real machine: `python3 tests/gpu_check.py [TIMEOUT]`.

Prints one JSON object: what `detect_gpus()` concluded, and the raw output of every command it
runs, so the fakes under tests/fakebin can be compared with (or replaced by) real captures.
Needs only the standard library and this checkout; exits 0 whatever it finds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

# Runnable from a bare checkout, without installing the package first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wizard.host.gpu import (
    DEFAULT_TIMEOUT,
    DOCKER_DEVICES_ARGS,
    DOCKER_RUNTIMES_ARGS,
    NVIDIA_SMI_ARGS,
    detect_gpus,
)


def raw(tool: str, args: tuple[str, ...], timeout: float) -> dict[str, object]:
    """Exactly what the tool printed for these arguments, or why it could not be run."""
    path = shutil.which(tool)
    if path is None:
        return {"argv": [tool, *args], "found": False}
    try:
        done = subprocess.run(
            [path, *args], capture_output=True, text=True, errors="replace", timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"argv": [path, *args], "timed_out_after_s": timeout}
    except OSError as exc:
        return {"argv": [path, *args], "start_error": str(exc)}
    return {
        "argv": [path, *args],
        "returncode": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
    }


def main() -> int:
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TIMEOUT
    detection = detect_gpus(timeout)
    report = {
        "detection": {
            **dataclasses.asdict(detection),
            "available": detection.available,
            "summary": detection.summary(),
        },
        "raw": {
            "nvidia-smi": raw("nvidia-smi", NVIDIA_SMI_ARGS, timeout),
            "docker runtimes": raw("docker", DOCKER_RUNTIMES_ARGS, timeout),
            "docker devices": raw("docker", DOCKER_DEVICES_ARGS, timeout),
        },
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
