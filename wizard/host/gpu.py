"""Which NVIDIA GPUs this host has, and whether Docker can hand them to containers.

The tools themselves are asked, never an image pulled: `nvidia-smi` lists the GPUs and `docker info`
lists the NVIDIA runtime (or CDI devices). Both run at the same time under one deadline, because a
hung driver or daemon must not hang the wizard, and every failure of a tool becomes one sentence in
`GpuDetection.problem` rather than an exception.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT = 5.0
NVIDIA_SMI_ARGS = (
    "--query-gpu=index,name,memory.total,driver_version,uuid",
    "--format=csv,noheader,nounits",
)
DOCKER_RUNTIMES_ARGS = ("info", "--format", "{{json .Runtimes}}")
# Docker 28.2 (API 1.50) reports CDI devices here; an older client rejects the field, which only
# means this second look finds nothing.
DOCKER_DEVICES_ARGS = ("info", "--format", "{{json .DiscoveredDevices}}")

TOOLKIT_NOT_CONFIGURED = (
    "the NVIDIA container toolkit is not configured in Docker: install nvidia-container-toolkit, "
    "run `sudo nvidia-ctk runtime configure --runtime=docker` and restart Docker"
)
# How long a killed tool may take to go away before it is left behind (see _kill).
_REAP_GRACE = 0.5


@dataclass(frozen=True)
class Gpu:
    index: str
    name: str
    # None where the driver reports no dedicated memory ("[N/A]" on unified-memory chips).
    memory_mib: int | None
    driver: str
    uuid: str


@dataclass(frozen=True)
class GpuDetection:
    gpus: tuple[Gpu, ...]
    # None: docker is not on PATH or did not answer; True: `docker info` lists an NVIDIA runtime or
    # CDI NVIDIA devices; False: the daemon answered and lists neither.
    docker_runtime: bool | None
    # None when GPUs were found and Docker can use them; otherwise one sentence for the person
    # saying what stands in the way (no driver, driver failure, timeout, Docker not set up).
    problem: str | None

    @property
    def available(self) -> bool:
        """At least one GPU answered; `problem` may still say Docker cannot use it yet."""
        return bool(self.gpus)

    def summary(self) -> str:
        """One line for the deployment prompt: the GPUs and driver, then the problem if any."""
        if not self.gpus:
            return self.problem or "no NVIDIA GPU found"
        count = f"{len(self.gpus)} GPU{'s' if len(self.gpus) != 1 else ''}"
        listed = ", ".join(
            f"{gpu.name} ({gpu.memory_mib} MiB)"
            if gpu.memory_mib is not None
            else f"{gpu.name} (memory unknown)"
            for gpu in self.gpus
        )
        drivers = ", ".join(dict.fromkeys(gpu.driver for gpu in self.gpus))
        text = f"{count}: {listed}; driver {drivers}"
        return f"{text}; but {self.problem}" if self.problem else text


def parse_nvidia_smi_csv(text: str) -> tuple[Gpu, ...]:
    """The GPUs in the output of `nvidia-smi` run with NVIDIA_SMI_ARGS.

    Blank lines are skipped. Raises ValueError naming the first line that is not a GPU row, since a
    changed format would otherwise put the wrong values in the wrong fields.
    """
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        # nvidia-smi separates fields with ", " and quotes nothing. Only the name could hold a
        # comma, so the fields are taken from both ends and whatever is left is the name.
        fields = [field.strip() for field in line.split(", ")]
        if len(fields) < 5:
            raise ValueError(line)
        index, *name_parts, memory, driver, uuid = fields
        if not index.isdigit() or not uuid:
            raise ValueError(line)
        # "[N/A]" (GB10 / DGX Spark) or "[Not Supported]": the size is unknown, not zero.
        memory_mib = int(memory) if memory.isdigit() else None
        gpus.append(Gpu(index, ", ".join(name_parts), memory_mib, driver, uuid))
    return tuple(gpus)


def detect_gpus(timeout: float = DEFAULT_TIMEOUT) -> GpuDetection:
    """Ask nvidia-smi and docker (both found on PATH) what this host offers.

    Returns within `timeout` seconds (plus half a second per tool it has to kill) whatever the
    tools do; never raises for a missing, failing or hung tool. Docker Desktop lists an `nvidia`
    runtime even on machines without an NVIDIA card, so `docker_runtime` says nothing about
    hardware: only `gpus` does.
    """
    deadline = time.monotonic() + timeout
    smi = shutil.which("nvidia-smi")
    docker = shutil.which("docker")
    commands: dict[str, list[str]] = {}
    if smi:
        commands["smi"] = [smi, *NVIDIA_SMI_ARGS]
    if docker:
        commands["docker"] = [docker, *DOCKER_RUNTIMES_ARGS]
    outcomes = _run_together(commands, deadline)

    gpus, gpu_problem = _read_gpus(outcomes.get("smi"), timeout)
    runtime, docker_problem = _read_docker(docker, outcomes.get("docker"), deadline, timeout)
    problem = gpu_problem or (docker_problem if gpus else None)
    return GpuDetection(gpus=gpus, docker_runtime=runtime, problem=problem)


# --- reading the tools' answers --------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    returncode: int | None  # None: it could not start, or was killed at the deadline
    stdout: str = ""
    stderr: str = ""
    start_error: str = ""

    @property
    def timed_out(self) -> bool:
        return self.returncode is None and not self.start_error

    @property
    def first_line(self) -> str:
        # nvidia-smi prints its errors on stdout, not stderr, so both are looked at.
        for line in (self.stderr + "\n" + self.stdout).splitlines():
            if line.strip():
                return line.strip()
        return f"exit code {self.returncode}"


def _read_gpus(outcome: _Outcome | None, timeout: float) -> tuple[tuple[Gpu, ...], str | None]:
    if outcome is None:
        return (), (
            "nvidia-smi not found: install the NVIDIA driver (it provides nvidia-smi), "
            "or choose the CPU deployment"
        )
    if outcome.start_error:
        return (), f"nvidia-smi could not be started: {outcome.start_error}"
    if outcome.timed_out:
        return (), (
            f"nvidia-smi timed out after {timeout:g} s: the NVIDIA driver may be hung; "
            "run nvidia-smi by hand to see"
        )
    if outcome.returncode != 0:
        return (), f"nvidia-smi failed: {outcome.first_line}"
    try:
        gpus = parse_nvidia_smi_csv(outcome.stdout)
    except ValueError as exc:
        return (), f"nvidia-smi printed a line the wizard cannot read: {exc.args[0]!r}"
    if not gpus:
        return (), "nvidia-smi ran but listed no GPU"
    return gpus, None


def _read_docker(
    docker: str | None, outcome: _Outcome | None, deadline: float, timeout: float
) -> tuple[bool | None, str | None]:
    if docker is None or outcome is None:
        return None, "docker not found on PATH, so its NVIDIA runtime could not be checked"
    if outcome.start_error:
        return None, f"docker could not be started: {outcome.start_error}"
    if outcome.timed_out:
        return None, f"docker info timed out after {timeout:g} s, so its NVIDIA runtime is unknown"
    if outcome.returncode != 0:
        # Docker 28 prints "null" on stdout and the reason on stderr when the daemon is down.
        reason = outcome.first_line
        return None, f"Docker did not answer ({reason}), so its NVIDIA runtime is unknown"
    try:
        runtimes = json.loads(outcome.stdout)
    except ValueError:
        return None, f"docker info printed something the wizard cannot read: {outcome.first_line}"
    if isinstance(runtimes, dict) and _lists_nvidia_runtime(runtimes):
        return True, None

    devices = _run_together({"devices": [docker, *DOCKER_DEVICES_ARGS]}, deadline)["devices"]
    if devices.returncode == 0:
        try:
            listed = json.loads(devices.stdout)
        except ValueError:
            listed = None
        if isinstance(listed, list) and _lists_nvidia_cdi_device(listed):
            return True, None
    return False, TOOLKIT_NOT_CONFIGURED


def _lists_nvidia_runtime(runtimes: dict[str, Any]) -> bool:
    # `nvidia-ctk runtime configure` registers it as "nvidia"; a hand-written daemon.json may use
    # another name for the same binary.
    for name, runtime in runtimes.items():
        path = runtime.get("path", "") if isinstance(runtime, dict) else ""
        if name == "nvidia" or os.path.basename(str(path)).startswith("nvidia-container-runtime"):
            return True
    return False


def _lists_nvidia_cdi_device(devices: list[Any]) -> bool:
    return any(
        isinstance(device, dict)
        and device.get("Source") == "cdi"
        and str(device.get("ID", "")).startswith("nvidia.com/gpu=")
        for device in devices
    )


# --- running the tools -------------------------------------------------------------------------


def _run_together(commands: dict[str, list[str]], deadline: float) -> dict[str, _Outcome]:
    """Start every command at once, then collect each by the shared deadline."""
    started: dict[str, subprocess.Popen[str]] = {}
    outcomes: dict[str, _Outcome] = {}
    for key, argv in commands.items():
        try:
            started[key] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                # Its own process group, so a timeout can kill whatever the tool started too:
                # a child left holding the pipes would keep communicate() waiting.
                start_new_session=True,
            )
        except OSError as exc:
            outcomes[key] = _Outcome(returncode=None, start_error=exc.strerror or str(exc))
    for key, process in started.items():
        # One that finished while another used up the deadline still gets its output read.
        floor = _REAP_GRACE if process.poll() is not None else 0.0
        try:
            stdout, stderr = process.communicate(timeout=max(deadline - time.monotonic(), floor))
        except subprocess.TimeoutExpired:
            _kill(process)
            outcomes[key] = _Outcome(returncode=None)
        else:
            outcomes[key] = _Outcome(process.returncode, stdout, stderr)
    return outcomes


def _kill(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group already exited
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=_REAP_GRACE)
    except subprocess.TimeoutExpired:
        # A tool stuck inside the kernel (nvidia-smi on a hung driver sleeps uninterruptibly)
        # ignores even SIGKILL until the call returns: leave it behind rather than wait for it.
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
