"""Answers -> one validated Config, with every problem listed at once.

The current deployment (its .env values and the override's document directories) enters as the
`EXISTING` layer, so "re-run with the current values as defaults" is a lookup order, not code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.config.answers import Answers, Source
from wizard.config.collect import BOOL_OPTIONS, Collector, Unreadable, take_secret
from wizard.config.database import resolve_database
from wizard.config.documents import resolve_documents
from wizard.config.embedding import cache_path, model_snapshot, snapshot_hint
from wizard.config.envkeys import ENV_ANSWERS
from wizard.config.model import (
    Config,
    Deployment,
    DocumentDir,
    Environment,
    PostgresMode,
    check_fernet_key,
    check_jwt_secret,
    check_stack_key,
    check_url_safe_secret,
    generate_fernet_key,
    generate_secret,
    parse_bool,
    parse_choice,
    parse_db_timeout,
)
from wizard.config.settings import SETTINGS
from wizard.errors import InputError
from wizard.stack.envfile import EnvValueError, quote_value
from wizard.stack.profile import SecretForm, profile


def existing_answers(
    env: Mapping[str, str],
    documents: Sequence[DocumentDir],
    root: Path | None = None,
    gpu_found: bool = False,
) -> dict[str, Any]:
    """The current deployment as answers (the layer below the inputs and above the defaults).

    `root` is the project directory: a relative DOCUMENT_PATH (an install made from the stack's
    own `.env.docker.example`) is relative to it, as compose reads it. `gpu_found`: this host
    has a GPU; an install the wizard did not write (no USE_GPU) follows that, not a line of the
    example file (its CUDA_VISIBLE_DEVICES=0 is a placeholder).
    """
    values: dict[str, Any] = {
        answer: env[key] for key, answer in ENV_ANSWERS.items() if env.get(key, "") != ""
    }
    if env and "ENVIRONMENT" not in env:
        # compose's default in the stack's file: an install without the key runs in development.
        values["environment"] = Environment.DEVELOPMENT.value
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
    if env and "USE_GPU" not in env:
        values["deployment"] = (Deployment.GPU if gpu_found else Deployment.CPU).value
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
    # The model cache directory, when it does not exist yet: setup creates it (Docker would
    # create it owned by root, which the services' user cannot write to).
    create_model_cache: Path | None = None

    @property
    def password_changed(self) -> bool:
        return (
            self.previous_password is not None
            and self.previous_password != self.config.database.password
        )

    def option(self, key: str) -> bool:
        return self.options.get(key, False)


def build(
    answers: Answers,
    *,
    cwd: Path,
    existing_documents: Sequence[DocumentDir] = (),
    documents_root: str | None = None,
) -> Resolved:
    """Validate every answer and build the Config. Raises InputError with all problems at once.
    `documents_root`: where the base binds its document directory (/mnt/docs; None without a
    base file): the first directory goes there, the others beside it, never inside it."""
    c = Collector(answers)
    options = {
        key: bool(c.take(key, parse_bool)) if c.raw(key) is not None else False
        for key in BOOL_OPTIONS
    }
    deployment = c.take("deployment", parse_choice, Deployment)
    values = {setting.key: c.take(setting.key, setting.parse) for setting in SETTINGS}
    db_timeout = c.take("db_timeout", parse_db_timeout)
    model_cache = _check_models(c, deployment, values, cwd)
    gpu_ids = _gpu_ids(c)
    database, previous_password = resolve_database(c, options, cwd)
    placeholders = _placeholders(c)
    jwt_secret = take_secret(
        c,
        "jwt_secret",
        check_jwt_secret,
        "JWT_SECRET_KEY",
        options["rotate_jwt_secret"] or "JWT_SECRET_KEY" in placeholders,
    )[0]
    rotate = _rotate_keys(c)
    secrets = _stack_secrets(c, rotate | set(placeholders), values.get("environment"))
    documents, create_dirs = resolve_documents(
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
        create_model_cache=model_cache,
    )


def _placeholders(c: Collector) -> list[str]:
    """The .env keys that still hold the stack example's placeholders: replaced, not kept."""
    existing = c.answers.layer(Source.EXISTING)
    return [
        key
        for key, answer in (("JWT_SECRET_KEY", "jwt_secret"), *_stack_answers())
        if is_placeholder(existing.get(answer))
    ]


def _stack_secrets(c: Collector, replaced: set[str], environment: object) -> dict[str, str]:
    """The stack's other secrets (templates/stack.yaml), each in its form; those in `replaced`
    (rotated, or the example file's placeholders) generated anew. A secret the profile generates
    only in one environment is left out in another unless it is given (or rotated)."""
    secrets: dict[str, str] = {}
    for secret in profile().secrets:
        wanted = not secret.environment or secret.environment == str(environment or "")
        if not wanted and c.answers.get(secret.answer) is None and secret.key not in replaced:
            continue
        fernet = secret.form is SecretForm.FERNET
        rule = check_fernet_key if fernet else check_url_safe_secret
        if secret.strength == "stack":
            rule = _with_stack_strength(rule)
        secrets[secret.key] = take_secret(
            c,
            secret.answer,
            rule,
            secret.key,
            secret.key in replaced,
            generate=generate_fernet_key if fernet else generate_secret,
            rotate_hint=f"--rotate {secret.key}",
        )[0]
    return secrets


_GIVEN = (Source.FLAG, Source.ENV, Source.FILE, Source.PROMPT)


def _check_models(
    c: Collector, deployment: Deployment | None, values: dict[str, Any], cwd: Path
) -> Path | None:
    """The model answers against the deployment and the cache; the cache directory to create.
    The local LLM runs on the GPU: a CPU deployment writes false (and refuses true given now)."""
    if deployment is not Deployment.GPU and values.get("local_llm"):
        if c.sources.get("local_llm") in _GIVEN:
            c.problem(
                "local_llm",
                f"{c.label('local_llm')}: true needs a GPU deployment (the local LLM runs on "
                "vecpipe's GPU); use false, or --deployment gpu",
            )
        values["local_llm"] = False
    cache_text, model = values.get("model_cache"), values.get("embedding_model")
    if not cache_text:
        return None
    cache = cache_path(cache_text, cwd)
    if values.get("offline") and model and model_snapshot(cache, model) is None:
        c.problem(
            "offline",
            f"{c.label('offline')}: offline mode needs {model} in the model cache, and {cache} "
            f"holds no copy of it (Hugging Face keeps it at {snapshot_hint(cache, model)}/); "
            f"download it first (the stack's scripts/download-models.sh --model {model} --dir "
            f"{cache}), or turn offline mode off",
        )
    return None if cache.exists() else cache


def _with_stack_strength(rule: Any) -> Any:
    def checked(value: str, label: str) -> str | None:
        return check_stack_key(value, label) or rule(value, label)

    return checked


def _required_env(c: Collector) -> dict[str, str]:
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


def _rotate_keys(c: Collector) -> set[str]:
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


def _gpu_ids(c: Collector) -> tuple[str, ...]:
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
