"""Answers -> one validated Config, with every problem listed at once.

The current deployment (its .env values and the override's document directories) enters as the
`EXISTING` layer, so "re-run with the current values as defaults" is a lookup order, not code.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.config.answers import SECRETS, Answers, Source, secret_file_key, secret_file_label
from wizard.config.contract import profile
from wizard.config.model import (
    BUNDLED_HOST,
    BUNDLED_PORT,
    DEFAULT_DB_TIMEOUT,
    MAX_DB_TIMEOUT,
    PLACEHOLDERS,
    Config,
    DatabaseSettings,
    Deployment,
    DocumentDir,
    InputError,
    PostgresMode,
    Problem,
    SslMode,
    check_fernet_key,
    check_jwt_secret,
    check_postgres_password,
    check_secret_size,
    check_url_safe_secret,
    generate_fernet_key,
    generate_secret,
    parse_bool,
    parse_choice,
    parse_port,
    parse_positive_int,
    weak_secret,
)
from wizard.config.settings import SETTINGS
from wizard.files.envfile import EnvValueError, quote_value
from wizard.host.document_dirs import system_directory_problem

DOCS_ROOT = "/mnt/docs"

DEFAULTS: Mapping[str, Any] = {
    "deployment": Deployment.CPU.value,
    "postgres_mode": PostgresMode.BUNDLED.value,
    "postgres_port": str(BUNDLED_PORT),
    "postgres_db": "docsearch",
    "postgres_user": "docsearch",
    "postgres_host_port": str(BUNDLED_PORT),
    "db_timeout": str(DEFAULT_DB_TIMEOUT),
    **{setting.key: setting.default for setting in SETTINGS},
}

# .env key -> answer key, for the keys whose value is an answer as written.
ENV_ANSWERS: Mapping[str, str] = {
    "POSTGRES_MODE": "postgres_mode",
    "POSTGRES_HOST": "postgres_host",
    "POSTGRES_PORT": "postgres_port",
    "POSTGRES_DB": "postgres_db",
    "POSTGRES_USER": "postgres_user",
    "POSTGRES_PASSWORD": "postgres_password",
    "POSTGRES_SSLMODE": "postgres_sslmode",
    "POSTGRES_SSLROOTCERT": "postgres_sslrootcert",
    "POSTGRES_HOST_PORT": "postgres_host_port",
    "POSTGRES_BUNDLED_PASSWORD": "postgres_bundled_password",
    "JWT_SECRET_KEY": "jwt_secret",
    **{setting.env_key: setting.key for setting in SETTINGS},
}


@dataclass(frozen=True)
class Unreadable:
    """A value of the current .env that does not parse, kept as written so that `build` reports
    it (naming the key) instead of a default silently taking its place."""

    text: str
    # The rest of the problem sentence: what is wrong and how to fix it.
    remedy: str


def existing_answers(
    env: Mapping[str, str],
    documents: Sequence[DocumentDir],
    root: Path | None = None,
    base_reserves_gpus: bool = False,
) -> dict[str, Any]:
    """The current deployment as answers (the layer below the inputs and above the defaults).

    `root` is the project directory: a relative DOCUMENT_PATH (an install made from the stack's
    own `.env.docker.example`) is relative to it, as compose reads it. `base_reserves_gpus`:
    the stack's compose file reserves a GPU itself, so an install the wizard did not write
    (no USE_GPU) runs on one.
    """
    values: dict[str, Any] = {
        answer: env[key] for key, answer in ENV_ANSWERS.items() if env.get(key, "") != ""
    }
    for secret in profile().secrets:
        if env.get(secret.key, "") != "":
            values[secret.answer] = env[secret.key]
    if "USE_GPU" in env:
        flag, problem = parse_bool(env["USE_GPU"], "USE_GPU")
        if problem:
            values["deployment"] = Unreadable(
                env["USE_GPU"],
                "is not a yes/no value; set it to true (GPU) or false (CPU), or run setup "
                "with --deployment cpu or gpu",
            )
        else:
            values["deployment"] = (Deployment.GPU if flag else Deployment.CPU).value
    if env and "USE_GPU" not in env and base_reserves_gpus:
        values["deployment"] = Deployment.GPU.value
    if values.get("postgres_mode") == PostgresMode.BUNDLED.value:
        # Inside the compose network the bundled server is always postgres:5432.
        values.pop("postgres_host", None)
        values.pop("postgres_port", None)
    if documents:
        values["doc_dir"] = [str(doc.source) for doc in documents]
    elif root is not None and env.get(profile().documents_variable, "").strip():
        path = Path(os.path.expanduser(env[profile().documents_variable].strip()))
        values["doc_dir"] = [os.path.normpath(path if path.is_absolute() else root / path)]
    return values


# Values the stack's own example file ships with: never a secret anyone chose.
PLACEHOLDER_PREFIX = "CHANGE_THIS"


def is_placeholder(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PLACEHOLDER_PREFIX)


@dataclass(frozen=True)
class Resolved:
    """A Config and what the run must know about how it came to be."""

    config: Config
    sources: Mapping[str, Source]
    db_timeout: int
    create_dirs: tuple[Path, ...]
    previous_password: str | None = field(default=None, repr=False)
    rotate_postgres_password: bool = False
    rotate_jwt_secret: bool = False
    options: Mapping[str, bool] = field(default_factory=dict)
    # The stack's secrets replaced in this run (.env keys), and the placeholders replaced.
    rotated: frozenset[str] = frozenset()
    replaced_placeholders: tuple[str, ...] = ()

    @property
    def password_changed(self) -> bool:
        return (
            self.previous_password is not None
            and self.previous_password != self.config.database.password
        )

    def option(self, key: str) -> bool:
        return self.options.get(key, False)


BOOL_OPTIONS = (
    "create_doc_dirs",
    "rotate_postgres_password",
    "rotate_jwt_secret",
    "skip_db_check",
    "skip_port_check",
    "start_db",
    "yes",
    "dry_run",
)


class _Collector:
    """Parses answers one field at a time, gathering problems instead of stopping at the first."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.problems: list[str] = []
        self.sources: dict[str, Source] = {}

    def raw(self, key: str) -> Any:
        answer = self.answers.get(key)
        if answer is not None:
            self.sources[key] = answer.source
            return answer.value
        if key in DEFAULTS:
            self.sources[key] = Source.DEFAULT
            return DEFAULTS[key]
        return None

    def label(self, key: str) -> str:
        """How the person gave this answer, for messages: the flag, variable or file entry."""
        source = self.sources.get(key)
        name = "--" + key.replace("_", "-")
        if key in SECRETS and source in (Source.FLAG, Source.ENV, Source.FILE):
            layer = self.answers.layer(source)
            if layer.get(secret_file_key(key)) is not None:
                # There is no --postgres-password flag: the secret came from a file.
                return secret_file_label(key, source)
        if source is Source.EXISTING:
            if key == "doc_dir":
                return "a document directory of the current docker-compose.override.yml"
            reverse = {answer: env for env, answer in ENV_ANSWERS.items()}
            reverse["deployment"] = "USE_GPU"
            return f"{reverse.get(key, name)} in the current .env"
        if source is Source.ENV:
            return "WIZARD_" + key.upper()
        if source is Source.FILE:
            return f"{key} in the answers file"
        return name

    def problem(self, key: str, text: str) -> None:
        """A problem sentence about answer `key`, knowing where that answer came from."""
        source = self.sources.get(key)
        self.problems.append(Problem(text, key=key, source=source.value if source else None))

    def take(self, key: str, parser: Any, *args: Any) -> Any:
        raw = self.raw(key)
        if isinstance(raw, Unreadable):
            self.problem(key, f"{self.label(key)}: {raw.text!r} {raw.remedy}")
            return None
        value, problem = (
            parser(*args, raw, self.label(key)) if args else parser(raw, self.label(key))
        )
        if problem:
            self.problem(key, problem)
        return value


def build(
    answers: Answers,
    *,
    cwd: Path,
    existing_documents: Sequence[DocumentDir] = (),
    documents_root: str | None = None,
) -> Resolved:
    """Validate every answer and build the Config. Raises InputError with all problems at once.

    `documents_root` is the container path where the stack's base binds its document directory
    (/mnt/docs); None when no base file does. The first directory goes there, the others beside
    it, never inside it.
    """
    c = _Collector(answers)
    options: dict[str, bool] = {}
    for key in BOOL_OPTIONS:
        options[key] = bool(c.take(key, parse_bool)) if c.raw(key) is not None else False

    deployment = c.take("deployment", parse_choice, Deployment)
    values = {setting.key: c.take(setting.key, setting.parse) for setting in SETTINGS}
    db_timeout = c.take(
        "db_timeout", lambda v, f: parse_positive_int(v, f, minimum=2, maximum=MAX_DB_TIMEOUT)
    )
    gpu_ids = _gpu_ids(c)

    database, previous_password = _database(c, options, cwd)
    placeholders = [
        key
        for key, answer in (("JWT_SECRET_KEY", "jwt_secret"), *_stack_answers())
        if is_placeholder(c.answers.layer(Source.EXISTING).get(answer))
    ]
    jwt_secret = _secret(
        c,
        "jwt_secret",
        check_jwt_secret,
        "JWT_SECRET_KEY",
        options["rotate_jwt_secret"] or "JWT_SECRET_KEY" in placeholders,
    )[0]
    rotate = _rotate_keys(c)
    secrets: dict[str, str] = {}
    for secret in profile().secrets:
        rule = check_fernet_key if secret.form == "fernet" else check_url_safe_secret
        secrets[secret.key] = _secret(
            c,
            secret.answer,
            rule,
            secret.key,
            secret.key in rotate or secret.key in placeholders,
            generate=generate_fernet_key if secret.form == "fernet" else generate_secret,
            rotate_hint=f"--rotate {secret.key}",
        )[0]
    documents, create_dirs = _documents(
        c, cwd, existing_documents, options["create_doc_dirs"], documents_root
    )

    if c.problems:
        raise InputError(c.problems)
    config = Config(
        deployment=deployment,
        database=database,
        documents=documents,
        jwt_secret=jwt_secret,
        values=values,
        gpu_ids=gpu_ids,
        secrets=secrets,
        required_env=_required_env(c),
    )
    return Resolved(
        config=config,
        sources=c.sources,
        db_timeout=db_timeout,
        create_dirs=create_dirs,
        previous_password=previous_password,
        rotate_postgres_password=options["rotate_postgres_password"],
        rotate_jwt_secret=options["rotate_jwt_secret"],
        options=options,
        rotated=frozenset(rotate),
        replaced_placeholders=tuple(placeholders),
    )


def _required_env(c: _Collector) -> dict[str, str]:
    """Values typed at the prompt for variables the base requires and nothing else sets."""
    raw = c.answers.value("required_env") or {}
    values: dict[str, str] = {}
    for key, value in dict(raw).items():
        try:
            quote_value(str(key), str(value))
        except EnvValueError as exc:
            c.problem("required_env", f"{key}: {exc}")
            continue
        values[str(key)] = str(value)
    return values


def _stack_answers() -> tuple[tuple[str, str], ...]:
    return tuple((secret.key, secret.answer) for secret in profile().secrets)


def _rotate_keys(c: _Collector) -> set[str]:
    """`--rotate KEY` (repeatable): the stack's secrets to replace with new ones."""
    raw = c.raw("rotate")
    if raw in (None, "", []):
        return set()
    names = {secret.key for secret in profile().secrets}
    chosen: set[str] = set()
    for item in raw if isinstance(raw, list) else [raw]:
        for part in str(item).replace(",", " ").split():
            key = part.strip().upper().replace("-", "_")
            if key in names:
                chosen.add(key)
            else:
                c.problem(
                    "rotate",
                    f"{c.label('rotate')}: {part!r} is not one of the stack's secrets; use "
                    f"{', '.join(sorted(names))} (the PostgreSQL password and the JWT secret "
                    "have --rotate-postgres-password and --rotate-jwt-secret)",
                )
    return chosen


def _gpu_ids(c: _Collector) -> tuple[str, ...]:
    raw = c.raw("gpu_ids")
    if raw in (None, "", "all"):
        return ()
    ids = tuple(part.strip() for part in str(raw).split(",") if part.strip())
    # ASCII digits: str.isdigit() would take "²" for an index.
    if not all(re.fullmatch(r"[0-9]+", part) or part.startswith("GPU-") for part in ids):
        c.problem(
            "gpu_ids",
            f"{c.label('gpu_ids')}: {raw!r} is not a list of GPU indexes or UUIDs; "
            "use e.g. 0,1 or all",
        )
        return ()
    twice = sorted({part for part in ids if ids.count(part) > 1})
    if twice:
        # Docker would reserve the device once, and CUDA_VISIBLE_DEVICES would count it twice.
        c.problem(
            "gpu_ids",
            f"{c.label('gpu_ids')}: {', '.join(twice)} is listed twice; give each GPU once",
        )
        return ()
    return ids


def _secret(
    c: _Collector,
    key: str,
    rule: Any,
    env_key: str,
    rotate: bool,
    *,
    keep_existing: bool = True,
    generate: Any = generate_secret,
    rotate_hint: str = "",
) -> tuple[str, str | None]:
    """(value, previous value). Kept from .env unless given or rotation is asked for; with
    `keep_existing` False the value in .env belongs to something else and does not count (and
    there is no previous value)."""
    answer = c.answers.get(key)
    current = c.answers.layer(Source.EXISTING).get(key) if keep_existing else None
    previous = str(current) if current else None
    if answer is not None and answer.source is Source.EXISTING and not keep_existing:
        answer = None
    if answer is None or (rotate and answer.source is Source.EXISTING):
        c.sources[key] = Source.GENERATED
        return str(generate()), previous
    c.sources[key] = answer.source
    value = str(answer.value)
    label = c.label(key) if answer.source is not Source.EXISTING else env_key
    problem = check_secret_size(value, label) or rule(value, label)
    if problem:
        if answer.source is Source.EXISTING:
            problem += f"; rotate it with {rotate_hint or '--rotate-' + key.replace('_', '-')}"
        c.problem(key, problem)
    else:
        try:
            quote_value(env_key, value)
        except EnvValueError as exc:
            c.problem(key, f"{c.label(key)}: {exc}")
    return value, previous


def switches_server(answers: Answers, mode: PostgresMode | None) -> bool:
    """True when the current .env describes the other kind of PostgreSQL server than `mode`:
    its password and sslmode were meant for that one."""
    existing = answers.layer(Source.EXISTING)
    if mode is None or not existing:
        return False
    return str(existing.get("postgres_mode") or PostgresMode.BUNDLED.value).lower() != mode.value


def _external_password_rule(value: str, field_name: str) -> str | None:
    if not value:
        return f"{field_name}: the password is empty; give the role's password"
    # The stack's services check POSTGRES_PASSWORD at start (12 characters and the mix rule)
    # whichever server it belongs to.
    if len(value) < 12 or weak_secret(value) or value in PLACEHOLDERS:
        return (
            f"{field_name}: the stack's services refuse to start with a password this weak (at "
            "least 12 characters mixing three of upper case, lower case, digits and symbols, "
            "or 32+ characters of two); change the role's password on the server"
        )
    return None


def _database(
    c: _Collector, options: Mapping[str, bool], cwd: Path
) -> tuple[DatabaseSettings, str | None]:
    mode = c.take("postgres_mode", parse_choice, PostgresMode)
    name = str(c.raw("postgres_db") or "").strip()
    user = str(c.raw("postgres_user") or "").strip()
    for key, value in (("postgres_db", name), ("postgres_user", user)):
        if not value or len(value) > 63 or _has_control_characters(value):
            c.problem(
                key,
                f"{c.label(key)}: {value!r} is not a PostgreSQL name; use 1-63 characters "
                "without control characters",
            )
    host_port = c.take("postgres_host_port", parse_port)
    external = mode is PostgresMode.EXTERNAL
    switched = switches_server(c.answers, mode)
    given = c.answers.get("postgres_password")
    # The current password is the other server's: the bundled one's cannot log in to an
    # external server, nor is an external server's a password the wizard chose.
    other_servers = switched and given is not None and given.source is Source.EXISTING
    if external and (given is None or other_servers):
        c.problem(
            "postgres_password",
            "--postgres-password-file: an external server needs the password of its role; give "
            "it with --postgres-password-file or WIZARD_POSTGRES_PASSWORD"
            + (" (the one in the current .env is the bundled server's)" if other_servers else ""),
        )
    existing = c.answers.layer(Source.EXISTING)
    # While an external server is used, the bundled server's password stays in .env: its data
    # volume still has it, and a switch back must find it (the volume applies a password only
    # when it is first created).
    kept = str(existing.get("postgres_bundled_password") or "")
    back_to_bundled = switched and not external and kept
    previous: str | None
    if back_to_bundled and (given is None or given.source is Source.EXISTING):
        password, previous = kept, kept
        c.sources["postgres_password"] = Source.EXISTING
    else:
        password, previous = _secret(
            c,
            "postgres_password",
            # The wizard chooses a bundled server's password, so it sets the bar; an external
            # server's password is whatever that server has.
            _external_password_rule if external else check_postgres_password,
            "POSTGRES_PASSWORD",
            options["rotate_postgres_password"],
            keep_existing=not switched,
        )
    if not external:
        kept = ""
    elif switched:
        kept = str(existing.get("postgres_password") or "")
    sslmode_raw = c.answers.get("postgres_sslmode")
    if sslmode_raw is not None and sslmode_raw.source is Source.EXISTING and switched:
        # The current sslmode was chosen for the other kind of server: the bundled one's
        # `disable` must not become an external server's, nor an external `verify-full` (with
        # no CA for the bundled server) the bundled one's. The new kind starts at its default.
        sslmode_raw = None
        c.sources["postgres_sslmode"] = Source.DEFAULT
    if mode is PostgresMode.EXTERNAL:
        host = str(c.raw("postgres_host") or "").strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # an IPv6 address as written in a URL; DATABASE_URL adds them back
        if not host:
            c.problem(
                "postgres_host",
                "--postgres-host: an external PostgreSQL server needs a host name or address",
            )
        elif re.search(r"[\s/@?#\[\]]", host) or _has_control_characters(host):
            c.problem(
                "postgres_host",
                f"{c.label('postgres_host')}: {host!r} is not a host name or address",
            )
        elif ":" in host and not _is_ipv6(host):
            c.problem(
                "postgres_host",
                f"{c.label('postgres_host')}: {host!r} is not a host name or address; "
                "give the port separately with --postgres-port",
            )
        port = c.take("postgres_port", parse_port)
        sslmode = (
            c.take("postgres_sslmode", parse_choice, SslMode) if sslmode_raw else SslMode.PREFER
        )
        sslrootcert = str(c.raw("postgres_sslrootcert") or "").strip()
        # A CA file counts with every sslmode (libpq verifies with `require` too once one is
        # given), and the override mounts it: always check it and make it absolute, since
        # compose would read a relative path from the project directory.
        if sslrootcert:
            if _has_control_characters(sslrootcert):
                c.problem(
                    "postgres_sslrootcert",
                    f"{c.label('postgres_sslrootcert')}: the path contains control characters; "
                    "rename the file",
                )
            elif not os.path.isfile(os.path.join(cwd, os.path.expanduser(sslrootcert))):
                c.problem(
                    "postgres_sslrootcert",
                    f"{c.label('postgres_sslrootcert')}: {sslrootcert} is not a file; "
                    "give the path of the CA certificate (PEM)",
                )
            else:
                sslrootcert = os.path.normpath(os.path.join(cwd, os.path.expanduser(sslrootcert)))
                try:
                    quote_value("POSTGRES_SSLROOTCERT", sslrootcert)
                except EnvValueError as exc:
                    c.problem("postgres_sslrootcert", f"{c.label('postgres_sslrootcert')}: {exc}")
        elif sslmode is not None and sslmode.verifies:
            c.problem(
                "postgres_sslrootcert",
                f"--postgres-sslrootcert: sslmode {sslmode.value} needs the CA certificate "
                "file that signed the server's certificate",
            )
    else:
        for key in ("postgres_host", "postgres_port", "postgres_sslrootcert"):
            if c.answers.given(key):
                c.problem(
                    key,
                    f"{c.label(key)}: applies only to an external server; "
                    "add --postgres-mode external or leave it out",
                )
        host, port = BUNDLED_HOST, BUNDLED_PORT
        # Inside the compose network the bundled server speaks plain TCP unless told otherwise.
        sslmode = (
            c.take("postgres_sslmode", parse_choice, SslMode) if sslmode_raw else SslMode.DISABLE
        )
        if sslmode is not None and sslmode not in (SslMode.DISABLE, SslMode.PREFER):
            c.problem(
                "postgres_sslmode",
                f"{c.label('postgres_sslmode')}: {sslmode.value} needs TLS, and the bundled "
                "PostgreSQL (postgres:16-alpine) serves none, so the app could not connect; use "
                "disable or prefer, or an external server that offers TLS",
            )
        sslrootcert = ""
    settings = DatabaseSettings(
        mode=mode or PostgresMode.BUNDLED,
        host=host,
        port=port or BUNDLED_PORT,
        name=name,
        user=user,
        password=password,
        sslmode=sslmode or SslMode.PREFER,
        sslrootcert=sslrootcert,
        host_port=host_port or BUNDLED_PORT,
        kept_bundled_password=kept,
    )
    return settings, previous


def _documents(
    c: _Collector,
    cwd: Path,
    existing: Sequence[DocumentDir],
    create: bool,
    root: str | None = None,
) -> tuple[tuple[DocumentDir, ...], tuple[Path, ...]]:
    raw = c.raw("doc_dir")
    label = c.label("doc_dir")
    if not raw:
        c.problem(
            "doc_dir",
            "--doc-dir: at least one document directory is required (the documents to search); "
            "give --doc-dir PATH, repeatable",
        )
        return (), ()
    paths = raw if isinstance(raw, list) else [raw]
    targets = {
        doc.source: doc.target
        for doc in existing
        # Inside the base's read-only bind no mount point can be made: such a target (written
        # before the wizard knew the stack's own bind) is chosen again.
        if root is None or not doc.target.startswith(root + "/")
    }
    used = set(targets.values())
    seen: set[str] = set()
    documents: list[DocumentDir] = []
    missing: list[Path] = []
    for item in paths:
        text = str(item).strip()
        if not text:
            # `--doc-dir "$UNSET"`: taken as no directory, it would drop every current mount.
            c.problem(
                "doc_dir",
                f"{label}: an empty path is not a document directory (an unset variable?); "
                "give the directory that holds the documents",
            )
            continue
        path = Path(os.path.expanduser(text))
        path = path if path.is_absolute() else cwd / path
        path = Path(os.path.normpath(path))
        problem = document_dir_problem(path, label, create)
        if problem:
            c.problem("doc_dir", problem)
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue  # the same directory twice (also through a symlink): mount it once
        seen.add(real)
        if not path.exists():
            missing.append(path)
        target = targets.get(path)
        if target is None and root is not None:
            target = root if root not in used else unique_target(path, used, root + "-")
        target = target or unique_target(path, used)
        if root is not None and target == root and ":" in str(path):
            c.problem(
                "doc_dir",
                f"{label}: {path} contains ':', and the stack's compose file mounts its first "
                f"document directory ({profile().documents_variable}) with the short volume "
                "syntax, which splits at ':'; rename the directory, or give another one first",
            )
            continue
        used.add(target)
        documents.append(DocumentDir(source=path, target=target))
    return tuple(documents), tuple(missing)


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def _has_control_characters(text: str) -> bool:
    # .env cannot hold them (envfile.quote_value refuses them), and no sane name contains one.
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def document_dir_problem(path: Path, label: str, create: bool) -> str | None:
    if _has_control_characters(str(path)):
        return f"{label}: the path contains control characters; rename the directory"
    if problem := _broken_link_problem(path, label):
        return problem
    if problem := system_directory_problem(path, label):
        return problem
    if not path.exists():
        if create:
            return _creation_problem(path, label)
        return (
            f"{label}: {path} does not exist; create it, or pass --create-doc-dirs to let "
            "the wizard create it"
        )
    if not path.is_dir():
        return f"{label}: {path} is not a directory; give the directory that holds the documents"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"{label}: {path} is not readable; fix its permissions (chmod a+rx)"
    return None


def _broken_link_problem(path: Path, label: str) -> str | None:
    """A symlink loop or a link to nothing: for pathlib both are a path that "does not exist"."""
    try:
        os.stat(path)
    except OSError as exc:
        fix = "point it at a directory or give the directory itself"
        if exc.errno == errno.ELOOP:
            where = "is a symbolic link" if path.is_symlink() else "goes through a symbolic link"
            return f"{label}: {path} {where} that loops (it leads back to itself); {fix}"
        if path.is_symlink():
            target = os.readlink(path)
            return f"{label}: {path} is a symbolic link to {target}, which does not exist; {fix}"
    return None


def _creation_problem(path: Path, label: str) -> str | None:
    """Why `path` (missing) cannot be created, judged by its nearest existing parent."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{label}: {path} cannot be created: {parent} is not a directory; give another path"
    if not os.access(parent, os.W_OK | os.X_OK):
        return (
            f"{label}: {path} cannot be created: {parent} is not writable; create the directory "
            "yourself or fix the permissions"
        )
    return None


def unique_target(path: Path, used: set[str], prefix: str = DOCS_ROOT + "/") -> str:
    """A container path <prefix><name> (/mnt/docs/<name>) from the directory's name, unique
    among `used`."""
    stem = re.sub(r"[^a-z0-9._-]+", "-", path.name.lower()).strip("-.") or "docs"
    target = f"{prefix}{stem}"
    counter = 2
    while target in used:
        target = f"{prefix}{stem}-{counter}"
        counter += 1
    return target
