"""What the steps share: the Session (the layered answers so far and the edges a step may
call), a Question as data, and the validation rules the prompts use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.config.answers import Answers, Source
from wizard.config.collect import DEFAULTS
from wizard.config.model import (
    PostgresMode,
    SslMode,
    check_secret_size,
    parse_port,
)
from wizard.config.settings import Setting
from wizard.stack.envfile import EnvValueError, quote_value
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
        # The server refused the password given at step 2: asked again, typing a new one is
        # the default (keeping the refused one cannot be the fix).
        self.password_refused = False

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


def _port_rule(label: str) -> prompter.Validator:
    return lambda text: parse_port(text, label)[1]


def env_safe(
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
