"""How the stack stores secrets: bcrypt (cost 12) for passwords, SHA-256 hex for API keys and
refresh tokens; and how the wizard makes new ones.

bcrypt is imported on first use: `wizard --help` must not pay for it.
"""

from __future__ import annotations

import hashlib
import secrets

BCRYPT_COST = 12
GENERATED_PASSWORD_BYTES = 24  # token_urlsafe: 32 characters
# A cost-12 hash of a random password nobody knows: checked for unknown users, so that a login
# for a name that does not exist takes as long as one for a name that does.
DUMMY_HASH = "$2b$12$90R7we1r2Z1eiPXIwEZ9we9eYI./dgsRu2RaWOe.h6f/V3OEIAyyG"


def hash_password(password: str) -> str:
    """bcrypt `$2b$12$...`, as passlib in the app verifies it. ValueError over 72 bytes."""
    import bcrypt

    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(BCRYPT_COST)).decode("ascii")


def check_password(password: str, hashed: str | None) -> bool:
    """Constant time for a given hash; a missing or malformed hash costs as much as a real one."""
    import bcrypt

    data = password.encode("utf-8", "surrogatepass")[:72]
    try:
        return bool(bcrypt.checkpw(data, (hashed or DUMMY_HASH).encode("ascii"))) and bool(hashed)
    except ValueError:  # not a bcrypt hash (another scheme, or damaged)
        bcrypt.checkpw(data, DUMMY_HASH.encode("ascii"))
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
