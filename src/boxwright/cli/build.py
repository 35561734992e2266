"""``boxwright build``: build an image from a Containerfile or Dockerfile, as podman build.

A thin shell over :func:`boxwright.build.executor.build`: this module declares the flags;
:mod:`boxwright.cli.buildrun`, imported when the command runs, turns them into a
:class:`~boxwright.build.context.BuildOptions`. Each step is printed as podman prints it
(``STEP n/m: ...``, ``--> Using cache ...``, ``--> <id>``), each line a RUN writes is printed
as it comes (on stdout, or stderr for the RUN's stderr; parallel stages never mix two lines),
and the last line is the image ID (the only line on stdout with ``--quiet``, the command's or
the global one). With ``--output -`` the tar goes to stdout and every line to stderr.

Every line is escaped (:mod:`boxwright.cli.sanitize`): step lines quote the Containerfile and
image names, and a RUN's output lines are what a process of the (possibly hostile) base image
wrote, relayed line by line, so neither can drive the terminal. A tab in a RUN's output is
kept (column output), every other control character is shown escaped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from boxwright.cli.params import BareValue, apply_options, choice_option, file_option
from boxwright.cli.transport_options import (
    registry_auth_options,
    retry_options,
    tls_verify_option,
)
from boxwright.cli.trust_options import signing_options
from boxwright.errors import UsageError
from boxwright.oci.platform import parse_platforms, wanted_platform

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform


F = TypeVar("F", bound=Callable[..., Any])


def _bare_bool_option(name: str, help: str) -> Callable[[F], F]:
    """``--NAME[=BOOL]``, false unless given; the bare flag means true (:class:`BareValue`)."""
    return click.option(
        name, cls=BareValue, type=click.BOOL, default=False, metavar="[=BOOL]", help=help
    )


_RUN_STEP_OPTIONS = (
    click.option(
        "-v",
        "--volume",
        "volumes",
        multiple=True,
        metavar="HOST:CONTAINER[:OPTS]",
        help="Bind a host path into every RUN (OPTS: ro, rw, O, z, Z).",
    ),
    click.option(
        "--network",
        "--net",
        "network",
        default="host",
        show_default=True,
        metavar="host|none",
        help="The network of RUN steps.",
    ),
    click.option("--add-host", "add_hosts", multiple=True, metavar="HOST:IP",
                 help="Add a line to every RUN's /etc/hosts."),
    click.option("--no-hosts", is_flag=True, help="RUN steps see the image's own /etc/hosts."),
    click.option("--cap-add", multiple=True, metavar="CAP", help="Add a capability to RUNs."),
    click.option("--cap-drop", multiple=True, metavar="CAP", help="Drop a capability from RUNs."),
    click.option("--ssh", multiple=True, metavar="default|ID[=SOCKET|KEY[,KEY]]",
                 help="An SSH agent for RUN --mount=type=ssh."),
)  # fmt: skip


def _run_step_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add podman build's options that shape RUN steps (-v, --network, --add-host, --no-hosts,
    --cap-add, --cap-drop, --ssh); the command receives them together, as ``run_step_flags``
    (:mod:`boxwright.cli.buildrun` parses them into :class:`~boxwright.build.context.BuildOptions`
    fields)."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        names = ("volumes", "network", "add_hosts", "no_hosts", "cap_add", "cap_drop", "ssh")
        kwargs["run_step_flags"] = {name: kwargs.pop(name) for name in names}
        command(**kwargs)

    return apply_options(wrapper, _RUN_STEP_OPTIONS)


@dataclass(frozen=True)
class PlatformChoice:
    """What the platform flags of ``build`` ask for: the platforms (none: this machine's),
    every platform of the base images (``all``), the manifest list to add the images to."""

    platforms: list[Platform]
    all: bool
    manifest: str | None


def platform_block(function: F) -> F:
    """``--platform`` (repeatable, comma-separated), ``--all-platforms``, ``--arch``, ``--os``,
    ``--variant`` and ``--manifest``, as podman build takes them, into one ``platform``
    argument (:class:`PlatformChoice`)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values: tuple[str, ...] = kwargs.pop("platform")
        arch, os_, variant = kwargs.pop("arch"), kwargs.pop("os_"), kwargs.pop("variant")
        all_platforms: bool = kwargs.pop("all_platforms")
        try:
            platforms = parse_platforms(values)
            if arch is not None or os_ is not None or variant is not None:
                if platforms or all_platforms:
                    raise UsageError("--arch, --os and --variant go without --platform")
                one = wanted_platform(None, arch, os_, variant)
                platforms = [one] if one is not None else []
            if all_platforms and platforms:
                raise UsageError("--all-platforms goes without --platform")
        except UsageError as error:
            raise click.UsageError(str(error)) from None
        kwargs["platform"] = PlatformChoice(platforms, all_platforms, kwargs.pop("manifest"))
        return function(*args, **kwargs)

    options = [
        click.option(
            "--platform",
            multiple=True,
            metavar="OS/ARCH[/VARIANT][,...]",
            help="Build for these platforms (repeatable or comma-separated; several need "
            "--manifest).",
        ),
        click.option(
            "--all-platforms",
            is_flag=True,
            help="Build for every platform the base images offer (needs --manifest).",
        ),
        click.option("--arch", default=None, help="Build for this architecture."),
        click.option("--os", "os_", default=None, help="Build for this operating system."),
        click.option("--variant", default=None, help="Build for this architecture variant."),
        click.option(
            "--manifest",
            default=None,
            metavar="LIST",
            help="Add the image(s) to this manifest list of the store (made when missing).",
        ),
    ]
    return cast(F, apply_options(wrapper, options))


@click.command(
    "build",
    epilog="\b\nExamples:\n  boxwright build -t app:1 .\n"
    "  boxwright build -f Dockerfile.prod --build-arg VERSION=2 --target runtime -t app .\n"
    "  boxwright build --timestamp 0 --output oci:out:latest .",
)
@click.option("-t", "--tag", "tags", multiple=True, metavar="NAME", help="Name the image.")
@click.option("-f", "--file", "containerfile", default=None, help="Containerfile ('-': stdin).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID (as the global -q).")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="Set an ARG.")
@click.option("--target", default=None, help="Build up to this stage.")
@platform_block
@click.option("--layers/--no-layers", default=True, help="One layer per step (default) or one.")
@click.option("--no-cache", is_flag=True, help="Do not reuse cached steps.")
@click.option("--cache-from", multiple=True, metavar="REF", help="Registry repository to read.")
@click.option("--cache-to", default=None, metavar="REF", help="Registry repository to write.")
@click.option(
    "--timestamp",
    type=int,
    default=None,
    help="Created time (seconds since epoch); also clamps file times in new layers.",
)
@click.option(
    "--source-date-epoch",
    type=int,
    default=None,
    metavar="SECS",
    help="Created time of the image and its new history (default: $SOURCE_DATE_EPOCH); "
    "also the SOURCE_DATE_EPOCH ARG.",
)
@click.option(
    "--rewrite-timestamp",
    is_flag=True,
    help="With --source-date-epoch: no file in a new layer is newer than it.",
)
@click.option(
    "--pull",
    cls=BareValue,
    bare_value="always",
    default="missing",
    metavar="[=POLICY]",
    help="Pull FROM images: always (the bare flag), missing (default), never, newer.",
)
@click.option("--pull-always", is_flag=True, help="Same as --pull=always.")
@click.option("--pull-never", is_flag=True, help="Same as --pull=never.")
@click.option("--label", "labels", multiple=True, metavar="K[=V]", help="Label the image.")
@click.option(
    "--annotation",
    "annotations",
    multiple=True,
    metavar="K[=V]",
    help="Annotate the image's manifest (OCI format).",
)
@click.option(
    "--env",
    "envs",
    multiple=True,
    metavar="K[=V]",
    help="Set a variable from the first step of every stage (K alone: from the environment).",
)
@click.option("--unsetenv", multiple=True, metavar="K", help="Remove a variable from the image.")
@file_option("--iidfile", help="Write the image ID (sha256:...) to this file.")
@file_option("--ignorefile", help="Ignore file to use instead of .containerignore/.dockerignore.")
# --jobs counts stages at once; copy's bounded numbers (--max-parallel-downloads,
# --dest-chunk-size) are declared alike and limit other things.
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Stages that run at the same time (0: no limit; default 4).",
)
@_bare_bool_option("--omit-history", "Leave the history out of the image's config.")
@_bare_bool_option(
    "--identity-label", "Add the io.buildah.version label (boxwright's version; default false)."
)
@click.option("--squash", is_flag=True, help="Squash the final image into one layer.")
@choice_option(
    "--format",
    "fmt",
    choices=["oci", "docker"],
    default="oci",
    help="Manifest and config format of the built image (docker: Docker schema 2).",
)
@choice_option(
    "--isolation",
    choices=["native", "oci"],
    default="native",
    help="How RUN runs: native (boxwright's own namespaces) or oci (runc or crun).",
)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="OUTPUT",
    help="type=local,dest=DIR | type=tar,dest=FILE | DIR | - (a tar on stdout), or an "
    "image reference with a transport (oci:DIR, docker://REF) to copy the image to.",
)
@click.option("--push-to", "push_to", default=None, metavar="REF", help="Copy the image to REF.")
@_bare_bool_option(
    "--sbom", "Attach an SPDX SBOM of the image as an OCI referrer (BuildKit's flag)."
)
@click.option(
    "--provenance",
    cls=BareValue,
    default="false",
    metavar="[=BOOL|mode=min|max]",
    help="Attach SLSA v1 provenance (in-toto) as an OCI referrer (BuildKit's flag).",
)
@click.option(
    "--attest",
    "attests",
    multiple=True,
    metavar="type=sbom|provenance[,mode=min|max]",
    help="Same as --sbom or --provenance (BuildKit's --attest).",
)
@signing_options
@click.option(
    "--push",
    is_flag=True,
    help="Push every -t name to its registry (docker://NAME) after the build, and the "
    "--manifest list with all its images to the registry of its name (boxwright's addition; "
    "podman pushes a list with manifest push).",
)
@tls_verify_option(
    "--tls-verify",
    "Verify TLS for registries (the bare flag means =true); =false also allows plain "
    "HTTP and untrusted certificates.",
)
@registry_auth_options
@retry_options(podman=True)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="id=ID[,src=FILE][,env=VAR]",
    help="A secret for RUN --mount=type=secret.",
)
@_run_step_options
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
def build_command(**flags: Any) -> None:
    """Build an image from the Containerfile (or Dockerfile) in CONTEXT.

    CONTEXT is a directory, a git URL (https://HOST/REPO.git#REF:SUBDIR, git://, ssh://,
    git@HOST:REPO), an http(s) URL of a tarball or a Containerfile, or - (a tar archive or a
    Containerfile on standard input)."""
    from boxwright.cli.buildrun import BuildFlags, run_build

    run_build(BuildFlags(**flags))


__all__ = ["build_command"]
