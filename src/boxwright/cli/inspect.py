"""``boxwright inspect``: a thin shell over :mod:`boxwright.inspect`, printing as skopeo does.

``--raw`` writes the top manifest's bytes exactly (no newline added); ``--config`` the config
as skopeo shows it (``--config --raw``: the config blob exactly); otherwise the summary as
indented JSON, or filled into ``--format TEMPLATE`` (the supported template forms are listed
in :func:`boxwright.inspect.render_template`). What a template prints is text for a person:
each value it fills in is escaped (:mod:`boxwright.cli.sanitize`), ``{{json ...}}`` values
as JSON escapes; JSON output, ``--raw`` and ``--config`` are data and printed exactly.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.params import platform_option, template_format_option
from boxwright.cli.sanitize import escape_json, escape_message
from boxwright.cli.transport_options import retry_options, side_options, transport_options

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform

EXAMPLES = """\b
Examples:
  boxwright inspect oci:./layout:latest
  boxwright inspect --raw oci-archive:app.tar
  boxwright inspect --config docker-archive:app.tar
  boxwright inspect --format '{{.Digest}} {{.Os}}/{{.Architecture}}' dir:/tmp/app
  boxwright inspect --format '{{json .Labels}}' oci:./layout:latest
  boxwright inspect --tls-verify=false docker://localhost:5000/app:1

\b
--format forms: {{.Field}}, {{.Labels.KEY}}, {{index .Labels "KEY"}}, {{json .Field}},
{{json .}}; fields: Name Digest RepoTags Created DockerVersion Labels Architecture Variant
Os Layers LayersData Env.
"""


@click.command("inspect", epilog=EXAMPLES, short_help="Describe an image from any reference.")
@click.option(
    "--raw",
    is_flag=True,
    help="Print the top manifest (or with --config the config) exactly as stored.",
)
@click.option("--config", "show_config", is_flag=True, help="Print the image config.")
@template_format_option(
    "-f", help="Output format: json (the default) or a Go-template-like TEMPLATE."
)
@platform_option("describe out of an index")
@click.option("-n", "--no-tags", is_flag=True, help="Do not list the repository's tags (registry).")
@side_options("", "image's")
@retry_options()
@click.argument("reference")
def inspect_command(
    raw: bool,
    show_config: bool,
    fmt: str | None,
    platform: Platform | None,
    no_tags: bool,
    reference: str,
    **registry: Any,
) -> None:
    """Describe the image REFERENCE names, with the fields skopeo inspect prints.

    For a registry image, RepoTags lists the repository's tags, as skopeo does.
    """
    from boxwright import inspect as lib

    options = transport_options(registry)

    if raw and fmt is not None:
        raise click.UsageError("--raw output does not support --format")
    if raw and not show_config:
        _write_bytes(lib.raw_manifest(reference, options))
        return
    if raw:
        _write_bytes(lib.raw_config(reference, platform, options))
        return
    template = None if fmt is None or fmt.strip().lower() == "json" else fmt
    if show_config:
        if template is not None:
            raise click.UsageError("--config prints JSON only: drop --format, or use jq")
        click.echo(lib.go_json_indent(lib.config(reference, platform, options).data))
        return
    info = lib.inspect_image(reference, platform, options, tags=not no_tags)
    if template is None:
        click.echo(info.to_json())
    else:
        text = lib.render_template(info, template, escape=escape_message, escape_json=escape_json)
        click.echo(text, nl=False)


def _write_bytes(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


__all__ = ["inspect_command"]
