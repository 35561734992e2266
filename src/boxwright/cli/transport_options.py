"""Registry options shared by every command that talks to a registry, as skopeo spells them.

Each side of a copy has its own (``--src-creds``, ``--dest-tls-verify=false``, ...); commands
with one reference take the plain forms (``--creds``, ``--tls-verify``). The values become a
:class:`~boxwright.transport.options.TransportOptions`; transports other than ``docker://``
ignore them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from boxwright.cli.params import BareValue, Duration, apply_options, file_option
from boxwright.errors import BoxwrightError

if TYPE_CHECKING:
    from boxwright.transport.options import TransportOptions

F = TypeVar("F", bound=Callable[..., Any])

AUTHFILE_HELP = (
    "auth.json to read credentials from (default: $REGISTRY_AUTH_FILE, else podman's: "
    "$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, "
    "~/.docker/config.json)."
)


def _creds(_ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    """``USER[:PASSWORD]`` → Credentials (a usage error names the option, never the value)."""
    if value is None:
        return None
    from boxwright.config.auth import parse_creds

    try:
        return parse_creds(value)
    except BoxwrightError as error:
        raise click.BadParameter(str(error), param=param) from None


class OptionalBool(BareValue):
    """A boolean option that may also stand alone, as skopeo's (Go pflag) boolean flags do.

    ``--tls-verify`` means ``--tls-verify=true``; ``--tls-verify=false`` and
    ``--tls-verify=true`` say it explicitly. A bare flag never takes the next word as its value
    (``--src-tls-verify docker://…`` leaves the reference alone), so a separate value is not
    accepted: ``--tls-verify false`` is the flag followed by the argument ``false``, as in
    skopeo (:class:`~boxwright.cli.params.BareValue` with the bare value ``true``).
    """


def tls_verify_option(name: str, help: str) -> Callable[[F], F]:
    """``--tls-verify[=BOOL]`` (under ``name``): None when not given (the registry's
    configuration decides), else the bool; the bare flag means true (:class:`OptionalBool`)."""
    return click.option(
        name, cls=OptionalBool, type=click.BOOL, default=None, metavar="[=BOOL]", help=help
    )


def cert_dir_option(name: str, what: str) -> Callable[[F], F]:
    """``--cert-dir DIR`` (under ``name``): the certificates for ``what`` (``"the registry"``)."""
    return click.option(
        name,
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"CA (*.crt) and client (*.cert, *.key) files for {what}.",
    )


def creds_option(name: str, what: str) -> Callable[[F], F]:
    """``--creds USER[:PASS]`` (under ``name``), parsed into Credentials."""
    return click.option(
        name,
        metavar="USER[:PASS]",
        callback=_creds,
        help=f"Credentials for {what} (default: the auth file).",
    )


def side_options(prefix: str, what: str) -> Callable[[F], F]:
    """Add ``--{prefix}creds``, ``--{prefix}tls-verify``, ``--{prefix}cert-dir`` and
    ``--{prefix}authfile`` (``prefix`` is ``"src-"``, ``"dest-"`` or ``""``)."""
    authfile_help = (
        f"auth.json for the {what} registry only (default: the --authfile file)."
        if prefix
        else AUTHFILE_HELP
    )
    options = [
        creds_option(f"--{prefix}creds", f"the {what} registry"),
        tls_verify_option(
            f"--{prefix}tls-verify",
            f"Verify TLS for the {what} registry (the bare flag means =true); "
            "=false also allows plain HTTP.",
        ),
        cert_dir_option(f"--{prefix}cert-dir", f"the {what} registry"),
        file_option(f"--{prefix}authfile", help=authfile_help),
    ]
    return lambda function: apply_options(function, options)


def registry_auth_options(function: F) -> F:
    """``--creds``, ``--cert-dir`` and ``--authfile`` of a command with one set of registries
    (``build``: its FROM pulls and pushes), read back with :func:`transport_options`."""
    return apply_options(
        function,
        [
            authfile_option,
            creds_option("--creds", "the registries"),
            cert_dir_option("--cert-dir", "the registries"),
        ],
    )


def authfile_option(function: F) -> F:
    """``--authfile FILE`` for both sides of a copy (the auth store itself falls back to
    ``$REGISTRY_AUTH_FILE`` and the containers defaults)."""
    return file_option("--authfile", help=AUTHFILE_HELP)(function)


def retry_options(*, podman: bool = False) -> Callable[[F], F]:
    """``--retry-times N`` and ``--retry-delay DURATION`` as skopeo has them (``--retry`` too
    when ``podman``: podman's spelling for pull, push and build), and ``--stall-timeout``.

    They apply to every registry a command talks to; :func:`transport_options` puts them into
    each side's :class:`~boxwright.transport.options.TransportOptions`.
    """
    retry_names = ("--retry-times", "--retry") if podman else ("--retry-times",)

    def decorate(function: F) -> F:
        options = [
            click.option(
                *retry_names,
                "retry_times",
                type=click.IntRange(min=0),
                default=None,
                metavar="N",
                help="Retries of a failed registry request or stalled transfer after the first "
                "try (default 3).",
            ),
            click.option(
                "--retry-delay",
                type=Duration(),
                default=None,
                metavar="DURATION",
                help="Fixed delay between retries, e.g. 2s or 500ms (default: exponential "
                "backoff from 0.25 s; a registry's Retry-After wins).",
            ),
            click.option(
                "--stall-timeout",
                type=Duration(),
                default=None,
                metavar="DURATION",
                help="A transfer that moves less than 1 KiB in this time has stalled and is "
                "retried (default 10s; beyond skopeo).",
            ),
        ]
        return apply_options(function, options)

    return decorate


def two_sided_options(function: F) -> F:
    """The registry options of a command that reads from one place and writes to another:
    :func:`side_options` for ``src-`` and ``dest-``, :func:`retry_options` and
    :func:`authfile_option` (read back with :func:`both_sides`)."""
    return apply_options(
        function,
        [
            side_options("src-", "source"),
            side_options("dest-", "destination"),
            retry_options(),
            authfile_option,
        ],
    )


def both_sides(
    params: dict[str, Any], authfile: Path | None, *, dest_chunk_size: int | None = None
) -> tuple[TransportOptions, TransportOptions]:
    """The source's and the destination's options from :func:`two_sided_options`' values."""
    return (
        transport_options(params, "src-", authfile=authfile),
        transport_options(params, "dest-", authfile=authfile, chunk_size=dest_chunk_size),
    )


def transport_options(
    params: dict[str, Any],
    prefix: str = "",
    *,
    authfile: Path | None = None,
    chunk_size: int | None = None,
) -> TransportOptions:
    """Take the side's option values out of ``params`` (a command's keyword arguments); the
    :func:`retry_options`, shared by both sides, are read and left in place."""
    from boxwright.transport.options import TransportOptions

    key = prefix.replace("-", "_")
    side_authfile = params.pop(f"{key}authfile", None)
    stall_timeout = params.get("stall_timeout")
    if stall_timeout is not None and stall_timeout <= 0:
        raise click.BadParameter("must be more than 0s", param_hint="'--stall-timeout'")
    return TransportOptions(
        credentials=params.pop(f"{key}creds", None),
        authfile=side_authfile or authfile,
        tls_verify=params.pop(f"{key}tls_verify", None),
        cert_dir=params.pop(f"{key}cert_dir", None),
        chunk_size=chunk_size,
        retries=params.get("retry_times"),
        retry_delay=params.get("retry_delay"),
        stall_timeout=stall_timeout,
    )


__all__ = [
    "AUTHFILE_HELP",
    "OptionalBool",
    "authfile_option",
    "both_sides",
    "cert_dir_option",
    "creds_option",
    "registry_auth_options",
    "retry_options",
    "side_options",
    "tls_verify_option",
    "transport_options",
    "two_sided_options",
]
