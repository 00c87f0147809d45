"""What a configuration does that a person may not expect: one sentence each, said on stderr
(without a terminal the log must say what the review would have shown)."""

from __future__ import annotations

import ipaddress

from wizard.config.model import Config, PostgresMode, loopback_host_warning
from wizard.config.resolve import is_placeholder
from wizard.files.project import Project
from wizard.plan.model import Plan
from wizard.plan.override import OVERRIDE_HEADER
from wizard.result import MessageKind
from wizard.stack.compose import OVERRIDE_NAME
from wizard.stack.profile import Role


def stack_warnings(plan: Plan, *, interactive: bool) -> list[str]:
    """What this configuration does that a person may not expect, one sentence each."""
    project, resolved = plan.project, plan.resolved
    config, env = resolved.config, project.env
    db = config.database
    found: list[str] = []
    bundled = db.mode is PostgresMode.BUNDLED
    if bundled and env.get("POSTGRES_MODE", "bundled") == PostgresMode.BUNDLED.value:
        for key, value in (("POSTGRES_DB", db.name), ("POSTGRES_USER", db.user)):
            if env.get(key) and env[key] != value:
                found.append(
                    f"{key} changes from {env[key]!r} to {value!r}: the bundled PostgreSQL "
                    "creates its database and role only when its data volume is first created, "
                    "so create them on the server too, or the stack cannot log in."
                )
    if db.mode is PostgresMode.EXTERNAL and (warning := loopback_host_warning(db.host)):
        found.append(warning)
    override = project.override_text
    if override is not None and not override.startswith(OVERRIDE_HEADER.splitlines()[0]):
        found.append(
            f"{OVERRIDE_NAME} was not written by the wizard: it is replaced (a backup is kept); "
            "keep your own settings in compose.override.yaml, which the wizard leaves alone."
        )
    if not interactive:
        # At a terminal the review says these; without one, the log must.
        if ipaddress.ip_address(config.bind_address).is_unspecified:
            found.append(
                f"Ports bind to {config.bind_address}: every service the stack publishes is "
                "reachable from the network."
            )
        for secret in project.stack.profile.secrets:
            if secret.key in resolved.rotated and secret.rotation_warning:
                found.append(f"{secret.key} is rotated: {secret.rotation_warning}.")
    return found


def placeholder_notes(plan: Plan) -> list[tuple[MessageKind, str]]:
    """An install made from the stack's example file may still hold its placeholders."""
    resolved = plan.resolved
    notes = [
        (MessageKind.INFO, f"{key} in .env was the stack example's placeholder: the wizard "
         "generated one.")
        for key in resolved.replaced_placeholders
    ]  # fmt: skip
    placeholder = is_placeholder(plan.project.env.get("POSTGRES_PASSWORD"))
    if placeholder and not is_placeholder(resolved.config.database.password):
        notes.append((
            MessageKind.INFO,
            "POSTGRES_PASSWORD in .env was the stack example's placeholder: the password "
            "given replaces it.",
        ))  # fmt: skip
    elif placeholder and not resolved.rotate_postgres_password:
        notes.append((
            MessageKind.WARN,
            "POSTGRES_PASSWORD in .env is the stack example's placeholder. It is kept: a "
            "database volume created with it knows only that one. Change it on the server with "
            "`wizard setup --rotate-postgres-password`.",
        ))  # fmt: skip
    return notes


def unmounted_documents_warning(project: Project, config: Config) -> str | None:
    """Why the document directories would be mounted into no service; None when one reads them."""
    if not config.documents or project.stack.present(Role.DOCUMENTS):
        return None
    names = ", ".join(project.stack.profile.role(Role.DOCUMENTS)) or "none"
    if project.base_file is None:
        return (
            f"No service of the base compose file reads the documents: {project.root} has no "
            "base compose file (compose.yaml, docker-compose.yml, ...), so the document "
            "directories are recorded but mounted nowhere. Run the wizard in the directory of "
            f"the {project.stack.profile.stack} stack's docker-compose.yml (templates/stack.yaml "
            "names the "
            f"services that read them: {names})."
        )
    return (
        f"No service of the base compose file reads the documents: {project.base_file.name} "
        f"defines none of the services templates/stack.yaml names for them ({names}), so the "
        "document directories are recorded but mounted nowhere. Name the stack's services "
        "under roles.documents in templates/stack.yaml."
    )
