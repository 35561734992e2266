"""Option values the commands share, parsed once, with click's usage errors (exit 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform


def parse_platform(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> Platform | None:
    """A click callback turning ``--platform OS/ARCH[/VARIANT]`` into a :class:`Platform`."""
    if value is None:
        return None
    from boxwright.errors import UsageError
    from boxwright.oci.platform import Platform

    try:
        return Platform.parse(value)
    except UsageError as error:
        raise click.BadParameter(str(error)) from None
