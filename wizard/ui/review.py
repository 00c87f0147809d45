"""What the person reviews: settings with secrets masked, and a redacted diff of every file.

Pure functions over values: the UI prints what these return.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache

from wizard.config.answers import Source
from wizard.config.embedding import Quantization
from wizard.config.envkeys import ENV_KEYS, SECRET_ENV_KEYS
from wizard.config.model import Deployment, PostgresMode
from wizard.config.resolve import Resolved
from wizard.config.settings import SETTINGS, Setting
from wizard.files.writer import PlannedFile
from wizard.plan.model import Plan
from wizard.result import Row
from wizard.stack.contract import is_contract_comment
from wizard.stack.envfile import EnvEntry, EnvParseError, export_prefix, parse_env
from wizard.stack.profile import profile

# .env keys whose values may appear in a diff; any other key's value (secrets, and keys a person
# added by hand, which may be API tokens) is redacted.
PUBLIC_KEYS = frozenset(ENV_KEYS) - SECRET_ENV_KEYS


def mask(secret: str) -> str:
    """Length and at most the last 4 characters, never more than a quarter of the secret."""
    shown = min(4, len(secret) // 4)
    tail = f", ends …{secret[-shown:]}" if shown else ""
    return f"•••••••• ({len(secret)} characters{tail})"


_RowMaker = Callable[[str, str, Sequence[str], str], Row]


def rows(resolved: Resolved, before: Mapping[str, str], after: Mapping[str, str]) -> list[Row]:
    """The review table. `before`/`after` are the .env values now and as planned."""
    config = resolved.config
    sources = resolved.sources
    first_install = not before

    def row(setting: str, value: str, keys: Sequence[str], answer: str) -> Row:
        changed = not first_install and any(before.get(k) != after.get(k) for k in keys)
        return Row(setting, value, source_label(sources.get(answer), answer), changed, tuple(keys))

    result = [
        row("Deployment type", config.deployment.value.upper(), ["USE_GPU"], "deployment"),
    ]
    if config.deployment is Deployment.GPU:
        ids = ", ".join(config.gpu_ids) or "all"
        result.append(row("GPUs", ids, ["USE_GPU", "CUDA_VISIBLE_DEVICES"], "gpu_ids"))
    result += _database_rows(resolved, row)
    for index, doc in enumerate(config.documents):
        where = f"{doc.source} → {doc.target} (read-only)"
        result.append(row("Documents" if index == 0 else "", where, ["DOCUMENT_PATHS"], "doc_dir"))
    # Rotated or given anew, a different secret invalidates every token signed with the old one.
    old_jwt = before.get("JWT_SECRET_KEY")
    jwt_note = " — signs every user out" if old_jwt and old_jwt != config.jwt_secret else ""
    result += [
        row("JWT secret", mask(config.jwt_secret) + jwt_note, ["JWT_SECRET_KEY"], "jwt_secret"),
        *(row(s.label, _shown(s, resolved, before), [s.env_key], s.key) for s in SETTINGS),
    ]
    for secret in profile().secrets:
        value = config.secrets.get(secret.key, "")
        note = ""
        if before.get(secret.key) and before.get(secret.key) != value:
            note = f" — {secret.rotation_warning}" if secret.rotation_warning else " — new"
        result.append(row(secret.label, mask(value) + note, [secret.key], secret.answer))
    return result


def _shown(setting: Setting, resolved: Resolved, before: Mapping[str, str]) -> str:
    value = setting.show(resolved.config.values[setting.key])
    if (
        before
        and setting.env_key not in before
        and not setting.required
        and resolved.sources.get(setting.key) is Source.EXISTING
    ):
        # Kept from an install without the key: what compose has given the services so far.
        value += f" (as until now: .env has no {setting.env_key}, compose's default)"
    config = resolved.config
    on_cpu = config.deployment is not Deployment.GPU
    if setting.key == "quantization" and on_cpu and value != Quantization.FLOAT32:
        value += " (a CPU deployment runs float32: the stack applies it on a GPU only)"
    return value


def _database_rows(resolved: Resolved, row: _RowMaker) -> list[Row]:
    config = resolved.config
    db = config.database
    if db.mode is PostgresMode.BUNDLED:
        where = f"{config.host_address}:{db.host_port}"
        result = [
            row("PostgreSQL", "bundled (service postgres)", ["POSTGRES_MODE"], "postgres_mode"),
            row(
                "PostgreSQL host port",
                where,
                ["POSTGRES_HOST_PORT", "BIND_ADDRESS"],
                "postgres_host_port",
            ),
        ]
    else:
        tls = db.sslmode.value + (f" (CA {db.sslrootcert})" if db.sslrootcert else "")
        result = [
            row(
                "PostgreSQL",
                f"external {db.host}:{db.port}",
                ["POSTGRES_MODE", "POSTGRES_HOST", "POSTGRES_PORT"],
                "postgres_host",
            ),
            row("TLS", tls, ["POSTGRES_SSLMODE", "POSTGRES_SSLROOTCERT"], "postgres_sslmode"),
        ]
    names = f"{db.name} / {db.user}"
    result.append(row("Database / user", names, ["POSTGRES_DB", "POSTGRES_USER"], "postgres_db"))
    note = " — will be changed on the server" if resolved.rotate_postgres_password else ""
    password = mask(db.password) + note
    result.append(row("PostgreSQL password", password, ["POSTGRES_PASSWORD"], "postgres_password"))
    if db.mode is PostgresMode.EXTERNAL:
        checked = "skipped (not validated)" if resolved.option("skip_db_check") else "connects"
        result.append(Row("Database check", checked, "", False))
    return result


def unreached(table: Sequence[Row], readers: Mapping[str, Sequence[str]]) -> list[str]:
    """The review's settings that reach no service of the stack (every .env key behind them is
    read by none): the review says so rather than implying they take effect."""
    return [
        row.setting
        for row in table
        if row.setting and row.keys and not any(readers.get(key) for key in row.keys)
    ]


def unreached_warning(plan: Plan, table: list[Row]) -> str | None:
    """Which settings of the review reach no service of the stack, if any do not."""
    project = plan.project
    if project.base_file is None:
        return None  # said by unmounted_documents_warning, naming the stack it expects
    missing = unreached(table, plan.readers)
    if not missing:
        return None
    return (
        f"These settings reach no service of {project.base_file.name}: {', '.join(missing)}. "
        "Its services do not read them; they are recorded in .env only."
    )


# Answers the current deployment keeps in the override's x-wizard block rather than in .env.
_FROM_OVERRIDE = frozenset({"doc_dir", "gpu_ids"})


def source_label(source: Source | None, answer: str) -> str:
    """Where an answer came from, as the review and `wizard show` say it ("" when unknown)."""
    if source is Source.EXISTING and answer in _FROM_OVERRIDE:
        return "current override"
    return "" if source is None else source.value


def redact_env(text: str, marked: frozenset[str] = frozenset()) -> str:
    """The .env with every value outside PUBLIC_KEYS replaced; keys in `marked` say 'changed'.

    Comments are redacted too, except the template's own: a person's `# old password: ...` is
    as secret as a value, and the diff reaches CI logs. A redacted comment reads `# <comment>`.
    """
    try:
        items = parse_env(text)
    except EnvParseError:
        return "(unreadable .env)\n"
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(_redacted_comments(item))
        elif item.key in PUBLIC_KEYS:
            # An inline comment (`LOG_LEVEL=INFO # ...`) is a person's text like any other.
            if item.text.count("#") > item.value.count("#"):
                newline = "\n" if item.text.endswith("\n") else ""
                head = export_prefix(item.text)
                out.append(f"{head}{item.key}={item.value} {REDACTED_COMMENT}{newline}")
            else:
                out.append(item.text)
        else:
            out.append(_redacted(item, changed=item.key in marked))
    return "".join(out)


REDACTED_COMMENT = "# <comment>"


def _redacted_comments(chunk: str) -> str:
    """A verbatim chunk of .env (comments, blank lines) with each comment line that is not one
    of the template's replaced by `# <comment>`, keeping its line break."""
    known = _template_comments()
    out: list[str] = []
    for line in chunk.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if (
            body.lstrip("\ufeff \t").startswith("#")
            and body not in known
            and not is_contract_comment(body)
        ):
            line = REDACTED_COMMENT + line[len(body) :]
        out.append(line)
    return "".join(out)


@cache
def _template_comments() -> frozenset[str]:
    from wizard.stack import resources

    lines = resources.template("env.template").splitlines()
    return frozenset(line for line in lines if line.lstrip().startswith("#"))


def _redacted(entry: EnvEntry, *, changed: bool) -> str:
    newline = "\n" if entry.text.endswith("\n") else ""
    label = "<secret, new value>" if changed else "<secret>"
    # A secret pasted on a line of its own (base64 ending in '=') parses as a name: show only
    # names that look like environment variables.
    key = entry.key if _ENV_NAME.fullmatch(entry.key) else "<name>"
    return f"{export_prefix(entry.text)}{key}={label}{newline}"


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+|[A-Z]{2,12}")


def diff(
    file: PlannedFile,
    current: str | None,
    before_env: Mapping[str, str],
    after_env: Mapping[str, str],
) -> str:
    """A unified diff of one planned file against what is on disk, secrets redacted."""
    old, new = current or "", file.content
    if file.secret:
        changed = frozenset(key for key, value in after_env.items() if before_env.get(key) != value)
        old, new = redact_env(old), redact_env(new, changed)
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"{file.name} (now)" if current is not None else "/dev/null",
        tofile=f"{file.name} (planned)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
