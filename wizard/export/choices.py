"""What the person chose for an export: the flags of `wizard export kubernetes`, validated."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Administrator:
    username: str
    email: str
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class Choices:
    """What the export's flags decide."""

    registry: str
    tag: str
    namespace: str | None = None
    storage_class: str | None = None
    documents_claims: tuple[str, ...] = ()
    documents_host_path: bool = False
    host: str | None = None
    tls_secret: str | None = None
    administrator: Administrator | None = None
