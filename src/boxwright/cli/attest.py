"""``boxwright referrers`` and ``boxwright artifact attach|fetch``: thin shells over
:mod:`boxwright.attest` (what ``oras discover``, ``oras attach`` and ``oras pull`` do)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from boxwright.cli.output import render_table
from boxwright.cli.params import format_option, key_values
from boxwright.cli.transport_options import retry_options, side_options, transport_options

REFERRERS_EXAMPLES = """\b
Examples:
  boxwright referrers docker://localhost:5000/app:1
  boxwright referrers --artifact-type application/spdx+json --format json docker://reg/app:1
  boxwright referrers oci:./layout:latest
  boxwright referrers localhost/app:1
"""

ATTACH_EXAMPLES = """\b
Examples:
  boxwright artifact attach --artifact-type application/spdx+json docker://reg/app:1 app.spdx.json
  boxwright artifact attach --artifact-type application/vnd.example \\
      --annotation org.example.k=v docker://reg/app:1 notes.txt:text/plain
  boxwright artifact attach --artifact-type application/vnd.example oci:./layout:1 notes.txt
  boxwright artifact fetch docker://reg/app@sha256:... ./out
  boxwright artifact fetch oci:./layout@sha256:... ./out
"""


@click.command("referrers", epilog=REFERRERS_EXAMPLES, short_help="List an image's referrers.")
@click.option("--artifact-type", default="", metavar="TYPE", help="Only artifacts of TYPE.")
@format_option()
@side_options("", "image's")
@retry_options()
@click.argument("reference")
def referrers_command(artifact_type: str, fmt: str, reference: str, **registry: Any) -> None:
    """List the artifacts that name the image REFERENCE as their subject (OCI 1.1
    referrers): through the registry's referrers API, else the referrers tag schema; in an
    OCI layout, its index.json; in the store, its referrers list."""
    from boxwright.attest import list_referrers

    subject, found = list_referrers(reference, artifact_type, transport_options(registry))
    if fmt == "json":
        doc = {
            "subject": {
                "mediaType": subject.media_type,
                "digest": str(subject.digest),
                "size": subject.size,
            },
            "referrers": [r.to_dict() for r in found],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    render_table(
        ["digest", "artifact type", "size"],
        [(str(r.digest), r.artifact_type, r.size) for r in found],
    )


@click.group("artifact", short_help="Attach files to an image and fetch them (as oras).")
def artifact_group() -> None:
    """Put arbitrary files next to an image as an OCI 1.1 artifact, and get them back."""


def _annotation(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> Any:
    return key_values(values, "--annotation")


@artifact_group.command("attach", epilog=ATTACH_EXAMPLES)
@click.option("--artifact-type", required=True, metavar="TYPE", help="The artifact's type.")
@click.option(
    "--annotation", "annotations", multiple=True, callback=_annotation, metavar="KEY=VALUE",
    help="An annotation of the artifact manifest (repeatable).",
)  # fmt: skip
@side_options("", "image's")
@retry_options()
@click.argument("reference")
@click.argument("files", nargs=-1, required=True)
def attach_command(
    artifact_type: str,
    annotations: dict[str, str],
    reference: str,
    files: tuple[str, ...],
    **registry: Any,
) -> None:
    """Attach FILES (each FILE or FILE:MEDIATYPE; the default media type is
    application/octet-stream) to the image REFERENCE names; print the artifact's digest."""
    from boxwright.attest import ArtifactFile, attach_artifact

    items = []
    for spec in files:
        path, sep, media_type = spec.rpartition(":") if ":" in spec else (spec, "", "")
        if not sep or "/" not in media_type:
            path, media_type = spec, "application/octet-stream"
        items.append(ArtifactFile(Path(path), media_type, Path(path).name))
    referrer = attach_artifact(
        reference, artifact_type, items, annotations, transport_options(registry)
    )
    click.echo(str(referrer.digest))


@artifact_group.command("fetch")
@side_options("", "artifact's")
@retry_options()
@click.argument("reference")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def fetch_command(reference: str, directory: Path, **registry: Any) -> None:
    """Write the files of the artifact REFERENCE names into DIRECTORY, each under its title;
    print their paths."""
    from boxwright.attest import fetch_artifact

    for path in fetch_artifact(reference, directory, transport_options(registry)):
        click.echo(str(path))
