"""Option values the commands share, parsed once, with click's usage errors (exit 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform

F = TypeVar("F", bound=Callable[..., Any])


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


def platform_option(choose: str) -> Callable[[F], F]:
    """``--platform OS/ARCH[/VARIANT]``, parsed, for a command that picks one image out of an
    index; ``choose`` says what for (``"unpack"``: "The image to unpack out of an index")."""
    return click.option(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        callback=parse_platform,
        help=f"The image to {choose} (default: this machine's platform).",
    )
