"""A throwaway PostgreSQL server for tests: real binaries, password auth, loopback only.

Each `PostgresServer` owns a temporary directory holding its data directory, its Unix socket and
its log. It listens on 127.0.0.1 at a free port with scram-sha-256 password authentication for TCP
(what the wizard uses) and trust for the Unix socket (what this helper uses to administer it as the
superuser, so no superuser password exists anywhere). `close()` stops it and removes the directory.

initdb refuses to run as root, so as root the directory is handed to the `postgres` user and the
server binaries run through `runuser -u postgres --`. Any other user runs them directly.

Needs the PostgreSQL server binaries (Debian/Ubuntu package `postgresql`, which also brings
`psql`) and, for the SSL modes, `openssl`.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

SUPERUSER = "postgres"
# initdb refuses root; this is the account the Debian/Ubuntu `postgresql` package creates.
OS_USER_WHEN_ROOT = "postgres"


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
    """The server binaries (or a tool the requested mode needs) are missing."""


def _version_key(bindir: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,): prefer the newest installed major version.
    part = Path(bindir).parent.name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and psql; raises PostgresUnavailable naming the fix."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        # pg_config ships with libpq-dev and may name a version whose server is not installed,
        # so it is only a first guess.
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            candidates.append(done.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    initdb_on_path = shutil.which("initdb")
    if initdb_on_path:
        candidates.append(str(Path(initdb_on_path).parent))
    for candidate in candidates:
        bindir = Path(candidate)
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "psql")):
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, psql) not found via `pg_config --bindir`, "
        "/usr/lib/postgresql/*/bin or PATH; install them (Debian/Ubuntu: "
        "`apt-get install -y postgresql`), .ci/run does this in CI"
    )


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


def make_self_signed_cert(
    directory: Path, name: str, *, common_name: str, san: str
) -> tuple[Path, Path]:
    """Write NAME.crt and NAME.key (a self-signed certificate that is its own CA); returns both.

    `san` is an openssl subjectAltName value such as "DNS:db.example.test,IP:127.0.0.1".
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise PostgresUnavailable(
            "`openssl` not found; the SSL tests generate certificates with `openssl req` "
            "(Debian/Ubuntu: `apt-get install -y openssl`)"
        )
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    # An EC key is generated in milliseconds; RSA would cost a noticeable part of a second.
    _run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={common_name}",
            "-addext",
            f"subjectAltName={san}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    )
    key.chmod(0o600)
    return cert, key


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
        self._as_root = os.geteuid() == 0
        if self._as_root:
            try:
                pwd.getpwnam(OS_USER_WHEN_ROOT)
            except KeyError:
                raise PostgresUnavailable(
                    f"initdb refuses root and there is no `{OS_USER_WHEN_ROOT}` account to run it "
                    "as; the `postgresql` package creates it (or run the tests as another user)"
                ) from None
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root needs `runuser` (util-linux)")
        self.dir = Path(tempfile.mkdtemp(prefix="wizard-pg-", dir=self._temp_parent()))
        if self._as_root:
            # initdb refuses root: the server's own files belong to the postgres account.
            shutil.chown(self.dir, user=OS_USER_WHEN_ROOT)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = port or free_port()
        self.running = False
        self.ca_cert: Path | None = None

    def _temp_parent(self) -> str | None:
        # As root the postgres account must be able to reach the directory, which a private
        # TMPDIR would forbid; and the socket path (DIR/.s.PGSQL.PORT) must fit the kernel's
        # 107-byte limit, which a deep TMPDIR would break.
        if self._as_root or len(tempfile.gettempdir()) > 60:
            return "/tmp"
        return None

    # --- lifecycle -------------------------------------------------------------------------

    def _server_cmd(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.bindir / tool), *args]
        return ["runuser", "-u", OS_USER_WHEN_ROOT, "--", *argv] if self._as_root else argv

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
            f"-p {self.port} -c listen_addresses={self.host} "
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
        if self._as_root:
            shutil.chown(self.data / "recovery.signal", user=OS_USER_WHEN_ROOT)
        _run(
            self._server_cmd(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-W", "-o", self._options(),
                "start",
            )
        )  # fmt: skip
        self.running = True

    def stop(self) -> None:
        """Stop at once (no checkpoint: the data is throwaway)."""
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
            str(self.port),
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
        """Turn SSL on and refuse every non-SSL TCP connection; returns the CA certificate path.

        The certificate is self-signed (it is its own CA) for `san`. By default pg_hba.conf holds
        only `hostssl` lines, so a plain connection finds no entry; with `explicit_reject` a
        `hostnossl ... reject` line refuses it instead. Clients see "no encryption" either way.
        Restarts the server if it is running.
        """
        if not self.data.exists():
            self.initdb()
        cert, key = make_self_signed_cert(self.dir, "server", common_name="docsearch-test", san=san)
        if self._as_root:
            # The server refuses a key that is not owned by its own user (or root with 0640).
            for path in (cert, key):
                shutil.chown(path, user=OS_USER_WHEN_ROOT)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\n")
        lines = ["local all all trust"]
        if explicit_reject:
            lines.append("hostnossl all all all reject")
        lines += [
            "hostssl all all 127.0.0.1/32 scram-sha-256",
            "hostssl all all ::1/128 scram-sha-256",
        ]
        (self.data / "pg_hba.conf").write_text("\n".join(lines) + "\n")
        self.ca_cert = cert
        if self.running:
            self.restart()
        return cert

    def dsn(self, user: str, dbname: str) -> str:
        """A libpq key=value string without a password (tests pass it as a keyword)."""
        return f"host={self.host} port={self.port} dbname={dbname} user={user}"
