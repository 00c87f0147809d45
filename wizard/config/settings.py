"""The plain settings, one row each: every name, rule and place a setting has is derived from here.

A row is a setting the wizard takes as one value and keeps as one `.env` key: its answer key (the
flag `--key`, the variable `WIZARD_KEY`, `key:` in an answers file), the flag's help, its default,
the rule that parses it, its label and form in the review, its `.env` key and the comment that
documents it there. The flags (cli), the answer layers (answers), the defaults and the parse
(resolve), the question at the prompt (steps), the `.env` line (render), the review row and
`--json` all read these rows; the Config holds the parsed values (`Config.values`).

Settings that need more than a row (the database, the documents, the deployment type with its
GPUs, the secrets) keep their own code; their flags are rows of `FLAGGED` in config/options.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (raw value, field name for messages) -> (value, problem sentence or None)
Parser = Callable[[object, str], tuple[Any, "str | None"]]


@dataclass(frozen=True)
class Setting:
    key: str
    help: str
    env_key: str
    default: str
    parse: Parser
    label: str
    # The `.env` comment above its key, for a key the template does not document itself.
    comment: str = ""
    # The value as the review shows it, and as `.env` and `--json` hold it.
    show: Callable[[Any], str] = str
    to_env: Callable[[Any], str] = str
    # The prompt: its message and, for a choice, its (label, value) pairs.
    question: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    # What the prompt's messages call it ("token lifetime: '0' is not valid ...").
    what: str = ""
    # Asked by step 4 with the other security settings (False: asked by code of its own).
    asked: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


def _expiry(value: object, field_name: str) -> tuple[Any, str | None]:
    from wizard.config.model import MAX_TOKEN_EXPIRY_MINUTES, parse_positive_int

    return parse_positive_int(value, field_name, maximum=MAX_TOKEN_EXPIRY_MINUTES)


def _log_level(value: object, field_name: str) -> tuple[Any, str | None]:
    from wizard.config.model import LogLevel, parse_choice

    return parse_choice(LogLevel, value, field_name)


def _bind_address(value: object, field_name: str) -> tuple[Any, str | None]:
    from wizard.config.model import parse_bind_address

    return parse_bind_address(value, field_name)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

SETTINGS: list[Setting] = [
    Setting(
        key="token_expiry_minutes",
        help="Access-token lifetime in minutes (default 1440, at most 525600).",
        env_key="ACCESS_TOKEN_EXPIRE_MINUTES",
        default="1440",
        parse=_expiry,
        label="Access-token lifetime",
        show=lambda minutes: f"{minutes} minutes",
        question="Access-token lifetime in minutes",
        what="token lifetime",
    ),
    Setting(
        key="log_level",
        help="DEBUG, INFO (default), WARNING or ERROR.",
        env_key="LOG_LEVEL",
        default="INFO",
        parse=_log_level,
        label="Log level",
        question="Log level",
        choices=tuple((level, level) for level in LOG_LEVELS),
    ),
    Setting(
        key="bind_address",
        help="Address published ports bind to (default 127.0.0.1).",
        env_key="BIND_ADDRESS",
        default="127.0.0.1",
        parse=_bind_address,
        label="Ports bind to",
        # Step 4 offers this host's addresses and warns about an open one: its own code.
        asked=False,
    ),
]


def by_key() -> dict[str, Setting]:
    return {setting.key: setting for setting in SETTINGS}
