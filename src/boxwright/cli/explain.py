"""``boxwright explain``: a thin shell over :func:`boxwright.explain.explain_image`.

On a terminal: the path from the reference to the bytes as a rich tree, then tables (history
joined to layers, waste, with ``--files`` each layer's changes) and the final config. Piped:
the same sections as plain text. ``--format json``: the report as JSON. ``--ci``: dive's gate
(exit 1 with a one-line reason on stderr when a threshold is passed). Every line of text is
escaped (:mod:`boxwright.cli.sanitize`): file names, history and labels come from the image.

This module declares the command and its flags; the work, with the image reading and the
layer walk it needs, is in :mod:`boxwright.cli.explainrun`, imported when the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from boxwright.cli.params import format_option, platform_option

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform

EXAMPLES = """\b
Examples:
  boxwright explain oci:./layout:latest
  boxwright explain --files docker-archive:app.tar
  boxwright explain --format json oci-archive:app.tar | jq .waste
  boxwright explain --ci --lowest-efficiency 0.95 --highest-wasted-bytes 20MB oci:./layout
"""


@click.command(
    "explain", epilog=EXAMPLES, short_help="Show how history, layers and files fit together."
)
@click.option("--files", is_flag=True, help="List what each layer added, changed and deleted.")
@format_option("-f")
@platform_option("explain out of an index")
@click.option("--ci", is_flag=True, help="Fail (exit 1) when the image wastes too much, as dive.")
@click.option(
    "--lowest-efficiency",
    type=click.FloatRange(0.0, 1.0),
    default=0.9,
    show_default=True,
    help="--ci: fail below this efficiency (0 disables).",
)
@click.option(
    "--highest-wasted-bytes",
    metavar="SIZE",
    default=None,
    help="--ci: fail above this many wasted bytes, e.g. 20MB (default: disabled).",
)
@click.option(
    "--highest-user-wasted-percent",
    type=click.FloatRange(0.0),
    default=0.1,
    show_default=True,
    help="--ci: fail above this share of wasted bytes in the layers above the base.",
)
@click.argument("reference")
def explain_command(
    files: bool,
    fmt: str,
    platform: Platform | None,
    ci: bool,
    lowest_efficiency: float,
    highest_wasted_bytes: str | None,
    highest_user_wasted_percent: float,
    reference: str,
) -> None:
    """Explain the image REFERENCE: from the reference to the bytes, each history step joined
    to its layer, what the layers wasted, and the final config."""
    from boxwright.cli.explainrun import CiFlags, run_explain

    gate = CiFlags(ci, lowest_efficiency, highest_wasted_bytes, highest_user_wasted_percent)
    run_explain(reference, files=files, fmt=fmt, platform=platform, gate=gate)


__all__ = ["explain_command"]
