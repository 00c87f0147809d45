"""`wizard show`: the current configuration, secrets masked, and where each value came from."""

from __future__ import annotations

from pathlib import Path

from wizard.commands.rotation import KEPT, pending_password
from wizard.commands.setup_report import settings_json
from wizard.config.answers import Answers, Source
from wizard.config.resolve import build
from wizard.errors import InputError
from wizard.files.project import load_project
from wizard.plan.model import make_plan
from wizard.result import MessageKind, Result, ReviewTable
from wizard.ui.review import rows, unreached_warning


def show(project_dir: Path) -> Result:
    """The configuration as a Result: its settings for --json, the review table, warnings.
    Raises InputError when the directory has no configuration."""
    root = project_dir.resolve()
    project = load_project(root)
    if not project.configured:
        raise InputError([f"--project-dir: {root} has no .env; run `wizard setup` first"])
    # The current deployment exactly as a re-run sees it, with nothing given on top (flags and
    # WIZARD_* variables describe a run, not the configuration). A document directory that has
    # gone is reported rather than a reason to show nothing.
    inputs = Answers([(Source.DEFAULT, {"create_doc_dirs": True})])
    resolved = build(
        project.layered(inputs),
        cwd=root,
        existing_documents=project.documents,
        documents_root=project.stack.documents_root,
    )
    settings = settings_json(resolved)
    settings["sources"].pop("create_doc_dirs", None)
    table = rows(resolved, project.env, project.env)
    result = Result(settings, ReviewTable(table, f"Configuration of {root}"))
    if warning := unreached_warning(make_plan(project, resolved), table):
        result.say(MessageKind.WARN, warning)
    for missing in resolved.create_dirs:
        result.say(MessageKind.WARN, f"The document directory {missing} does not exist.")
    if pending_password(project.env) is not None:
        result.say(MessageKind.WARN, f"A PostgreSQL password rotation is unfinished: {KEPT}.")
    return result
