"""Option values the commands share, parsed once, with click's usage errors (exit 2)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import click

from boxwright._durations import DurationError, parse_go_duration
from boxwright.errors import UsageError

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform

F = TypeVar("F", bound=Callable[..., Any])


class BareValue(click.Option):
    """An option whose value is optional, as podman's (Go pflag ``NoOptDefVal``): the bare
    ``--pull`` means ``--pull=always``, a value follows ``=`` only, so ``--pull .`` leaves
    the context argument alone. The parser's arguments are rewritten before parsing (only
    before ``--``, where options end): a bare occurrence becomes ``FLAG=<bare_value>``."""

    def __init__(self, *args: Any, bare_value: str = "true", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bare_value = bare_value

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        bare = frozenset(self.opts)
        parse_args: Callable[[list[str]], Any] = parser.parse_args
        value = self.bare_value

        def with_bare_values(args: list[str]) -> Any:
            rewritten: list[str] = []
            for position, arg in enumerate(args):
                if arg == "--":
                    rewritten.extend(args[position:])
                    break
                rewritten.append(f"{arg}={value}" if arg in bare else arg)
            return parse_args(rewritten)

        parser.parse_args = with_bare_values


def apply_options(function: F, options: Iterable[Callable[[F], F]]) -> F:
    """``function`` decorated by ``options`` as if they were stacked above it in this order
    (the first is the top one, so ``--help`` lists them in this order)."""
    for option in reversed(list(options)):
        function = option(function)
    return function


def key_values(
    values: Iterable[str], flag: str, *, bare: Literal["refuse", "empty", "environ"] = "refuse"
) -> dict[str, str]:
    """``KEY=VALUE`` words into a dict (a later KEY wins); a usage error naming ``flag`` for a
    word with no key. A bare ``KEY`` is refused (``bare="refuse"``), has an empty value
    (``"empty"``: podman's ``--label``, ``--annotation``, ``--opt``), or takes the caller's
    environment value and is dropped when unset (``"environ"``: podman's ``--env``,
    ``--build-arg``)."""
    out: dict[str, str] = {}
    shape = "KEY=VALUE" if bare == "refuse" else "KEY[=VALUE]"
    for item in values:
        key, sep, value = item.partition("=")
        if not key or not (sep or bare != "refuse"):
            raise click.BadParameter(f"{item!r} is not {shape}", param_hint=f"'{flag}'")
        if not sep and bare == "environ":
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


def choice_option(
    *names: str, choices: Sequence[str], help: str, default: str | None = None
) -> Callable[[F], F]:
    """An option that takes one of ``choices``; ``--help`` shows ``default`` when there is one
    (without one, the value is None and ``help`` says what that means)."""
    return click.option(
        *names,
        type=click.Choice(choices),
        default=default,
        show_default=default is not None,
        help=help,
    )


def file_option(*names: str, help: str, metavar: str | None = None) -> Callable[[F], F]:
    """An optional file path (a :class:`~pathlib.Path`; a directory is refused), e.g.
    ``--authfile``, ``--iidfile``."""
    return click.option(
        *names,
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar=metavar,
        help=help,
    )


def manifest_format_option() -> Callable[[F], F]:
    """``-f/--format oci|v2s2`` into ``fmt``, as skopeo's copy and sync take it."""
    return choice_option(
        "-f",
        "--format",
        "fmt",
        choices=["oci", "v2s2"],
        help="Manifest format to write (default: keep the source's when the destination can).",
    )


def parse_platform(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> Platform | None:
    """A click callback turning ``--platform OS/ARCH[/VARIANT]`` into a :class:`Platform`."""
    if value is None:
        return None
    from boxwright.oci.platform import Platform

    try:
        return Platform.parse(value)
    except UsageError as error:
        raise click.BadParameter(str(error)) from None


def format_option(*short: str) -> Callable[[F], F]:
    """``--format text|json`` (also spelled ``short``, e.g. ``-f``) into the ``fmt`` argument:
    text for people, JSON for scripts."""
    return choice_option(
        *short, "--format", "fmt", choices=["text", "json"], default="text", help="Output format."
    )


def template_format_option(*short: str, help: str) -> Callable[[F], F]:
    """``--format json|TEMPLATE`` (also spelled ``short``) into ``fmt``: JSON, or a Go template
    over the command's fields (None: the command's own default output)."""
    return click.option(*short, "--format", "fmt", default=None, metavar="json|TEMPLATE", help=help)


def platform_option(choose: str) -> Callable[[F], F]:
    """``--platform OS/ARCH[/VARIANT]``, parsed, for a command that picks one image out of an
    index; ``choose`` says what for (``"unpack"``: "The image to unpack out of an index")."""
    return click.option(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        callback=parse_platform,
        help=f"The image to {choose} (default: this machine's platform).",
    )


def platform_choice_options(choose: str) -> Callable[[F], F]:
    """``--platform OS/ARCH[/VARIANT]`` or ``--arch``/``--os``/``--variant``, as podman takes
    them, into one ``platform`` argument (:func:`boxwright.oci.platform.wanted_platform`;
    None: this machine's); ``choose`` says what for."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from boxwright.oci.platform import wanted_platform

            try:
                kwargs["platform"] = wanted_platform(
                    kwargs.pop("platform"),
                    kwargs.pop("arch"),
                    kwargs.pop("os_"),
                    kwargs.pop("variant"),
                )
            except UsageError as error:
                raise click.UsageError(str(error)) from None
            return function(*args, **kwargs)

        options = [
            click.option(
                "--platform",
                metavar="OS/ARCH[/VARIANT]",
                default=None,
                help=f"The image to {choose} (default: this machine's platform).",
            ),
            click.option("--arch", default=None, help="Architecture to choose."),
            click.option("--os", "os_", default=None, help="Operating system to choose."),
            click.option("--variant", default=None, help="Architecture variant to choose."),
        ]
        return cast(F, apply_options(wrapper, options))

    return decorate


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (``2s``, ``500ms``, ``1m30s``, ``1.5h``, ``0``), as skopeo's
    ``--retry-delay`` takes it. A negative, unitless or malformed value is a ValueError."""
    try:
        return parse_go_duration(text) / 1e9
    except DurationError as error:
        if error.reason == "empty":
            raise ValueError("an empty duration") from None
        if error.reason == "negative":
            raise ValueError(f"{text!r} is negative") from None
        if error.reason == "too long":
            raise ValueError(
                f"{text!r} is too long (Go durations end at about 292 years)"
            ) from None
        raise ValueError(f"{text!r} is not a duration (examples: 2s, 500ms, 1m30s)") from None


class Duration(click.ParamType[float]):
    """A click type for Go durations (:func:`parse_duration`); a bad one is a usage error."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float | int):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)
