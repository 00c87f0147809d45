"""The five interactive steps: what to ask, with which defaults and rules.

A step asks only what the flags, WIZARD_* variables and the answers file left open; the current
.env and the defaults pre-fill the prompts. Steps return answers (a dict for the PROMPT layer);
they never write files. Validation uses the same functions as non-interactive mode.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from pathlib import Path

from wizard.config.answers import Source
from wizard.config.documents import document_dir_problem
from wizard.config.model import (
    Deployment,
    Environment,
    PostgresMode,
    SslMode,
    check_jwt_secret,
    check_postgres_password,
    generate_secret,
    is_loopback,
    loopback_host_warning,
    parse_bind_address,
    parse_bool,
    parse_choice,
)
from wizard.config.settings import SETTINGS, by_key
from wizard.ui import prompter
from wizard.ui.models import ask_models
from wizard.ui.secrets import SecretChoice, ask_secret, switches_server_now
from wizard.ui.session import (
    EXTERNAL_SERVER,
    HOST_PORT,
    POSTGRES_MODE,
    SSLMODE,
    STEP_TITLES,
    Session,
    ask,
    env_safe,
    question_of,
)

# --- step 1 ------------------------------------------------------------------------------------


def step_deployment(s: Session) -> None:
    if not s.fixed("deployment"):
        _ask_deployment(s)
    ask_models(s)


def _ask_deployment(s: Session) -> None:
    detection = s.detect_gpus()
    s.ui.info(f"GPU detection: {detection.summary()}")
    from wizard.host.docker import DockerState, docker_status

    docker = docker_status()
    (s.ui.info if docker.state is DockerState.READY else s.ui.warn)(f"Docker: {docker.message}")
    gpu_label = "GPU: run the models on NVIDIA GPUs"
    if not detection.available:
        gpu_label += " (none detected here; choose only if this host will have one)"
    default = s.value("deployment")
    if not s.existing("deployment") and s.answered.get("deployment") is None:
        default = Deployment.GPU.value if detection.available else Deployment.CPU.value
    s.answered["deployment"] = prompter.select(
        "Deployment type",
        [("CPU: runs on any host", Deployment.CPU.value), (gpu_label, Deployment.GPU.value)],
        default=default,
    )


# --- step 2 ------------------------------------------------------------------------------------


def step_postgres(s: Session) -> None:
    ask(s, POSTGRES_MODE)
    while True:
        if s.value("postgres_mode") == PostgresMode.EXTERNAL.value:
            _ask_external(s)
        else:
            ask(s, HOST_PORT)
        _ask_password(s)
        if s.value("postgres_mode") != PostgresMode.EXTERNAL.value or s.check_database is None:
            return
        if _external_connects(s):
            return


def _ask_external(s: Session) -> None:
    for question in EXTERNAL_SERVER:
        ask(s, question)
    if warning := loopback_host_warning(str(s.value("postgres_host") or "").strip("[]")):
        s.ui.warn(warning)
    if not s.fixed("postgres_sslmode"):
        current = s.value("postgres_sslmode") or SslMode.PREFER.value
        # "disable" is the bundled server's setting (plain TCP inside the compose network), no
        # default for a server just switched to external; an external server's own is kept.
        was_external = s.answers.layer(Source.EXISTING).get("postgres_mode") == (
            PostgresMode.EXTERNAL.value
        )
        if current == SslMode.DISABLE.value and not (
            was_external or "postgres_sslmode" in s.answered
        ):
            current = SslMode.PREFER.value
        ask(s, SSLMODE, default=current)
    # A flag may say "VERIFY-FULL" or something invalid: parse it as the model does (an invalid
    # value is reported by the connection check and the final validation, not by a crash).
    sslmode, _ = parse_choice(SslMode, s.value("postgres_sslmode") or "", "sslmode")
    if sslmode is not None and sslmode.verifies and not s.fixed("postgres_sslrootcert"):
        s.answered["postgres_sslrootcert"] = prompter.path(
            "CA certificate file (PEM) that signed the server's certificate",
            default=str(s.value("postgres_sslrootcert") or ""),
            validate=_file_rule,
        ).strip()


def _file_rule(text: str) -> str | None:
    if os.path.isfile(os.path.expanduser(text.strip())):
        return None
    return (
        f"CA certificate: {text.strip() or '(empty)'} is not a file; give the path of the PEM file"
    )


def _external_connects(s: Session) -> bool:
    """Connect before going on; on failure offer retry, correction or continuing unvalidated."""
    from wizard.host.db_values import DbProblem

    assert s.check_database is not None
    # What "Change the connection settings" would ask again.
    keys = [q.key for q in EXTERNAL_SERVER] + [SSLMODE.key, "postgres_password"]
    sslmode, _ = parse_choice(SslMode, s.value("postgres_sslmode") or "", "sslmode")
    if sslmode is not None and sslmode.verifies:
        keys.append("postgres_sslrootcert")
    while True:
        with s.ui.status("Connecting to the database"):
            result = s.check_database(s.current)
        s.password_refused = not result.ok and result.problem is DbProblem.AUTH
        if result.ok:
            s.ui.success(f"Connected: PostgreSQL {result.server_version}, can create tables.")
            s.answered["skip_db_check"] = False
            return True
        s.ui.problem(result.message)
        choices = [
            ("Change the connection settings", "change"),
            ("Try again", "retry"),
            ("Continue without validation (shown in the review)", "skip"),
        ]
        if all(s.fixed(key) for key in keys):
            # Flags (or the environment, or the answers file) fixed every setting for this run:
            # nothing could be changed here, so do not offer it.
            choices = choices[1:]
        action = prompter.select("What now?", choices, default=choices[0][1])
        if action == "skip":
            s.answered["skip_db_check"] = True
            return True
        if action == "change":
            return False


def _ask_password(s: Session) -> None:
    if s.value("postgres_mode") == PostgresMode.EXTERNAL.value:
        _ask_server_password(s)
        return
    ask_secret(
        s,
        key="postgres_password",
        what="PostgreSQL password",
        env_key="POSTGRES_PASSWORD",
        rule=check_postgres_password,
        minimum="16",
    )


def _ask_server_password(s: Session) -> None:
    """An external server already has its password: ask for it (once; the connection proves it).

    A generated one could never log in, so none is offered.
    """
    key = "postgres_password"
    if s.fixed(key):
        return
    s.generated.pop(key, None)  # one generated for the bundled server: no external one's
    current = s.current.get(key)
    if current is not None and current.source is Source.EXISTING and switches_server_now(s):
        current = None  # the bundled server's password: it cannot log in to this one
    rotate_flag = parse_bool(s.value("rotate_postgres_password"), "rotate")[0]
    if s.fixed("rotate_postgres_password") and rotate_flag and current is not None:
        # --rotate-postgres-password: the current password logs in, and a generated one
        # replaces it on the server (ALTER ROLE) before .env changes. Nothing to ask.
        s.generated[key] = generate_secret()
        return
    if current is not None:
        action = prompter.select(
            "PostgreSQL password",
            [
                ("Keep the current password", SecretChoice.KEEP),
                ("Enter the server's password", SecretChoice.ENTER),
            ],
            default=SecretChoice.ENTER if s.password_refused else SecretChoice.KEEP,
        )
        if action is SecretChoice.KEEP:
            return
    user = s.value("postgres_user")
    s.answered[key] = prompter.secret(
        f"Password of role {user} on the server (hidden)",
        validate=env_safe(
            lambda text, label: None if text else f"{label}: enter the role's password",
            "PostgreSQL password",
            "POSTGRES_PASSWORD",
        ),
    )
    s.answered["rotate_postgres_password"] = False


# --- step 3 ------------------------------------------------------------------------------------


def step_documents(s: Session) -> None:
    if s.fixed("doc_dir"):
        return
    current = [str(item) for item in (s.value("doc_dir") or [])]
    create = bool(s.value("create_doc_dirs"))
    while True:
        if current:
            s.ui.info("Document directories: " + "; ".join(current))
            action = prompter.select(
                "Document directories",
                [
                    ("Done: use these directories", "done"),
                    ("Add a directory", "add"),
                    ("Remove a directory", "remove"),
                ],
                default="done",
            )
        else:
            action = "add"
        if action == "done":
            if _listed_directories_settled(s, current, create):
                create = create or any(not Path(item).exists() for item in current)
                break
            continue
        if action == "remove":
            gone = prompter.select(
                "Remove which?", [(item, item) for item in current], default=current[-1]
            )
            current.remove(gone)
            continue
        entered = prompter.path(
            "Directory with documents to search",
            validate=lambda text: None if text.strip() else "Enter a directory path",
        ).strip()
        path = _absolute(entered, s.cwd)
        problem = document_dir_problem(path, "document directory", create=True)
        if problem:
            s.ui.problem(problem)
            continue
        # Before offering to create it: a missing directory typed twice is still a duplicate.
        if any(os.path.realpath(item) == os.path.realpath(path) for item in current):
            s.ui.info(f"{path} is already in the list.")
            continue
        if not path.exists():
            if not prompter.confirm(f"{path} does not exist. Create it?", default=True):
                continue
            create = True
        elif s.preview is not None:
            s.preview(path)
        current.append(str(path))
    s.answered["doc_dir"] = current
    s.answered["create_doc_dirs"] = create


def _listed_directories_settled(s: Session, current: list[str], create: bool) -> bool:
    """False when a listed directory cannot be used as it is: one may have gone since the last
    run. Settled here, where it can be removed or created, rather than by the final validation
    after every other question."""
    unusable = [
        problem
        for item in current
        if (problem := document_dir_problem(Path(item), "document directory", create=True))
    ]
    for problem in unusable:
        s.ui.problem(problem)
    if unusable:
        return False
    missing = [item for item in current if not Path(item).exists()]
    if not missing or create:
        return True
    return prompter.confirm(
        f"{'; '.join(missing)} {'does' if len(missing) == 1 else 'do'} not exist. Create "
        f"{'it' if len(missing) == 1 else 'them'}?",
        default=True,
    )


def _absolute(text: str, cwd: Path) -> Path:
    path = Path(os.path.expanduser(text))
    return Path(os.path.normpath(path if path.is_absolute() else cwd / path))


# --- step 4 ------------------------------------------------------------------------------------


def step_security(s: Session) -> None:
    ask_secret(
        s,
        key="jwt_secret",
        what="JWT secret",
        env_key="JWT_SECRET_KEY",
        rule=check_jwt_secret,
        minimum="32",
    )
    if s.answered.get("rotate_jwt_secret"):
        s.ui.warn("Rotating the JWT secret signs every signed-in user out.")
    for setting in SETTINGS:
        if setting.asked and setting.question:
            current = str(s.value(setting.key) or "")
            # A choice's default must be one of its values (LOG_LEVEL=info in a .env is INFO).
            values = {value.upper(): value for _, value in setting.choices}
            ask(s, question_of(setting), default=values.get(current.upper(), current))
    if not s.fixed("bind_address"):
        _ask_bind_address(s)
    _ask_environment(s)


def _ask_environment(s: Session) -> None:
    """Production or development; development on an address other than loopback shows the
    web UI's exceptions to the network, which the person is told."""
    ask(s, question_of(by_key()["environment"]))
    address = str(s.value("bind_address"))
    if s.value("environment") == Environment.DEVELOPMENT and not is_loopback(address):
        s.ui.warn(
            f"Development mode on {address}: the web UI's error responses show the exception "
            "to anyone who can reach it; choose production for a deployment others use."
        )


def _ask_bind_address(s: Session) -> None:
    current = str(s.value("bind_address"))
    choices = [
        ("127.0.0.1: this host only (recommended)", "127.0.0.1"),
        ("0.0.0.0: every network interface (reachable from the network)", "0.0.0.0"),
        ("Another address of this host", "other"),
    ]
    known = {value for _, value in choices}
    address = prompter.select(
        "Published ports bind to", choices, default=current if current in known else "other"
    )
    if address == "other":
        address = prompter.text(
            "Bind address",
            default="" if current in known else current,
            validate=lambda text: parse_bind_address(text, "bind address")[1],
        ).strip()
    if ipaddress.ip_address(address).is_unspecified:  # 0.0.0.0, or :: typed as another address
        s.ui.warn(
            f"{address} publishes the web UI, the API and PostgreSQL on every network interface: "
            "make sure a firewall protects them."
        )
    s.answered["bind_address"] = address


STEP_FUNCTIONS: tuple[Callable[[Session], None], ...] = (
    step_deployment,
    step_postgres,
    step_documents,
    step_security,
)


def run_step(s: Session, number: int) -> None:
    """Step `number` (1 to 4) under its header."""
    s.ui.step_header(number, len(STEP_TITLES), STEP_TITLES[number - 1])
    STEP_FUNCTIONS[number - 1](s)


def review_choices() -> list[tuple[str, str]]:
    choices = [("Write the configuration", "write")]
    choices += [
        (f"Change step {number}: {title}", str(number))
        for number, title in enumerate(STEP_TITLES[:-1], start=1)
    ]
    choices.append(("Cancel: write nothing", "cancel"))
    return choices
