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

from wizard.config.embedding import (
    DEFAULT_MODEL,
    parse_cache_dir,
    parse_gpu_share,
    parse_model_id,
    parse_quantization,
)

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
    # Must be in every deployment's .env (`wizard check`): False where a missing key has a
    # meaning of its own (no ENVIRONMENT: compose's default, development).
    required: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


def _expiry(value: object, field_name: str) -> tuple[Any, str | None]:
    from wizard.config.model import MAX_TOKEN_EXPIRY_MINUTES, parse_positive_int

    return parse_positive_int(value, field_name, maximum=MAX_TOKEN_EXPIRY_MINUTES)


def _log_level(value: object, field_name: str) -> tuple[Any, str | None]:
    from wizard.config.model import LogLevel, parse_choice

    return parse_choice(LogLevel, value, field_name)


def _environment(value: object, field_name: str) -> tuple[Any, str | None]:
    from wizard.config.model import Environment, parse_choice

    return parse_choice(Environment, value, field_name)


def _bind_address(value: object, field_name: str) -> tuple[Any, str | None]:
    from wizard.config.model import parse_bind_address

    return parse_bind_address(value, field_name)


def _flag(value: object, field_name: str) -> tuple[Any, str | None]:
    from wizard.config.model import parse_bool

    return parse_bool(value, field_name)


def _true_false(value: Any) -> str:
    return "true" if value else "false"


def _share(value: Any) -> str:
    return f"{float(value):g}"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# The models (step 1 asks them, with code of its own: wizard/ui/models.py).
MODEL_SETTINGS: list[Setting] = [
    Setting(
        key="embedding_model",
        help="Hugging Face id (owner/name) of the embedding model "
        "(default Qwen/Qwen3-Embedding-0.6B).",
        env_key="DEFAULT_EMBEDDING_MODEL",
        default=DEFAULT_MODEL,
        parse=parse_model_id,
        label="Embedding model",
        comment="Hugging Face id (owner/name) of the embedding model the stack loads.",
        asked=False,
    ),
    Setting(
        key="quantization",
        help="float32, float16 (default) or int8; a CPU deployment runs float32 whatever is "
        "chosen.",
        env_key="DEFAULT_QUANTIZATION",
        default="float16",
        parse=parse_quantization,
        label="Quantization",
        comment="float32, float16 or int8 (applied on a GPU only; the CPU runs float32).",
        asked=False,
    ),
    Setting(
        key="model_cache",
        help="Host directory of the Hugging Face model cache (default ./models, relative to the "
        "project directory), created if missing.",
        env_key="HF_CACHE_DIR",
        default="./models",
        parse=parse_cache_dir,
        label="Model cache",
        comment="Host directory of the model cache, mounted where the services' HF_HOME is.",
        asked=False,
    ),
    Setting(
        key="offline",
        help="true: the services download nothing (the cache must hold the model); default false.",
        env_key="HF_HUB_OFFLINE",
        default="false",
        parse=_flag,
        label="Offline mode",
        comment="true: no model downloads; the model cache must hold the embedding model.",
        show=lambda on: "on (no downloads)" if on else "off",
        to_env=_true_false,
        asked=False,
    ),
    Setting(
        key="local_llm",
        help="true or false: run a local LLM in vecpipe (GPU deployments only; a CPU "
        "deployment writes false).",
        env_key="ENABLE_LOCAL_LLM",
        default="true",
        parse=_flag,
        label="Local LLM",
        comment="true: vecpipe runs local LLMs (GPU deployments only).",
        show=lambda on: "on" if on else "off",
        to_env=_true_false,
        asked=False,
    ),
    Setting(
        key="gpu_memory_max",
        help="Share of GPU memory vecpipe may use: 0.1 to 1.0 (default 0.9).",
        env_key="GPU_MEMORY_MAX_PERCENT",
        default="0.9",
        parse=parse_gpu_share,
        label="GPU memory share",
        comment="Share of GPU memory vecpipe may use: a fraction, 0.1 to 1.0.",
        show=lambda share: f"{float(share):.0%}",
        to_env=_share,
        asked=False,
    ),
]

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
        key="environment",
        help="production (the default for a new install) or development (the web UI's error "
        "responses then show the exception; an install without ENVIRONMENT stays development).",
        env_key="ENVIRONMENT",
        default="production",
        parse=_environment,
        label="Environment",
        comment="production or development. In development the web UI's error responses carry\n"
        "the exception's type and message; production needs INTERNAL_API_KEY. An install\n"
        "without this key runs in development (compose's default). Default: production.",
        question="Environment",
        required=False,
        # Step 4 asks it after the bind address, whose choice its warning depends on.
        asked=False,
        choices=(
            ("production: errors without details, the internal API key set", "production"),
            ("development: errors show the exception (keep it on loopback)", "development"),
        ),
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
    *MODEL_SETTINGS,
]


def by_key() -> dict[str, Setting]:
    return {setting.key: setting for setting in SETTINGS}
