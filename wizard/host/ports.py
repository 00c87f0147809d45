"""Is each port the stack publishes free on this host, and if not, who holds it?

A port is tested by binding it the way Docker's proxy will (and closing it at once), so the
kernel's own rules decide; /proc then names the holder. Nothing is sent over the network.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from wizard.stack.ports import PublishedPort

# Processes through which Docker publishes container ports: a port they hold belongs to a
# running container (rootless Docker publishes through rootlessport).
PUBLISHING_COMMANDS = frozenset({"docker-proxy", "rootlessport"})

_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Holder:
    """The process holding a port; both fields are None when only its socket could be seen
    (another user's process, to a non-root user)."""

    pid: int | None
    command: str | None  # /proc/PID/comm, e.g. "python3" or "docker-proxy"

    def describe(self) -> str:
        """`python3 (pid 1234)`, `process 1234`, or a phrase for an unidentified process."""
        if self.pid is not None:
            return f"{self.command} (pid {self.pid})" if self.command else f"process {self.pid}"
        if os.geteuid() == 0:
            # root sees every process of this PID namespace: the holder lives outside it.
            return "another process (not visible from here)"
        return "another process (run as root to see which)"


@dataclass(frozen=True)
class PortStatus:
    """The verdict on one published port; `holder` is set when a socket was found holding it."""

    port: PublishedPort
    free: bool
    holder: Holder | None = None
    # One sentence when not free: what is wrong and how to fix it.
    problem: str | None = None

    @property
    def ours(self) -> bool:
        """The holder is Docker publishing a running container's port: this stack's, on a
        re-run (DESIGN: such a port is not a conflict)."""
        return self.holder is not None and self.holder.command in PUBLISHING_COMMANDS


def check_port(port: PublishedPort, default_address: str = "0.0.0.0") -> PortStatus:
    """Whether `port` can be bound now; `default_address` is tested when its host_ip is ""
    (compose then binds every interface).

    TCP is bound with SO_REUSEADDR and listened on, as Docker's proxy does, so a connection
    lingering in TIME_WAIT is not reported; UDP without it, since there it would let two
    sockets share a port. A port below 1024 that cannot be bound without root is reported free
    when no socket holds it (Docker binds as root). Never raises for socket errors: each becomes
    a `problem` sentence.
    """
    address = port.host_ip or default_address or "0.0.0.0"
    error = _bind_error(address, port.port, port.protocol)
    if error is None:
        return PortStatus(port, free=True)
    if error.errno in (errno.EADDRINUSE, errno.EACCES):
        holder = find_holder(port.port, port.protocol, address=address)
        if holder is None and error.errno == errno.EACCES:
            return PortStatus(port, free=True)
        return PortStatus(port, free=False, holder=holder, problem=_in_use(port, address, holder))
    if error.errno == errno.EADDRNOTAVAIL:
        problem = (
            f"{address} is not an address of this host, so {_label(port, address)} cannot be "
            "published there; use 127.0.0.1 (this host only), 0.0.0.0 (every interface) or "
            "one of this host's addresses"
        )
    else:
        problem = (
            f"{_label(port, address)} cannot be tested: {error.strerror or error}; "
            "check the address and protocol in the compose files"
        )
    return PortStatus(port, free=False, problem=problem)


def check_ports(
    ports: Sequence[PublishedPort], default_address: str = "0.0.0.0"
) -> list[PortStatus]:
    """check_port for each of `ports`, in order."""
    return [check_port(port, default_address) for port in ports]


def _bind_error(address: str, port: int, protocol: str) -> OSError | None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    proto = getattr(socket, "IPPROTO_SCTP", 132) if protocol == "sctp" else 0
    try:
        with socket.socket(family, kind, proto) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            if kind == socket.SOCK_STREAM:
                # Linux lets two SO_REUSEADDR sockets bind one port until one listens; Docker
                # listens, so listening is the real test.
                sock.listen(1)
    except OSError as exc:
        return exc
    return None


def _label(port: PublishedPort, address: str) -> str:
    kind = "" if port.protocol == "tcp" else f"{port.protocol} "
    return f"{kind}port {port.port} on {address} ({port.service})"


def _in_use(port: PublishedPort, address: str, holder: Holder | None) -> str:
    another = (
        f"another {port.variable}"
        if port.variable
        else f"another host port for {port.service} in the compose file"
    )
    if holder is None:
        return f"{_label(port, address)} is already in use; choose {another} or free the port"
    if holder.command in PUBLISHING_COMMANDS:
        return (
            f"{_label(port, address)} is held by {holder.describe()} for a running container; "
            f"stop that container (docker compose down) or choose {another}"
        )
    return (
        f"{_label(port, address)} is in use by {holder.describe()}; "
        f"choose {another} or stop that process"
    )


# --- who holds a port: /proc ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Socket:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    state: str
    inode: int


def _decode_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # The kernel prints each 32-bit word of the address in host byte order.
    words = [int(hex_address[i : i + 8], 16) for i in range(0, len(hex_address), 8)]
    raw = b"".join(struct.pack("=I", word) for word in words)
    return ipaddress.ip_address(raw)


def _sockets(table: str, port: int) -> Iterator[_Socket]:
    """Sockets of /proc/net/<table> whose local port is `port`."""
    try:
        lines = Path("/proc/net", table).read_text().splitlines()[1:]
    except OSError:
        return
    for line in lines:
        fields = line.split()
        try:
            hex_address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port:
                yield _Socket(_decode_address(hex_address), fields[3], int(fields[9]))
        except (IndexError, ValueError):  # a format this code does not know: skip the line
            continue


def _pid_of_socket(inode: int) -> int | None:
    """The first process with a descriptor on socket `inode`, or None when none can be seen."""
    target = f"socket:[{inode}]"
    try:
        processes = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for pid in processes:
        fd_dir = f"/proc/{pid}/fd"
        try:
            descriptors = os.listdir(fd_dir)
        except OSError:  # gone, or another user's process
            continue
        for fd in descriptors:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    return int(pid)
            except OSError:
                continue
    return None


def _command_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or None
    except OSError:
        return None


def find_holder(port: int, protocol: str = "tcp", address: str | None = None) -> Holder | None:
    """The process holding local `port` (tcp or udp), or None when no socket holds it or this is
    not Linux. With `address`, a socket bound to that address (then a wildcard one) is preferred.

    Holder(None, None) means a socket holds the port but its process cannot be seen.
    """
    if not sys.platform.startswith("linux") or protocol not in ("tcp", "udp"):
        return None
    tables = ("tcp", "tcp6") if protocol == "tcp" else ("udp", "udp6")
    found = [s for table in tables for s in _sockets(table, port) if s.inode != 0]
    if not found:
        return None
    wanted = _parse_ip(address)

    def rank(candidate: _Socket) -> tuple[int, int]:
        listening = 0 if protocol == "udp" or candidate.state == _TCP_LISTEN else 1
        if wanted is not None and candidate.address == wanted:
            return listening, 0
        return listening, 1 if candidate.address.is_unspecified else 2

    best = min(found, key=rank)
    pid = _pid_of_socket(best.inode)
    if pid is None:
        return Holder(None, None)
    return Holder(pid, _command_of(pid))


def _parse_ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address) if address else None
    except ValueError:
        return None
