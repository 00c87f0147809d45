"""Asking for a secret at a step: keep, rotate, generate or type it (twice, hidden)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from wizard.config.database import switches_server
from wizard.config.model import (
    PostgresMode,
    generate_secret,
    parse_bool,
    parse_choice,
)
from wizard.ui import prompter
from wizard.ui.session import Session, env_safe


def switches_server_now(s: Session) -> bool:
    """The current .env describes the other kind of PostgreSQL server than the one chosen now."""

    mode, _ = parse_choice(PostgresMode, s.value("postgres_mode") or "", "PostgreSQL server")
    return switches_server(s.answers, mode)


class SecretChoice(StrEnum):
    """What the person does with a secret at its step."""

    KEEP = "keep"  # the current one
    TYPED = "typed"  # the one typed a moment ago (back from the review)
    GENERATE = "generate"
    ENTER = "enter"  # type one (on a re-run: a correction, the server already uses it)
    ROTATE_GENERATE = "rotate-generate"
    ROTATE_ENTER = "rotate-enter"

    @property
    def rotates(self) -> bool:
        return self in (SecretChoice.ROTATE_GENERATE, SecretChoice.ROTATE_ENTER)

    @property
    def generates(self) -> bool:
        return self in (SecretChoice.GENERATE, SecretChoice.ROTATE_GENERATE)

    @property
    def types(self) -> bool:
        return self in (SecretChoice.ENTER, SecretChoice.ROTATE_ENTER)


def ask_secret(
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
    earlier: SecretChoice | None
    if key in s.answered:
        earlier = SecretChoice.ROTATE_GENERATE if rotating_before else SecretChoice.GENERATE
    else:
        earlier = SecretChoice.KEEP if rotate_key in s.answered else None
    s.answered.pop(key, None)
    s.answered[rotate_key] = False
    choices, default = _secret_choices(s, key, what, minimum)
    if typed_before is not None:
        choices.insert(0, (f"Keep the {what} you entered", SecretChoice.TYPED))
        default = SecretChoice.TYPED
    elif earlier in {value for _, value in choices}:
        default = earlier
    action = SecretChoice(prompter.select(_capitalized(what), choices, default=default))
    if action.generates:
        s.generated.setdefault(key, generate_secret())
    else:
        s.generated.pop(key, None)
    if action is SecretChoice.TYPED:
        s.answered[key] = typed_before
        s.answered[rotate_key] = rotating_before
        return
    if action.rotates:
        s.answered[rotate_key] = True
    if action.types:
        s.answered[key] = _typed_twice(s, what, env_safe(rule, what, env_key))
    elif action.generates:
        s.answered[key] = None


def _secret_choices(
    s: Session, key: str, what: str, minimum: str
) -> tuple[list[tuple[str, SecretChoice]], SecretChoice]:
    """The choices for a secret, and the default: keep or rotate a current one; otherwise
    generate or type one."""
    # Switching from an external server to the bundled one, the current password is the external
    # server's: the bundled one gets a password of its own, as on a first install.
    if s.existing(key) and not (key == "postgres_password" and switches_server_now(s)):
        choices = [
            (f"Keep the current {what}", SecretChoice.KEEP),
            (f"Rotate: generate a new {what}", SecretChoice.ROTATE_GENERATE),
            (f"Rotate: enter a new {what}", SecretChoice.ROTATE_ENTER),
        ]
        if key == "postgres_password":
            choices.append(
                ("Correct it: the server already uses another password", SecretChoice.ENTER)
            )
        return choices, SecretChoice.KEEP
    return [
        (f"Generate a random {what} (64 hex characters, recommended)", SecretChoice.GENERATE),
        (f"Enter my own (at least {minimum} characters)", SecretChoice.ENTER),
    ], SecretChoice.GENERATE


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
