"""`wizard export kubernetes`: argv in, the export's Result rendered, an exit code out.

Only typer is imported here; the export itself (yaml, bcrypt) is imported when the command runs.
"""

from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_CODES_HELP = (
    "Exit codes: 0 written; 2 invalid or missing input (every problem listed, nothing "
    "written); 130 interrupted."
)

export_app = typer.Typer(
    help="Hand the configured deployment to another runtime.", no_args_is_help=True
)  # its help is said again by wizard.cli.main.EXPORT_HELP, for `wizard --help`


def _option(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text, show_default=False)


ProjectDir = Annotated[
    Path,
    typer.Option(
        "--project-dir",
        envvar="WIZARD_PROJECT_DIR",
        file_okay=False,
        help="The directory `wizard setup` configured. Default: the current one.",
    ),
]
JsonFlag = Annotated[
    bool, typer.Option("--json", envvar="WIZARD_JSON", help="Print one JSON object on stdout.")
]


@export_app.command("kubernetes", epilog=EXIT_CODES_HELP)
def kubernetes(
    out: Annotated[
        Path, _option("Directory to write (new, empty, or an earlier export).", "--out")
    ],
    image_registry: Annotated[
        str,
        _option("Registry for the built images (registry.example.org/team).", "--image-registry"),
    ],
    project_dir: ProjectDir = Path("."),
    tag: Annotated[
        str | None, _option("Image tag (default: the stack's VERSION).", "--tag")
    ] = None,
    namespace: Annotated[str | None, _option("Namespace to apply into.", "--namespace")] = None,
    storage_class: Annotated[
        str | None, _option("Storage class of the claims.", "--storage-class")
    ] = None,
    documents_claim: Annotated[
        list[str] | None,
        _option("Existing claim per document directory, in order.", "--documents-claim"),
    ] = None,
    documents_host_path: Annotated[
        bool,
        _option("Mount the document directories from the node's paths.", "--documents-host-path"),
    ] = False,
    host: Annotated[str | None, _option("Ingress host name for the web UI.", "--host")] = None,
    tls_secret: Annotated[
        str | None, _option("Existing TLS secret for the Ingress.", "--tls-secret")
    ] = None,
    admin: Annotated[str | None, _option("First administrator's username.", "--admin")] = None,
    admin_email: Annotated[
        str | None, _option("First administrator's email.", "--admin-email")
    ] = None,
    admin_password_file: Annotated[
        str | None, _option("Administrator's password file ('-' = stdin).", "--admin-password-file")
    ] = None,
    generate_password: Annotated[
        bool, _option("Generate the administrator's password; printed once.", "--generate-password")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Write the deployment as a kustomize directory (`kubectl apply -k DIR`)."""
    from wizard.export.run import Request, export_kubernetes

    request = Request(
        project_dir=project_dir, out=out, image_registry=image_registry, tag=tag,
        namespace=namespace, storage_class=storage_class,
        documents_claims=tuple(documents_claim or ()), documents_host_path=documents_host_path,
        host=host, tls_secret=tls_secret, admin=admin, admin_email=admin_email,
        admin_password_file=admin_password_file, generate_password=generate_password,
    )  # fmt: skip
    from wizard.cli.common import EXIT_OK, run_command
    from wizard.ui.console import render

    def body() -> int:
        render(export_kubernetes(request), json_output)
        return EXIT_OK

    run_command(body, json_output)
