"""``boxwright build``: build an image from a Containerfile or Dockerfile, as podman build.

A thin shell over :func:`boxwright.build.executor.build`: the flags become a
:class:`~boxwright.build.context.BuildOptions`, each step is printed as podman prints it
(``STEP n/m: ...``, ``--> Using cache ...``, ``--> <id>``), each line a RUN writes is printed
as it comes (on stdout, or stderr for the RUN's stderr; parallel stages never mix two lines),
and the last line is the image ID (the only line on stdout with ``--quiet``).

Every line is escaped (:mod:`boxwright.cli.sanitize`): step lines quote the Containerfile and
image names, and a RUN's output lines are what a process of the (possibly hostile) base image
wrote, relayed line by line, so neither can drive the terminal. A tab in a RUN's output is
kept (column output), every other control character is shown escaped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.transport_options import OptionalBool, retry_options, transport_options

if TYPE_CHECKING:
    from boxwright.build.context import BuildEvent
    from boxwright.transport.options import TransportOptions


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        if not sep:
            if key not in os.environ:
                continue  # podman: a bare KEY takes the caller's value, and is dropped if unset
            value = os.environ[key]
        out[key] = value
    return out


def _secrets(values: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in values:
        fields = dict(part.partition("=")[::2] for part in item.split(","))
        ident, src = fields.get("id"), fields.get("src") or fields.get("source")
        if not ident or not src:
            raise click.BadParameter(f"{item!r} is not id=ID,src=FILE", param_hint="--secret")
        out[ident] = Path(src)
    return out


def _shower(quiet: bool) -> Callable[[BuildEvent], None]:
    """How events are printed, as podman build prints them: every line on stdout, except what
    a RUN wrote on its stderr, which goes to stderr. ``--quiet`` keeps only those stderr lines
    (podman -q drops the step lines and the RUN's stdout, not its errors)."""

    from boxwright.cli.sanitize import escape_message

    def show(event: BuildEvent) -> None:
        text = escape_message(event.text, keep="\t" if event.kind == "output" else "")
        if event.kind == "output" and event.stream == "stderr":
            click.echo(text, err=True)
        elif not quiet:
            click.echo(text)
            sys.stdout.flush()

    return show


@click.command(
    "build",
    epilog="\b\nExamples:\n  boxwright build -t app:1 .\n"
    "  boxwright build -f Dockerfile.prod --build-arg VERSION=2 --target runtime -t app .\n"
    "  boxwright build --timestamp 0 --output oci:out:latest .",
)
@click.option("-t", "--tag", "tags", multiple=True, metavar="NAME", help="Name the image.")
@click.option("-f", "--file", "containerfile", default=None, help="Containerfile ('-': stdin).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="Set an ARG.")
@click.option("--target", default=None, help="Build up to this stage.")
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]", help="Target platform.")
@click.option("--layers/--no-layers", default=True, help="One layer per step (default) or one.")
@click.option("--no-cache", is_flag=True, help="Do not reuse cached steps.")
@click.option("--cache-from", multiple=True, metavar="REF", help="Registry repository to read.")
@click.option("--cache-to", default=None, metavar="REF", help="Registry repository to write.")
@click.option("--timestamp", type=int, default=None, help="Created time (seconds since epoch).")
@click.option("--squash", is_flag=True, help="Squash the final image into one layer.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci", "docker"]),
    default="oci",
    show_default=True,
    help="Manifest and config format of the built image (docker: Docker schema 2).",
)
@click.option(
    "--isolation",
    type=click.Choice(["native", "oci"]),
    default="native",
    show_default=True,
    help="How RUN runs: native (boxwright's own namespaces) or oci (runc or crun).",
)
@click.option("--output", "--push-to", "output", default=None, metavar="REF", help="Copy to REF.")
@click.option(
    "--push",
    is_flag=True,
    help="Push every -t name to its registry (docker://NAME) after the build.",
)
@click.option(
    "--tls-verify",
    cls=OptionalBool,
    type=click.BOOL,
    default=None,
    metavar="[=BOOL]",
    help="Verify TLS for registries (the bare flag means =true); =false also allows plain "
    "HTTP and untrusted certificates.",
)
@retry_options(podman=True)
@click.option("--secret", "secrets", multiple=True, metavar="id=ID,src=FILE", help="A secret.")
@click.argument("context", default=".", type=click.Path(file_okay=False, path_type=Path))
def build_command(
    tags: tuple[str, ...],
    containerfile: str | None,
    quiet: bool,
    build_args: tuple[str, ...],
    target: str | None,
    platform: str | None,
    layers: bool,
    no_cache: bool,
    cache_from: tuple[str, ...],
    cache_to: str | None,
    timestamp: int | None,
    squash: bool,
    fmt: str,
    isolation: str,
    output: str | None,
    push: bool,
    tls_verify: bool | None,
    retry_times: int | None,
    retry_delay: float | None,
    stall_timeout: float | None,
    secrets: tuple[str, ...],
    context: Path,
) -> None:
    """Build an image from the Containerfile (or Dockerfile) in CONTEXT."""
    from boxwright.build.context import BuildOptions
    from boxwright.build.executor import build

    if push and not tags:
        raise click.UsageError("--push needs at least one -t NAME to push")
    registry_options = _registry_options(tls_verify, retry_times, retry_delay, stall_timeout)
    text = sys.stdin.read() if containerfile == "-" else None
    options = BuildOptions(
        context=context,
        containerfile=containerfile,
        containerfile_text=text,
        tags=tags,
        build_args=_pairs(build_args, "--build-arg"),
        target=target,
        platform=platform,
        layers=layers,
        no_cache=no_cache,
        cache_from=cache_from,
        cache_to=cache_to,
        timestamp=timestamp,
        squash=squash,
        format=fmt,
        isolation=isolation,
        output=output,
        quiet=quiet,
        secrets=_secrets(secrets),
        registry_options=registry_options,
        on_event=_shower(quiet),
    )
    result = build(options)
    if push:
        _push(result.names, registry_options, quiet)
    click.echo(result.image_id)


def _registry_options(
    tls_verify: bool | None,
    retry_times: int | None,
    retry_delay: float | None,
    stall_timeout: float | None,
) -> TransportOptions | None:
    """The registry options the build's pulls and pushes use; None when none was given, so
    each registry's own configuration applies."""
    registry: dict[str, Any] = {
        "tls_verify": tls_verify,
        "retry_times": retry_times,
        "retry_delay": retry_delay,
        "stall_timeout": stall_timeout,
    }
    given = any(value is not None for value in registry.values())
    return transport_options(registry) if given else None


def _push(names: Sequence[str], registry_options: TransportOptions | None, quiet: bool) -> None:
    """Push each built name to its registry, saying where each went unless ``quiet``."""
    from boxwright.cli.sanitize import echo
    from boxwright.store.pullpush import push as push_image

    for name in names:
        pushed = push_image(name, dest_options=registry_options)
        if not quiet:
            echo(f"Pushed {name}@{pushed.digest}", err=True)


__all__ = ["build_command"]
