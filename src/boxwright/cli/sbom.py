"""``boxwright sbom``: a thin shell over :func:`boxwright.sbom.image_sbom`.

``--format table`` (the default, as syft's) prints NAME, VERSION, TYPE; ``json`` is
boxwright's own form; ``spdx-json`` and ``cyclonedx-json`` are the standard documents,
printed exactly as written (validated first). Table cells are escaped: names come from the
image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.output import render_table
from boxwright.cli.params import choice_option, platform_option
from boxwright.cli.sanitize import echo
from boxwright.cli.transport_options import retry_options, side_options, transport_options

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform

EXAMPLES = """\b
Examples:
  boxwright sbom oci:./layout:latest
  boxwright sbom --format spdx-json docker://registry.example/app:1 > app.spdx.json
  boxwright sbom --format cyclonedx-json app:latest | jq '.components | length'
"""


@click.command("sbom", epilog=EXAMPLES, short_help="List the packages an image holds.")
@choice_option(
    "-f",
    "-o",
    "--format",
    "fmt",
    choices=["table", "json", "spdx-json", "cyclonedx-json"],
    default="table",
    help="Output: a table, boxwright's JSON, SPDX 2.3 JSON or CycloneDX 1.6 JSON.",
)
@platform_option("read out of an index")
@side_options("", "image's")
@retry_options()
@click.argument("reference")
def sbom_command(fmt: str, platform: Platform | None, reference: str, **registry: Any) -> None:
    """List the packages in the image REFERENCE names, from what package managers left in it:
    dpkg and apk databases, the sqlite rpm database, Python dist-info and egg-info, npm
    node_modules, Go build info in binaries (as syft does). The layers are read once, in
    place; nothing is unpacked."""
    from boxwright.sbom import image_sbom, render_sbom

    sbom = image_sbom(reference, platform, transport_options(registry))
    if fmt != "table":
        click.echo(render_sbom(sbom, fmt), nl=False)
        return
    render_table(["name", "version", "type"], [(p.name, p.version, p.type) for p in sbom.packages])
    for note in sbom.notes:
        echo(f"note: {note}", err=True)
