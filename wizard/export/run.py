"""`wizard export kubernetes`: check the flags, read the deployment, build, write, report.

Every input problem is listed at once (InputError, exit 2) before anything is written. The
administrator's password is hashed here with the accounts layer (bcrypt, cost 12); only the hash
goes into the Secret, and a generated password is shown once on stdout.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard.errors import InputError
from wizard.export import kustomize
from wizard.export.choices import Administrator, Choices
from wizard.result import MessageKind, Result

if TYPE_CHECKING:
    from wizard.export.deployment import Deployment
    from wizard.export.kubernetes import Manifests
    from wizard.result import Result

_REGISTRY = re.compile(
    r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
_LOOPBACK = ("localhost", "127.", "::1", "0:0:0:0:0:0:0:1")


@dataclass(frozen=True)
class Request:
    project_dir: Path
    out: Path
    image_registry: str
    tag: str | None = None
    namespace: str | None = None
    storage_class: str | None = None
    documents_claims: tuple[str, ...] = ()
    documents_host_path: bool = False
    host: str | None = None
    tls_secret: str | None = None
    admin: str | None = None
    admin_email: str | None = None
    admin_password_file: str | None = None
    generate_password: bool = False


def _flag_problems(request: Request) -> list[str]:
    problems = []
    registry = request.image_registry
    if "://" in registry:
        problems.append(
            f"--image-registry: {registry!r} has a scheme; give the registry as images name it "
            "(registry.example.org/team), without https://"
        )
    elif not _REGISTRY.fullmatch(registry):
        problems.append(
            f"--image-registry: {registry!r} is not a registry name; give lower-case "
            "HOST[:PORT][/PATH], such as registry.example.org/team"
        )
    if request.tag is not None and not _TAG.fullmatch(request.tag):
        problems.append(f"--tag: {request.tag!r} is not an image tag (letters, digits, _ . -)")
    named = [
        ("--namespace", request.namespace, _LABEL),
        ("--tls-secret", request.tls_secret, _SUBDOMAIN),
    ]
    named += [
        ("--storage-class", request.storage_class, _SUBDOMAIN),
        ("--host", request.host, _SUBDOMAIN),
    ]
    named += [("--documents-claim", claim, _SUBDOMAIN) for claim in request.documents_claims]
    for flag, value, pattern in named:
        if value is not None and not pattern.fullmatch(value):
            problems.append(
                f"{flag}: {value!r} is not a Kubernetes name; use lower-case letters, digits "
                "and '-' (and '.' except in a namespace)"
            )
    if request.tls_secret and not request.host:
        problems.append("--tls-secret: it serves an Ingress, which needs --host NAME as well")
    if request.documents_claims and request.documents_host_path:
        problems.append("--documents-claim and --documents-host-path: give one of them")
    elif not request.documents_claims and not request.documents_host_path:
        problems.append(
            "--documents-claim NAME (one per document directory) or --documents-host-path: "
            "say where the pods find the documents"
        )
    return problems


def _deployment_problems(request: Request, deployment: Deployment) -> list[str]:
    problems = []
    count = len(deployment.documents)
    if request.documents_claims and len(request.documents_claims) != count:
        problems.append(
            f"--documents-claim: {len(request.documents_claims)} given for {count} document "
            f"director{'y' if count == 1 else 'ies'}; give one claim per directory, in order"
        )
    host = deployment.env.get("POSTGRES_HOST", "").strip("[]").lower()
    if deployment.external_database and host.startswith(_LOOPBACK):
        problems.append(
            f"POSTGRES_HOST: the external server is at {host}, the host's loopback, which pods "
            "cannot reach; run `wizard setup --postgres-host` with an address the cluster reaches"
        )
    if request.tag is None and deployment.version is None:
        problems.append(
            f"--tag: {deployment.root} has no VERSION file to take the tag from; give --tag"
        )
    return problems


def _admin_problems(request: Request) -> tuple[list[str], str | None]:
    """Problems with the administrator flags, and the password read from its file."""
    from wizard.accounts.rules import email_problems, password_problems, username_problems

    given = [request.admin, request.admin_email, request.admin_password_file]
    if request.admin is None and not any(given[1:]) and not request.generate_password:
        return [], None
    problems = []
    if request.admin is None:
        problems.append("--admin: the administrator's username is needed with --admin-email")
    else:
        problems += username_problems(request.admin, "--admin")
    if not request.admin_email:
        problems.append("--admin-email: the administrator's email address is needed")
    else:
        problems += email_problems(request.admin_email, "--admin-email")
    password = None
    if request.admin_password_file is not None and request.generate_password:
        problems.append("--admin-password-file and --generate-password: give one of them")
    elif request.admin_password_file is not None:
        from wizard.config.answers import read_secret_file

        password = read_secret_file(request.admin_password_file, "--admin-password-file")
        problems += password_problems(password, "--admin-password-file")
    elif not request.generate_password:
        problems.append("--admin-password-file FILE or --generate-password: one is needed")
    return problems, password


def _administrator(
    request: Request, password: str | None, out: Path
) -> tuple[Administrator | None, str | None]:
    """The administrator to create and the password to show (a generated one). A password that
    verifies against the previous export's hash keeps that hash: re-exports stay identical."""
    from wizard.export.pods import ADMIN_EMAIL, ADMIN_HASH, ADMIN_USERNAME

    stack_config = kustomize.previous(out, _object_file("ConfigMap", "config"))
    stack_secret = kustomize.previous(out, _object_file("Secret", "secrets"))
    config = stack_config.get("data") or {}
    old_hash = (stack_secret.get("stringData") or {}).get(ADMIN_HASH)
    old = None
    if config.get(ADMIN_USERNAME) and old_hash:
        old = Administrator(config[ADMIN_USERNAME], config.get(ADMIN_EMAIL, ""), old_hash)
    if request.admin is None or request.admin_email is None:
        return old, None
    from wizard.accounts.hashing import check_password, generate_password, hash_password

    shown = None
    if password is None:
        password = shown = generate_password()
    same = old is not None and (old.username, old.email) == (request.admin, request.admin_email)
    if same and old is not None and shown is None and check_password(password, old.password_hash):
        return old, None
    return Administrator(request.admin, request.admin_email, hash_password(password)), shown


def _object_file(kind: str, suffix: str) -> str:
    from wizard.stack.profile import profile

    return kustomize.file_name({"kind": kind, "metadata": {"name": f"{profile().stack}-{suffix}"}})


def export_kubernetes(request: Request) -> Result:
    """Write the kustomize directory. InputError lists every problem; nothing is written then."""
    from wizard.export.deployment import load_deployment
    from wizard.export.kubernetes import build

    problems = _flag_problems(request)
    admin_problems, password = _admin_problems(request)
    problems += admin_problems
    deployment = None
    try:
        deployment = load_deployment(request.project_dir.resolve())
    except InputError as exc:
        problems += exc.problems
    if deployment is not None:
        problems += _deployment_problems(request, deployment)
    problems += kustomize.out_problems(request.out)
    if problems or deployment is None:
        raise InputError(problems)
    administrator, shown = _administrator(request, password, request.out)
    choices = Choices(
        registry=request.image_registry,
        tag=request.tag or str(deployment.version),
        namespace=request.namespace,
        storage_class=request.storage_class,
        documents_claims=request.documents_claims,
        documents_host_path=request.documents_host_path,
        host=request.host,
        tls_secret=request.tls_secret,
        administrator=administrator,
    )
    manifests = build(deployment, choices)
    planned = kustomize.files(manifests.objects, request.namespace)
    changed, others = kustomize.write(request.out, planned)
    return _outcome(
        request, deployment, manifests, [f.name for f in planned], changed, others, shown
    )


def _build_commands(deployment: Deployment, manifests: Manifests) -> list[str]:
    """`docker build` once per distinct build (with a tag for each service built from it), then
    `docker push` for each image."""
    builds: dict[tuple[str, str, str], list[str]] = {}
    for name, image in manifests.images.items():
        spec = deployment.services[name].build or {}
        root = deployment.root / str(spec.get("context", "."))
        key = (str(root), str(root / str(spec.get("dockerfile", "Dockerfile"))))
        builds.setdefault((*key, str(spec.get("target", ""))), []).append(image)
    lines = []
    for (context, dockerfile, target), images in builds.items():
        words = ["docker", "build", "-f", dockerfile, *(["--target", target] if target else [])]
        words += [part for image in images for part in ("-t", image)] + [context]
        lines.append(shlex.join(words))
    lines += [shlex.join(["docker", "push", image]) for image in manifests.images.values()]
    return lines


def _outcome(
    request: Request,
    deployment: Deployment,
    manifests: Manifests,
    listed: list[str],
    changed: list[str],
    others: list[str],
    shown: str | None,
) -> Result:
    commands = _build_commands(deployment, manifests)
    data: dict[str, Any] = {
        "out": str(request.out),
        "files": listed,
        "written": changed,
        "images": dict(manifests.images),
        "commands": commands,
        "warnings": list(manifests.warnings),
    }
    outcome = Result(data=data)
    if shown is not None:
        data["password"] = shown
        outcome.output.append(shown)
        outcome.messages.append(
            (MessageKind.INFO, "The administrator's generated password is printed above, once; "
             "only its hash is in the Secret.")
        )  # fmt: skip
    outcome.output += commands
    for warning in manifests.warnings:
        outcome.messages.append((MessageKind.WARN, warning))
    if others:
        outcome.messages.append(
            (
                MessageKind.WARN,
                f"{request.out}: left in place, not part of this export: {', '.join(others)}",
            )
        )
    unchanged = "" if changed else " (every file unchanged)"
    outcome.messages.append(
        (MessageKind.SUCCESS, f"Wrote {request.out}{unchanged}; apply it with `kubectl apply -k "
         f"{request.out}` once the images above are pushed.")
    )  # fmt: skip
    return outcome
