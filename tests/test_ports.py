"""Port checks with real sockets: each test holds ports it picked free, on loopback only (and
briefly 0.0.0.0 where the case is about listening on every interface)."""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import docker_proxy, run_as, run_wizard

from wizard.host.ports import Holder, PortStatus, check_port, check_ports, find_holder
from wizard.stack.ports import PublishedPort

OWN_COMMAND = Path("/proc/self/comm").read_text().strip() if sys.platform == "linux" else None
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="holders are read from /proc")


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM, address: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, kind) as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


def listen(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(1)
    return sock


def postgres_port(port: int, host_ip: str = "127.0.0.1", protocol: str = "tcp") -> PublishedPort:
    return PublishedPort("postgres", host_ip, port, 5432, protocol, "POSTGRES_HOST_PORT")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    port = free_port()
    with listen("127.0.0.1", port) as sock:
        yield sock


@linux_only
def test_port_held_by_a_process_names_it_and_the_setting_to_change(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    status = check_port(postgres_port(port), "0.0.0.0")
    assert not status.free and not status.ours
    assert status.holder == Holder(os.getpid(), OWN_COMMAND)
    assert status.problem == (
        f"port {port} on 127.0.0.1 (postgres) is in use by {OWN_COMMAND} (pid {os.getpid()}); "
        "choose another POSTGRES_HOST_PORT or stop that process"
    )


def test_free_port_is_reported_free() -> None:
    status = check_port(postgres_port(free_port()), "0.0.0.0")
    assert status == PortStatus(postgres_port(status.port.port), free=True)


@linux_only
def test_listener_on_every_interface_blocks_the_loopback_port() -> None:
    port = free_port(address="0.0.0.0")
    with listen("0.0.0.0", port):
        status = check_port(postgres_port(port), "0.0.0.0")
    assert not status.free and status.holder is not None and status.holder.pid == os.getpid()


@linux_only
def test_port_without_address_is_tested_on_every_interface(listener: socket.socket) -> None:
    # compose binds 0.0.0.0 when an entry names no address: a loopback listener is in the way.
    port = listener.getsockname()[1]
    status = check_port(PublishedPort("web", "", port, 80, "tcp", None), "0.0.0.0")
    assert not status.free
    assert status.problem is not None and f"port {port} on 0.0.0.0 (web)" in status.problem
    assert "another host port for web in the compose file" in status.problem


def _tcp_states(port: int) -> set[str]:
    states = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].partition(":")[2], 16) == port:
            states.add(fields[3])
    return states


@linux_only
def test_connection_left_in_time_wait_does_not_block_the_port() -> None:
    port = free_port()
    with listen("127.0.0.1", port) as server:
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first, so its end waits in TIME_WAIT
        client.close()
    deadline = time.monotonic() + 2
    while "06" not in _tcp_states(port) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "06" in _tcp_states(port), "no TIME_WAIT socket: the test proves nothing"
    with socket.socket() as plain, pytest.raises(OSError) as caught:
        plain.bind(("127.0.0.1", port))  # without SO_REUSEADDR the port looks taken
    assert caught.value.errno == errno.EADDRINUSE
    assert check_port(postgres_port(port), "0.0.0.0").free


def test_address_that_is_not_on_this_host_is_explained() -> None:
    # 192.0.2.0/24 is TEST-NET-1, never assigned: bind fails locally and nothing is sent.
    status = check_port(postgres_port(free_port(), host_ip="192.0.2.1"), "0.0.0.0")
    assert not status.free and status.holder is None
    assert status.problem is not None
    assert status.problem.startswith("192.0.2.1 is not an address of this host")
    assert "(postgres)" in status.problem and "127.0.0.1" in status.problem


@linux_only
def test_udp_port_held_by_a_process_is_taken_while_tcp_is_free() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", port))
        udp = check_port(postgres_port(port, protocol="udp"), "0.0.0.0")
        assert not udp.free
        assert udp.holder == Holder(os.getpid(), OWN_COMMAND)
        assert udp.problem is not None and udp.problem.startswith(f"udp port {port} on 127.0.0.1")
        if "0A" not in _tcp_states(port):
            assert check_port(postgres_port(port, protocol="tcp"), "0.0.0.0").free


@linux_only
def test_udp_port_shared_with_so_reuseaddr_is_still_taken() -> None:
    # mDNS and DNS daemons bind UDP with SO_REUSEADDR; a test socket that set it too would slip
    # in beside them, while Docker's proxy gets "address in use".
    port = free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", port))
        assert not check_port(postgres_port(port, protocol="udp"), "0.0.0.0").free


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@linux_only
@pytest.mark.skipif(not _ipv6_loopback(), reason="this host has no IPv6 loopback")
def test_ipv6_loopback_port_held_by_a_process_is_taken() -> None:
    port = free_port(address="::1")
    with listen("::1", port):
        status = check_port(postgres_port(port, host_ip="::1"), "0.0.0.0")
    assert not status.free
    assert status.holder == Holder(os.getpid(), OWN_COMMAND)
    assert status.problem is not None and f"port {port} on ::1 (postgres)" in status.problem


@linux_only
def test_port_published_by_a_running_container_is_ours() -> None:
    with docker_proxy() as (port, pid):
        status = check_port(postgres_port(port), "0.0.0.0")
    assert not status.free and status.ours
    assert status.holder == Holder(pid, "docker-proxy")
    assert status.problem is not None and "for a running container" in status.problem


@linux_only
def test_first_install_fails_on_a_port_another_container_publishes(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    with docker_proxy() as (port, pid):
        done = run_wizard(
            ["setup", "--doc-dir", "docs", "--postgres-host-port", str(port)], cwd=tmp_path
        )

    assert done.returncode == 1, done.stderr
    assert (
        f"port {port} on 127.0.0.1 (postgres) is held by docker-proxy (pid {pid}) for a running "
        "container; stop that container (docker compose down) or choose another "
        "POSTGRES_HOST_PORT"
    ) in done.stderr
    assert "in use by this stack" not in done.stderr
    assert not (tmp_path / ".env").exists()


@linux_only
def test_rerun_passes_a_port_its_own_container_publishes_but_not_a_new_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "docs").mkdir()
    with docker_proxy() as (port, _), docker_proxy() as (other, other_pid):
        # The stack is installed and its PostgreSQL container publishes `port`.
        setup = ["setup", "--doc-dir", "docs", "--postgres-host-port", str(port)]
        installed = run_wizard([*setup, "--skip-port-check"], cwd=tmp_path)
        assert installed.returncode == 0, installed.stderr

        unchanged = run_wizard(["setup", "--log-level", "DEBUG"], cwd=tmp_path)
        moved = run_wizard(["setup", "--postgres-host-port", str(other)], cwd=tmp_path)

    assert unchanged.returncode == 0, unchanged.stderr
    assert f"port {port} is in use by this stack (docker-proxy)" in unchanged.stderr
    # Another container's port is no more this stack's on a re-run than on a first install.
    assert moved.returncode == 1, moved.stderr
    assert f"is held by docker-proxy (pid {other_pid}) for a running container" in moved.stderr


def _privileged_port() -> int:
    for port in range(1000, 900, -1):
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    pytest.skip("no free port between 901 and 1000 on 127.0.0.1")


@linux_only
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_user_without_root_sees_privileged_ports_as_docker_will() -> None:
    """A non-root wizard cannot bind below 1024, but Docker (root) can: a free privileged port is
    free, and one a root process holds is taken by a process the user cannot identify."""
    taken = _privileged_port()
    with listen("127.0.0.1", taken) as held:
        free = _privileged_port()

        def as_nobody() -> list[list[object]]:
            held.close()  # the child must not hold the port itself
            statuses = check_ports([postgres_port(taken), postgres_port(free)], "0.0.0.0")
            return [[s.free, s.holder and s.holder.pid, s.problem] for s in statuses]

        report = run_as(65534, 65534, as_nobody)
    (taken_free, taken_pid, problem), (free_free, _, free_problem) = report
    assert not taken_free and taken_pid is None
    assert problem == (
        f"port {taken} on 127.0.0.1 (postgres) is in use by another process (run as root to "
        "see which); choose another POSTGRES_HOST_PORT or stop that process"
    )
    assert free_free and free_problem is None


@linux_only
def test_nobody_holds_an_unused_port() -> None:
    assert find_holder(free_port()) is None
    assert find_holder(free_port(socket.SOCK_DGRAM), "udp") is None


@linux_only
def test_find_holder_names_this_process(listener: socket.socket) -> None:
    holder = find_holder(listener.getsockname()[1], "tcp", address="127.0.0.1")
    assert holder == Holder(os.getpid(), OWN_COMMAND)


def test_holder_descriptions() -> None:
    assert Holder(4242, "python3").describe() == "python3 (pid 4242)"
    assert Holder(4242, None).describe() == "process 4242"
    assert Holder(None, None).describe().startswith("another process (")


@linux_only
def test_check_ports_reports_each_port_in_order(listener: socket.socket) -> None:
    taken = listener.getsockname()[1]
    ports = [postgres_port(free_port()), postgres_port(taken)]
    assert [s.free for s in check_ports(ports)] == [True, False]
