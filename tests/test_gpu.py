"""GPU detection against fake nvidia-smi and docker executables on PATH.

This machine has no NVIDIA GPU and no Docker engine, so each scenario is a directory under
tests/fakebin holding scripts that replay what the real tools printed (each cites its source) and
exit 2 on any other command line. PATH is built from those directories alone: the real docker client
installed here, or a real nvidia-smi on a GPU machine, must never answer instead.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from wizard.host.gpu import (
    DOCKER_RUNTIMES_ARGS,
    NVIDIA_SMI_ARGS,
    TOOLKIT_NOT_CONFIGURED,
    Gpu,
    detect_gpus,
    parse_nvidia_smi_csv,
)

FAKEBIN = Path(__file__).parent / "fakebin"


def use_tools(monkeypatch: pytest.MonkeyPatch, *scenarios: str) -> None:
    """Make PATH hold only the given fakebin scenario directories."""
    monkeypatch.setenv("PATH", os.pathsep.join(str(FAKEBIN / name) for name in scenarios))


def gone_soon(pid: int, within: float = 1.0) -> bool:
    """True once `pid` no longer exists or is a zombie; False if still alive after `within` s."""
    # SIGKILL is delivered at once but the process takes a moment to finish exiting.
    deadline = time.monotonic() + within
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def test_two_gpus_are_listed_with_memory_driver_and_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    use_tools(monkeypatch, "smi-two-gpus", "docker-nvidia-runtime")

    found = detect_gpus()

    assert found.gpus == (
        Gpu("0", "Quadro RTX 4000", 8192, "535.129.03", "GPU-c7b57be0-94ff-d352-a59b-d0ee00aeed43"),
        Gpu("1", "Quadro RTX 4000", 8192, "535.129.03", "GPU-d6de6afc-bdfe-75c4-5273-0544439153fc"),
    )
    assert found.available
    assert found.docker_runtime is True
    assert found.problem is None
    assert found.summary() == (
        "2 GPUs: Quadro RTX 4000 (8192 MiB), Quadro RTX 4000 (8192 MiB); driver 535.129.03"
    )


def test_one_gpu_reads_singular_in_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    use_tools(monkeypatch, "smi-one-gpu", "docker-nvidia-runtime")

    found = detect_gpus()

    assert [gpu.index for gpu in found.gpus] == ["0"]
    assert found.summary() == "1 GPU: GeForce RTX 2080 (7979 MiB); driver 440.64"


def test_memory_reported_as_na_is_unknown_not_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    use_tools(monkeypatch, "smi-memory-na", "docker-nvidia-runtime")

    found = detect_gpus()

    assert found.gpus[0].name == "NVIDIA GB10"
    assert found.gpus[0].memory_mib is None
    assert found.problem is None
    assert found.summary() == "1 GPU: NVIDIA GB10 (memory unknown); driver 580.173.02"


def test_missing_nvidia_smi_says_to_install_the_driver(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: neither tool exists

    found = detect_gpus()

    assert not found.available
    assert found.docker_runtime is None
    assert found.problem is not None
    assert found.problem.startswith("nvidia-smi not found: install the NVIDIA driver")
    assert found.summary() == found.problem


def test_driver_not_loaded_shows_what_nvidia_smi_said(monkeypatch: pytest.MonkeyPatch) -> None:
    use_tools(monkeypatch, "smi-driver-not-loaded", "docker-nvidia-runtime")

    found = detect_gpus()

    assert found.gpus == ()
    assert found.problem == (
        "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the "
        "NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
    )
    # Docker is still asked: its answer is independent of the driver.
    assert found.docker_runtime is True


def test_driver_library_mismatch_shows_the_first_line(monkeypatch: pytest.MonkeyPatch) -> None:
    use_tools(monkeypatch, "smi-driver-mismatch", "docker-nvidia-runtime")

    found = detect_gpus()

    assert found.problem == (
        "nvidia-smi failed: Failed to initialize NVML: Driver/library version mismatch"
    )


def test_hung_nvidia_smi_times_out_and_leaves_nothing_running(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_tools(monkeypatch, "smi-hung", "docker-nvidia-runtime")
    pidfile = tmp_path / "sleep.pid"
    monkeypatch.setenv("FAKE_SLEEP_PIDFILE", str(pidfile))

    started = time.monotonic()
    found = detect_gpus(timeout=0.5)
    elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert found.gpus == ()
    assert found.problem is not None
    assert found.problem.startswith("nvidia-smi timed out after 0.5 s")
    assert found.docker_runtime is True
    assert gone_soon(int(pidfile.read_text()))


def test_hung_docker_times_out_and_leaves_runtime_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_tools(monkeypatch, "smi-one-gpu", "docker-hung")
    pidfile = tmp_path / "sleep.pid"
    monkeypatch.setenv("FAKE_SLEEP_PIDFILE", str(pidfile))

    started = time.monotonic()
    found = detect_gpus(timeout=0.5)
    elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert found.available
    assert found.docker_runtime is None
    assert found.problem is not None
    assert found.problem.startswith("docker info timed out after 0.5 s")
    assert gone_soon(int(pidfile.read_text()))


def test_docker_without_nvidia_runtime_says_toolkit_not_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_tools(monkeypatch, "smi-two-gpus", "docker-no-nvidia-runtime")

    found = detect_gpus()

    assert found.available
    assert found.docker_runtime is False
    assert found.problem == TOOLKIT_NOT_CONFIGURED
    assert found.summary().endswith("; but " + TOOLKIT_NOT_CONFIGURED)


def test_cdi_nvidia_devices_count_as_docker_gpu_support(monkeypatch: pytest.MonkeyPatch) -> None:
    use_tools(monkeypatch, "smi-two-gpus", "docker-cdi-devices")

    found = detect_gpus()

    assert found.docker_runtime is True
    assert found.problem is None


def test_docker_daemon_down_leaves_runtime_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    use_tools(monkeypatch, "smi-one-gpu", "docker-daemon-down")

    found = detect_gpus()

    assert found.available
    assert found.docker_runtime is None
    assert found.problem == (
        "Docker did not answer (Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?), so its NVIDIA runtime "
        "is unknown"
    )


def test_docker_runtime_without_a_gpu_is_not_reported_as_a_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Docker Desktop 4.34 lists an nvidia runtime on machines without an NVIDIA card.
    use_tools(monkeypatch, "docker-nvidia-runtime")

    found = detect_gpus()

    assert not found.available
    assert found.docker_runtime is True
    assert found.problem is not None
    assert found.problem.startswith("nvidia-smi not found")


@pytest.mark.parametrize("fake", sorted(FAKEBIN.glob("*/*")), ids=lambda p: p.parent.name)
def test_fakes_refuse_a_changed_command_line(fake: Path) -> None:
    # A fake that answered any command line would let a changed query pass unnoticed.
    expected = NVIDIA_SMI_ARGS if fake.name == "nvidia-smi" else DOCKER_RUNTIMES_ARGS
    changed = [*expected[:-1], expected[-1] + ",extra"]

    result = subprocess.run([fake, *changed], capture_output=True, text=True, timeout=5)

    assert result.returncode == 2
    assert "unexpected arguments" in result.stderr


def test_fakes_are_executable() -> None:
    fakes = sorted(FAKEBIN.glob("*/*"))
    assert fakes
    assert [fake for fake in fakes if not os.access(fake, os.X_OK)] == []


def test_a_comma_in_a_gpu_name_stays_in_the_name() -> None:
    # No real GPU name with a comma was found, but nvidia-smi would not quote one: the fields
    # around the name are fixed, so the name is whatever lies between them.
    line = "3, Example GPU, Rev 2, 16384, 550.54.15, GPU-00000000-0000-0000-0000-000000000000"

    (gpu,) = parse_nvidia_smi_csv(line)

    assert gpu.index == "3"
    assert gpu.name == "Example GPU, Rev 2"
    assert gpu.memory_mib == 16384


def test_a_line_that_is_not_a_gpu_row_is_refused() -> None:
    with pytest.raises(ValueError, match="No devices were found"):
        parse_nvidia_smi_csv("No devices were found\n")
