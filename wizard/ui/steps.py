"""The five interactive steps: what to ask, with which defaults and rules.

A step asks only what the flags, WIZARD_* variables and the answers file left open; the current
.env and the defaults pre-fill the prompts. Steps return answers (a dict for the PROMPT layer);
they never write files. Validation uses the same functions as non-interactive mode.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.config.answers import Answers, Source
from wizard.config.model import (
    Deployment,
    PostgresMode,
    SslMode,
    check_jwt_secret,
    check_postgres_password,
    check_secret_size,
    generate_secret,
    parse_bind_address,
    parse_bool,
    parse_choice,
    parse_port,
    parse_positive_int,
)
from wizard.config.resolve import DEFAULTS, document_dir_problem, switches_server
from wizard.config.settings import SETTINGS, Setting
from wizard.files.envfile import EnvValueError, quote_value
from wizard.ui import prompter
from wizard.ui.console import UI

STEP_TITLES = ("Deployment type", "PostgreSQL", "Document directories", "Security", "Review")
FIXED_SOURCES = (Source.FLAG, Source.ENV, Source.FILE)


@dataclass
class Session:
    """What the steps need: the layered answers so far, and the edges they may call."""

    answers: Answers
    ui: UI
    cwd: Path
    detect_gpus: Callable[[], Any]
    check_database: Callable[[Answers], Any] | None = None
    # Says what the stack will find in a document directory (setup.preview_documents).
    preview: Callable[[Path], None] | None = None

    def __post_init__(self) -> None:
        self.answered: dict[str, Any] = {}
        # Secrets generated in this run, kept until their own step is answered otherwise: left to
        # `build`, every review (and every way back to a step) would generate them anew.
        self.generated: dict[str, str] = {}

    @property
    def current(self) -> Answers:
        return self.answers.on_top(Source.GENERATED, self.generated).on_top(
            Source.PROMPT, self.answered
        )

    def value(self, key: str) -> Any:
        return self.current.value(key, DEFAULTS.get(key))

    def fixed(self, key: str) -> bool:
        """Given for this run by a flag, the environment or the answers file: not asked."""
        return self.answers.source(key) in FIXED_SOURCES

    def existing(self, key: str) -> bool:
        return bool(self.answers.layer(Source.EXISTING).get(key))

    def run_step(self, number: int) -> None:
        self.ui.step_header(number, len(STEP_TITLES), STEP_TITLES[number - 1])
        STEP_FUNCTIONS[number - 1](self)


def _port_rule(label: str) -> prompter.Validator:
    return lambda text: parse_port(text, label)[1]


def _positive_rule(label: str, maximum: int | None = None) -> prompter.Validator:
    return lambda text: parse_positive_int(text, label, maximum=maximum)[1]


def _env_safe(
    rule: Callable[[str, str], str | None], label: str, env_key: str
) -> prompter.Validator:
    def check(text: str) -> str | None:
        problem = check_secret_size(text, label) or rule(text, label)
        if problem:
            return problem
        try:
            quote_value(env_key, text)
        except EnvValueError as exc:
            return str(exc)
        return None

    return check


@dataclass(frozen=True)
class Question:
    """A plain question: a choice when it has `choices` ((label, value) pairs), else a line of
    text checked by `rule`. Questions that need more (secrets, the document list, the connection
    check) are functions below."""

    key: str
    message: str
    choices: tuple[tuple[str, str], ...] = ()
    rule: prompter.Validator | None = None


def ask(s: Session, question: Question, default: str | None = None) -> None:
    """Ask unless the value is fixed for this run; the default is the current value."""
    if s.fixed(question.key):
        return
    current = str(s.value(question.key) or "") if default is None else default
    if question.choices:
        s.answered[question.key] = prompter.select(
            question.message, list(question.choices), default=current
        )
    else:
        s.answered[question.key] = prompter.text(
            question.message, default=current, validate=question.rule
        ).strip()


def _required(what: str) -> prompter.Validator:
    return lambda text: None if text.strip() else f"{what}: enter a value"


POSTGRES_MODE = Question(
    "postgres_mode",
    "PostgreSQL server",
    choices=(
        ("Bundled: run PostgreSQL in this stack (recommended)", PostgresMode.BUNDLED.value),
        ("External: a server you already run, or a managed one", PostgresMode.EXTERNAL.value),
    ),
)
HOST_PORT = Question(
    "postgres_host_port",
    "Host port for PostgreSQL (the wizard and your tools reach it on this port)",
    rule=_port_rule("PostgreSQL host port"),
)
EXTERNAL_SERVER = (
    Question("postgres_host", "Server host name or address", rule=_required("host")),
    Question("postgres_port", "Server port", rule=_port_rule("port")),
    Question("postgres_db", "Database name", rule=_required("database name")),
    Question("postgres_user", "User (role) name", rule=_required("user name")),
)
SSLMODE = Question(
    "postgres_sslmode",
    "TLS (sslmode)",
    choices=(
        ("prefer: use TLS when the server offers it", SslMode.PREFER.value),
        ("require: always TLS, do not verify the certificate", SslMode.REQUIRE.value),
        ("verify-ca: TLS, certificate signed by my CA", SslMode.VERIFY_CA.value),
        ("verify-full: TLS, CA and host name verified", SslMode.VERIFY_FULL.value),
        ("disable: no TLS (trusted networks only)", SslMode.DISABLE.value),
    ),
)


def question_of(setting: Setting) -> Question:
    """A plain setting's question, from its row: a choice, or text its own rule checks."""
    if setting.choices:
        return Question(setting.key, setting.question, choices=setting.choices)
    what = setting.what or setting.label

    def rule(text: str) -> str | None:
        return setting.parse(text, what)[1]

    return Question(setting.key, setting.question, rule=rule)


# --- step 1 ------------------------------------------------------------------------------------


def step_deployment(s: Session) -> None:
    if s.fixed("deployment"):
        return
    detection = s.detect_gpus()
    s.ui.info(f"GPU detection: {detection.summary()}")
    from wizard.host.docker import DockerState, docker_status

    docker = docker_status()
    (s.ui.info if docker.state is DockerState.READY else s.ui.warn)(f"Docker: {docker.message}")
    gpu_label = "GPU: run the models on NVIDIA GPUs"
    if not detection.available:
        gpu_label += " (none detected here; choose only if this host will have one)"
    default = s.value("deployment")
    if not s.existing("deployment") and s.answered.get("deployment") is None:
        default = Deployment.GPU.value if detection.available else Deployment.CPU.value
    s.answered["deployment"] = prompter.select(
        "Deployment type",
        [("CPU: runs on any host", Deployment.CPU.value), (gpu_label, Deployment.GPU.value)],
        default=default,
    )


# --- step 2 ------------------------------------------------------------------------------------


def step_postgres(s: Session) -> None:
    ask(s, POSTGRES_MODE)
    while True:
        if s.value("postgres_mode") == PostgresMode.EXTERNAL.value:
            _ask_external(s)
        else:
            ask(s, HOST_PORT)
        _ask_password(s)
        if s.value("postgres_mode") != PostgresMode.EXTERNAL.value or s.check_database is None:
            return
        if _external_connects(s):
            return


def _ask_external(s: Session) -> None:
    for question in EXTERNAL_SERVER:
        ask(s, question)
    if not s.fixed("postgres_sslmode"):
        current = s.value("postgres_sslmode") or SslMode.PREFER.value
        # "disable" is the bundled server's setting (plain TCP inside the compose network), no
        # default for a server just switched to external; an external server's own is kept.
        was_external = s.answers.layer(Source.EXISTING).get("postgres_mode") == (
            PostgresMode.EXTERNAL.value
        )
        if current == SslMode.DISABLE.value and not (
            was_external or "postgres_sslmode" in s.answered
        ):
            current = SslMode.PREFER.value
        ask(s, SSLMODE, default=current)
    # A flag may say "VERIFY-FULL" or something invalid: parse it as the model does (an invalid
    # value is reported by the connection check and the final validation, not by a crash).
    sslmode, _ = parse_choice(SslMode, s.value("postgres_sslmode") or "", "sslmode")
    if sslmode is not None and sslmode.verifies and not s.fixed("postgres_sslrootcert"):
        s.answered["postgres_sslrootcert"] = prompter.path(
            "CA certificate file (PEM) that signed the server's certificate",
            default=str(s.value("postgres_sslrootcert") or ""),
            validate=_file_rule,
        ).strip()


def _file_rule(text: str) -> str | None:
    if os.path.isfile(os.path.expanduser(text.strip())):
        return None
    return (
        f"CA certificate: {text.strip() or '(empty)'} is not a file; give the path of the PEM file"
    )


def _external_connects(s: Session) -> bool:
    """Connect before going on; on failure offer retry, correction or continuing unvalidated."""
    assert s.check_database is not None
    # What "Change the connection settings" would ask again.
    keys = [q.key for q in EXTERNAL_SERVER] + [SSLMODE.key, "postgres_password"]
    sslmode, _ = parse_choice(SslMode, s.value("postgres_sslmode") or "", "sslmode")
    if sslmode is not None and sslmode.verifies:
        keys.append("postgres_sslrootcert")
    while True:
        with s.ui.status("Connecting to the database"):
            result = s.check_database(s.current)
        if result.ok:
            s.ui.success(f"Connected: PostgreSQL {result.server_version}, can create tables.")
            s.answered["skip_db_check"] = False
            return True
        s.ui.problem(result.message)
        choices = [
            ("Change the connection settings", "change"),
            ("Try again", "retry"),
            ("Continue without validation (shown in the review)", "skip"),
        ]
        if all(s.fixed(key) for key in keys):
            # Flags (or the environment, or the answers file) fixed every setting for this run:
            # nothing could be changed here, so do not offer it.
            choices = choices[1:]
        action = prompter.select("What now?", choices, default=choices[0][1])
        if action == "skip":
            s.answered["skip_db_check"] = True
            return True
        if action == "change":
            return False


def _ask_password(s: Session) -> None:
    if s.value("postgres_mode") == PostgresMode.EXTERNAL.value:
        _ask_server_password(s)
        return
    _ask_secret(
        s,
        key="postgres_password",
        what="PostgreSQL password",
        env_key="POSTGRES_PASSWORD",
        rule=check_postgres_password,
        minimum="16",
    )


def _ask_server_password(s: Session) -> None:
    """An external server already has its password: ask for it (once; the connection proves it).

    A generated one could never log in, so none is offered.
    """
    key = "postgres_password"
    if s.fixed(key):
        return
    s.generated.pop(key, None)  # one generated for the bundled server: no external one's
    current = s.current.get(key)
    if current is not None and current.source is Source.EXISTING and _switches_server(s):
        current = None  # the bundled server's password: it cannot log in to this one
    rotate_flag = parse_bool(s.value("rotate_postgres_password"), "rotate")[0]
    if s.fixed("rotate_postgres_password") and rotate_flag and current is not None:
        # --rotate-postgres-password: the current password logs in, and a generated one
        # replaces it on the server (ALTER ROLE) before .env changes. Nothing to ask.
        s.generated[key] = generate_secret()
        return
    if current is not None:
        action = prompter.select(
            "PostgreSQL password",
            [("Keep the current password", "keep"), ("Enter the server's password", "enter")],
            default="keep",
        )
        if action == "keep":
            return
    user = s.value("postgres_user")
    s.answered[key] = prompter.secret(
        f"Password of role {user} on the server (hidden)",
        validate=_env_safe(
            lambda text, label: None if text else f"{label}: enter the role's password",
            "PostgreSQL password",
            "POSTGRES_PASSWORD",
        ),
    )
    s.answered["rotate_postgres_password"] = False


def _switches_server(s: Session) -> bool:
    """The current .env describes the other kind of PostgreSQL server than the one chosen now."""
    from wizard.config.model import parse_choice

    mode, _ = parse_choice(PostgresMode, s.value("postgres_mode") or "", "PostgreSQL server")
    return switches_server(s.answers, mode)


# --- shared: a secret --------------------------------------------------------------------------


def _ask_secret(
    s: Session,
    *,
    key: str,
    what: str,
    env_key: str,
    rule: Callable[[str, str], str | None],
    minimum: str,
) -> None:
    rotate_key = f"rotate_{key}"
    if s.fixed(key) or s.fixed(rotate_key):
        rotate = parse_bool(s.value(rotate_key), rotate_key)[0]
        if not s.fixed(key) and (rotate or s.current.get(key) is None):
            s.generated.setdefault(key, generate_secret())  # not asked, but generated all the same
        return
    # Back from the review (or from a failed connection), the earlier answer is the default: a
    # secret typed a moment ago must not be swapped for a generated one by pressing Enter.
    typed_before: str | None = s.answered.get(key)
    rotating_before = bool(s.answered.get(rotate_key))
    earlier: str | None
    if key in s.answered:
        earlier = "rotate-generate" if rotating_before else "generate"
    else:
        earlier = "keep" if rotate_key in s.answered else None
    s.answered.pop(key, None)
    s.answered[rotate_key] = False
    # Switching from an external server to the bundled one, the current password is the external
    # server's: the bundled one gets a password of its own, as on a first install.
    if s.existing(key) and not (key == "postgres_password" and _switches_server(s)):
        choices = [
            (f"Keep the current {what}", "keep"),
            (f"Rotate: generate a new {what}", "rotate-generate"),
            (f"Rotate: enter a new {what}", "rotate-enter"),
        ]
        if key == "postgres_password":
            choices.append(("Correct it: the server already uses another password", "enter"))
        default = "keep"
    else:
        choices = [
            (f"Generate a random {what} (64 hex characters, recommended)", "generate"),
            (f"Enter my own (at least {minimum} characters)", "enter"),
        ]
        default = "generate"
    if typed_before is not None:
        choices.insert(0, (f"Keep the {what} you entered", "typed"))
        default = "typed"
    elif earlier in {value for _, value in choices}:
        default = earlier
    action = prompter.select(_capitalized(what), choices, default=default)
    if action in ("generate", "rotate-generate"):
        s.generated.setdefault(key, generate_secret())
    else:
        s.generated.pop(key, None)
    if action == "typed":
        s.answered[key] = typed_before
        s.answered[rotate_key] = rotating_before
        return
    if action in ("rotate-generate", "rotate-enter"):
        s.answered[rotate_key] = True
    if action in ("enter", "rotate-enter"):
        s.answered[key] = _typed_twice(s, what, _env_safe(rule, what, env_key))
    elif action in ("generate", "rotate-generate"):
        s.answered[key] = None


def _capitalized(what: str) -> str:
    # Not str.capitalize(): that lowercases the rest ("Postgresql password", "Jwt secret").
    return what[:1].upper() + what[1:]


def _typed_twice(s: Session, what: str, rule: prompter.Validator) -> str:
    while True:
        first = prompter.secret(f"{_capitalized(what)} (hidden)", validate=rule)
        second = prompter.secret(f"{_capitalized(what)} again (hidden)")
        if first == second:
            return first
        # Caught here, not by a validator: the second prompt cannot see the first answer's text.
        s.ui.problem(f"The two {what}s differ; enter it again.")


# --- step 3 ------------------------------------------------------------------------------------


def step_documents(s: Session) -> None:
    if s.fixed("doc_dir"):
        return
    current = [str(item) for item in (s.value("doc_dir") or [])]
    create = bool(s.value("create_doc_dirs"))
    while True:
        if current:
            s.ui.info("Document directories: " + "; ".join(current))
            action = prompter.select(
                "Document directories",
                [
                    ("Done: use these directories", "done"),
                    ("Add a directory", "add"),
                    ("Remove a directory", "remove"),
                ],
                default="done",
            )
        else:
            action = "add"
        if action == "done":
            if _listed_directories_settled(s, current, create):
                create = create or any(not Path(item).exists() for item in current)
                break
            continue
        if action == "remove":
            gone = prompter.select(
                "Remove which?", [(item, item) for item in current], default=current[-1]
            )
            current.remove(gone)
            continue
        entered = prompter.path(
            "Directory with documents to search",
            validate=lambda text: None if text.strip() else "Enter a directory path",
        ).strip()
        path = _absolute(entered, s.cwd)
        problem = document_dir_problem(path, "document directory", create=True)
        if problem:
            s.ui.problem(problem)
            continue
        # Before offering to create it: a missing directory typed twice is still a duplicate.
        if any(os.path.realpath(item) == os.path.realpath(path) for item in current):
            s.ui.info(f"{path} is already in the list.")
            continue
        if not path.exists():
            if not prompter.confirm(f"{path} does not exist. Create it?", default=True):
                continue
            create = True
        elif s.preview is not None:
            s.preview(path)
        current.append(str(path))
    s.answered["doc_dir"] = current
    s.answered["create_doc_dirs"] = create


def _listed_directories_settled(s: Session, current: list[str], create: bool) -> bool:
    """False when a listed directory cannot be used as it is: one may have gone since the last
    run. Settled here, where it can be removed or created, rather than by the final validation
    after every other question."""
    unusable = [
        problem
        for item in current
        if (problem := document_dir_problem(Path(item), "document directory", create=True))
    ]
    for problem in unusable:
        s.ui.problem(problem)
    if unusable:
        return False
    missing = [item for item in current if not Path(item).exists()]
    if not missing or create:
        return True
    return prompter.confirm(
        f"{'; '.join(missing)} {'does' if len(missing) == 1 else 'do'} not exist. Create "
        f"{'it' if len(missing) == 1 else 'them'}?",
        default=True,
    )


def _absolute(text: str, cwd: Path) -> Path:
    path = Path(os.path.expanduser(text))
    return Path(os.path.normpath(path if path.is_absolute() else cwd / path))


# --- step 4 ------------------------------------------------------------------------------------


def step_security(s: Session) -> None:
    _ask_secret(
        s,
        key="jwt_secret",
        what="JWT secret",
        env_key="JWT_SECRET_KEY",
        rule=check_jwt_secret,
        minimum="32",
    )
    if s.answered.get("rotate_jwt_secret"):
        s.ui.warn("Rotating the JWT secret signs every signed-in user out.")
    for setting in SETTINGS:
        if setting.asked and setting.question:
            current = str(s.value(setting.key) or "")
            # A choice's default must be one of its values (LOG_LEVEL=info in a .env is INFO).
            values = {value.upper(): value for _, value in setting.choices}
            ask(s, question_of(setting), default=values.get(current.upper(), current))
    if not s.fixed("bind_address"):
        _ask_bind_address(s)


def _ask_bind_address(s: Session) -> None:
    current = str(s.value("bind_address"))
    choices = [
        ("127.0.0.1: this host only (recommended)", "127.0.0.1"),
        ("0.0.0.0: every network interface (reachable from the network)", "0.0.0.0"),
        ("Another address of this host", "other"),
    ]
    known = {value for _, value in choices}
    address = prompter.select(
        "Published ports bind to", choices, default=current if current in known else "other"
    )
    if address == "other":
        address = prompter.text(
            "Bind address",
            default="" if current in known else current,
            validate=lambda text: parse_bind_address(text, "bind address")[1],
        ).strip()
    if ipaddress.ip_address(address).is_unspecified:  # 0.0.0.0, or :: typed as another address
        s.ui.warn(
            f"{address} publishes the web UI, the API and PostgreSQL on every network interface: "
            "make sure a firewall protects them."
        )
    s.answered["bind_address"] = address


STEP_FUNCTIONS: tuple[Callable[[Session], None], ...] = (
    step_deployment,
    step_postgres,
    step_documents,
    step_security,
)


def review_choices() -> list[tuple[str, str]]:
    choices = [("Write the configuration", "write")]
    choices += [
        (f"Change step {number}: {title}", str(number))
        for number, title in enumerate(STEP_TITLES[:-1], start=1)
    ]
    choices.append(("Cancel: write nothing", "cancel"))
    return choices
