"""What the stack accepts: usernames, emails, passwords, API key names and lifetimes.

Each check returns the problems (empty when the value is fine), so a command can list every
problem at once (exit 2) before it connects.
"""

from __future__ import annotations

import re

MIN_USERNAME = 3
MIN_PASSWORD = 8
# bcrypt reads at most 72 bytes: a longer password would be cut silently, so it is refused.
MAX_PASSWORD_BYTES = 72
DEFAULT_KEY_DAYS = 365
MAX_KEY_DAYS = 3650
MAX_KEYS_PER_USER = 20

_USERNAME = re.compile(r"[A-Za-z0-9_]+")
# Deliberately loose (the app validates addresses itself): something@domain.tld, no spaces.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def username_problems(username: str, field: str = "USERNAME") -> list[str]:
    if len(username) < MIN_USERNAME or not _USERNAME.fullmatch(username):
        return [
            f"{field}: {username!r} is not a username: at least {MIN_USERNAME} characters, "
            "letters, digits or _"
        ]
    return []


def email_problems(email: str, field: str = "--email") -> list[str]:
    if not _EMAIL.fullmatch(email) or any(ord(c) < 32 or ord(c) == 127 for c in email):
        return [f"{field}: {email!r} is not an email address"]
    return []


def password_problems(password: str, field: str = "password") -> list[str]:
    """Never quotes the password: the problems name only what is wrong with it."""
    if len(password) < MIN_PASSWORD:
        return [f"{field}: at least {MIN_PASSWORD} characters are needed"]
    if "\x00" in password:
        return [f"{field}: a NUL character cannot be part of a password"]
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        return [f"{field}: it is not valid Unicode text"]
    if size > MAX_PASSWORD_BYTES:
        return [
            f"{field}: {size} bytes is more than bcrypt's {MAX_PASSWORD_BYTES}; it would be cut "
            "silently, so use a shorter one"
        ]
    return []


def key_name_problems(name: str, field: str = "--name") -> list[str]:
    if not name.strip():
        return [f"{field}: give the key a name"]
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return [f"{field}: control characters cannot be part of a key name"]
    return []


def key_days_problems(days: int, field: str = "--expires-in-days") -> list[str]:
    if not 1 <= days <= MAX_KEY_DAYS:
        return [f"{field}: {days} is not valid; give 1 to {MAX_KEY_DAYS} days"]
    return []


def full_name_problems(name: str, field: str = "--full-name") -> list[str]:
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return [f"{field}: control characters cannot be part of a name"]
    return []
