"""What the stack accepts: usernames, emails, passwords, API key names and lifetimes.

The rules are the stack's own (its `webui/auth.py` UserCreate and `api/v2/api_key_schemas.py`):
a username is at least 3 characters, each `str.isalnum()` or `_`; an email passes
`email-validator` with deliverability checks off (pydantic's EmailStr), which refuses
special-use domains such as `.local`, and is stored in its normalized form; a key name is 1 to
100 characters. The wizard adds what the stack's login cannot take: control characters in a
password, and more than bcrypt's 72 bytes.

Each check returns the problems (empty when the value is fine), so a command can list every
problem at once (exit 2) before it connects.
"""

from __future__ import annotations

import re
import unicodedata

MIN_USERNAME = 3
MIN_PASSWORD = 8
# bcrypt reads at most 72 bytes: a longer password would be cut silently, so it is refused.
MAX_PASSWORD_BYTES = 72
MAX_KEY_NAME = 100
DEFAULT_KEY_DAYS = 365
MAX_KEY_DAYS = 3650
MAX_KEYS_PER_USER = 20

_CONTROL_NAMES = {
    "\x00": "NUL", "\t": "tab", "\n": "newline", "\r": "carriage return", "\x1b": "ESC",
    "\x7f": "DEL", "\x08": "backspace",
}  # fmt: skip
# Scripts that one name legitimately mixes (Japanese writes kanji, hiragana and katakana).
_SCRIPT_FAMILIES = {"CJK": "JAPANESE-CHINESE", "HIRAGANA": "JAPANESE-CHINESE",
                    "KATAKANA": "JAPANESE-CHINESE"}  # fmt: skip

# The stack's API key form: `smtk_<8 hex of the id>_<token_urlsafe(32)>`.
PREFIX = "smtk_"
KEY_FORM = re.compile(r"smtk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")
# The short id printed inside a key (`smtk_1c06c582_...`): the first 8 hex digits of its id.
SHORT_ID = re.compile(r"(?:smtk_)?([0-9a-f]{8})")


def _controls(text: str) -> list[str]:
    """The control characters in `text`, named (without the text), in order, once each."""
    named: list[str] = []
    for char in text:
        if unicodedata.category(char) == "Cc":
            name = _CONTROL_NAMES.get(char, f"U+{ord(char):04X}")
            if name not in named:
                named.append(name)
    return named


def username_problems(username: str, field: str = "USERNAME") -> list[str]:
    if len(username) < MIN_USERNAME or not all(c.isalnum() or c == "_" for c in username):
        return [
            f"{field}: {username!r} is not a username: at least {MIN_USERNAME} characters, "
            "letters, digits or _"
        ]
    return []


def email_problems(email: str, field: str = "--email") -> list[str]:
    """The stack's check (email-validator, no DNS look-up), with its reason."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        return [f"{field}: {email!r} is not an email address the stack accepts: {exc}"]
    return []


def normal_email(email: str) -> str:
    """The form the stack stores (domain lower-cased, Unicode normalized); `email` must have
    passed `email_problems`."""
    from email_validator import validate_email

    return str(validate_email(email, check_deliverability=False).normalized)


def password_problems(password: str, field: str = "password") -> list[str]:
    """Never quotes the password: the problems name only what is wrong with it."""
    if len(password) < MIN_PASSWORD:
        return [f"{field}: at least {MIN_PASSWORD} characters are needed"]
    controls = _controls(password)
    if controls:
        return [
            f"{field}: control characters ({', '.join(controls)}) cannot be typed at the "
            "stack's login; use letters, digits, spaces and punctuation"
        ]
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
    if _controls(name):
        return [f"{field}: control characters cannot be part of a key name"]
    if len(name) > MAX_KEY_NAME:
        return [f"{field}: {len(name)} characters; the stack allows at most {MAX_KEY_NAME}"]
    return []


def key_reference_problems(reference: str, field: str = "ID") -> list[str]:
    """A key given where its id belongs: refused, naming the short id to give instead."""
    if not KEY_FORM.fullmatch(reference):
        return []
    short = reference[: reference.index("_", len("smtk_"))]
    return [
        f"{field}: that is the key itself, which a command line shows to `ps` and keeps in the "
        f"shell's history; give its short id instead: {short}"
    ]


def key_days_problems(days: int, field: str = "--expires-in-days") -> list[str]:
    if not 1 <= days <= MAX_KEY_DAYS:
        return [f"{field}: {days} is not valid; give 1 to {MAX_KEY_DAYS} days"]
    return []


def full_name_problems(name: str, field: str = "--full-name") -> list[str]:
    if _controls(name):
        return [f"{field}: control characters cannot be part of a name"]
    return []


def _scripts(text: str) -> list[str]:
    found: list[str] = []
    for char in text:
        if char.isalpha():
            script = unicodedata.name(char, "UNKNOWN").split(" ")[0]
            script = _SCRIPT_FAMILIES.get(script, script)
            if script not in found:
                found.append(script)
    return found


def mixed_script_warnings(username: str, email: str) -> list[str]:
    """Warnings (not refusals) for a username, an email's local part or one of its domain
    labels that mixes alphabets: `admin` spelled with a Cyrillic a (U+0430) reads as `admin`
    and is another account."""
    parts = [("username", username)]
    local, _, domain = email.rpartition("@")
    parts += [("email", local), *(("email", label) for label in domain.split("."))]
    warnings: list[str] = []
    for what, text in parts:
        scripts = _scripts(text)
        if len(scripts) > 1:
            letters = " and ".join(name.lower().capitalize() for name in scripts)
            warnings.append(
                f"The {what} {text!r} mixes {letters} letters: it can look like another "
                "account's name; check that it is the one you meant"
            )
    return warnings
