"""`wizard show`: the current configuration, secrets masked, and where each value came from."""

from __future__ import annotations

from pathlib import Path

from wizard.commands.result import Result, ReviewTable
from wizard.commands.rotation import KEPT, pending_password
from wizard.commands.setup import Request, layered, settings_json, unreached_warning
from wizard.config.answers import Answers, Source
from wizard.config.contract import documents_root
from wizard.config.model import InputError
from wizard.config.resolve import build
from wizard.files.project import load_project
from wizard.ui.review import rows


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
    request = Request(project_dir=root, cwd=root, inputs=inputs, interactive=False)
    resolved = build(
        layered(request, project),
        cwd=root,
        existing_documents=project.documents,
        documents_root=documents_root(project.base_services),
    )
    settings = settings_json(resolved)
    settings["sources"].pop("create_doc_dirs", None)
    table = rows(resolved, project.env, project.env)
    result = Result(settings, ReviewTable(table, f"Configuration of {root}"))
    if warning := unreached_warning(project, resolved.config, table):
        result.say("warn", warning)
    for missing in resolved.create_dirs:
        result.say("warn", f"The document directory {missing} does not exist.")
    if pending_password(project.env) is not None:
        result.say("warn", f"A PostgreSQL password rotation is unfinished: {KEPT}.")
    return result
