"""The one table of the `.env` keys the wizard owns: their order, which hold secrets, which every
deployment must have, and the form in which each reaches the services that read it.

Rendering, resolving, `wizard check`, the review and the database target derive from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from wizard.config.settings import SETTINGS
from wizard.stack import resources
from wizard.stack.profile import ValueForm, profile


@dataclass(frozen=True)
class EnvKey:
    name: str
    secret: bool = False
    # Must be in every deployment's .env (`wizard check`'s "required keys"): False for keys a
    # .env written by an older wizard may lack.
    required: bool = True
    # The answer whose value the key holds as written (`postgres_db`), read back on a re-run;
    # None for keys derived from other answers (DATABASE_URL, COMPOSE_FILE, ...).
    answer: str | None = None
    # Service -> the form the value reaches it in, where the override hands it on (profile).
    forms: Mapping[str, ValueForm] = field(default_factory=dict)


def _owned() -> tuple[EnvKey, ...]:
    stack = profile()
    keys = (
        EnvKey("COMPOSE_FILE"),
        EnvKey("USE_GPU"),
        EnvKey("CUDA_VISIBLE_DEVICES", required=False),
        EnvKey("POSTGRES_MODE", answer="postgres_mode"),
        EnvKey("POSTGRES_HOST", answer="postgres_host"),
        EnvKey("POSTGRES_PORT", answer="postgres_port"),
        EnvKey("POSTGRES_DB", answer="postgres_db"),
        EnvKey("POSTGRES_USER", answer="postgres_user"),
        EnvKey("POSTGRES_PASSWORD", secret=True, answer="postgres_password"),
        # Set only while a rotation is unfinished.
        EnvKey("POSTGRES_PASSWORD_PENDING", secret=True, required=False),
        EnvKey("POSTGRES_SSLMODE", required=False, answer="postgres_sslmode"),
        EnvKey("POSTGRES_SSLROOTCERT", required=False, answer="postgres_sslrootcert"),
        EnvKey("POSTGRES_HOST_PORT", answer="postgres_host_port"),
        EnvKey("POSTGRES_BUNDLED_PASSWORD", secret=True, answer="postgres_bundled_password"),
        EnvKey("DATABASE_URL", secret=True),
        EnvKey("DOCUMENT_PATH", required=False),
        EnvKey("DOCUMENT_PATHS"),
        EnvKey("JWT_SECRET_KEY", secret=True, answer="jwt_secret"),
        *(
            # One generated only in one environment need not be in every .env.
            EnvKey(secret.key, secret=True, required=not secret.environment, answer=secret.answer)
            for secret in stack.secrets
        ),
        *(EnvKey(s.env_key, required=s.required, answer=s.key) for s in SETTINGS),
    )
    return tuple(replace(key, forms=stack.settings.get(key.name, {})) for key in keys)


def _in_template_order(keys: tuple[EnvKey, ...]) -> tuple[EnvKey, ...]:
    # Keys the template does not document (a new row's) come after the ones it does.
    template = resources.template("env.template")
    positions = {key.name: template.find(f"\n{key.name}=") for key in keys}
    return tuple(sorted(keys, key=lambda key: p if (p := positions[key.name]) >= 0 else 1 << 30))


OWNED = _in_template_order(_owned())
ENV_KEYS = tuple(key.name for key in OWNED)
SECRET_ENV_KEYS = frozenset(key.name for key in OWNED if key.secret)
REQUIRED_KEYS = tuple(key.name for key in OWNED if key.required)
# .env key -> the answer it holds as written: the current deployment's answers on a re-run.
ENV_ANSWERS = {key.name: key.answer for key in OWNED if key.answer}
