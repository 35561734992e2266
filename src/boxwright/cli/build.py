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
from boxwright.errors import BoxwrightError

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
@click.option("--format", "fmt", type=click.Choice(["oci", "docker"]), default="oci")
@click.option("--isolation", type=click.Choice(["native", "oci"]), default="native")
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
    help="false: allow plain HTTP and untrusted certificates (registries).",
)
@retry_options(podman=True)
@click.option("--secret", "secrets", multiple=True, metavar="id=ID,src=FILE", help="A secret.")
# -- contexts beyond a directory --
@click.option(
    "--build-context",
    "build_contexts",
    multiple=True,
    metavar="NAME=VALUE",
    help="A named context for FROM, COPY --from, RUN --mount=from: a directory, a git or "
    "tarball URL, docker-image://REF, container-image://REF or oci-layout://DIR[:TAG|@DIGEST].",
)
@click.argument("context", default=".", metavar="CONTEXT|URL|-")
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
    build_contexts: tuple[str, ...],
    context: str,
) -> None:
    """Build an image from the Containerfile (or Dockerfile) in CONTEXT.

    CONTEXT is a directory, a git URL (https://HOST/REPO.git#REF:SUBDIR, git://, ssh://,
    git@HOST:REPO), an http(s) URL of a tarball or a Containerfile, or - (a tar archive or a
    Containerfile on standard input)."""
    from boxwright.build.context import BuildOptions
    from boxwright.build.executor import build

    if push and not tags:
        raise click.UsageError("--push needs at least one -t NAME to push")
    registry_options = _registry_options(tls_verify, retry_times, retry_delay, stall_timeout)
    local, source = _context(context)
    if containerfile == "-" and source == "-":
        raise click.UsageError("the context and the Containerfile cannot both be standard input")
    text = sys.stdin.read() if containerfile == "-" else None
    options = BuildOptions(
        context=local,
        context_source=source,
        build_contexts=_named_contexts(build_contexts),
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


def _context(text: str) -> tuple[Path, str | None]:
    """The CONTEXT argument: a local directory, or what the build fetches (URL or ``-``)."""
    from boxwright.build.remote import is_remote

    if is_remote(text):
        return Path("."), text
    path = Path(text)
    if path.is_file():
        raise click.BadParameter(f"{text!r} is a file, not a directory", param_hint="CONTEXT")
    return path, None


def _named_contexts(values: tuple[str, ...]) -> dict[str, str]:
    """``--build-context NAME=VALUE`` flags as NAME → VALUE."""
    from boxwright.build.contexts import parse_build_context

    named: dict[str, str] = {}
    for item in values:
        try:
            name, value = parse_build_context(item)
        except BoxwrightError as error:
            raise click.BadParameter(str(error), param_hint="--build-context") from None
        named[name] = value
    return named


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
