"""``boxwright build``: build an image from a Containerfile or Dockerfile, as podman build.

A thin shell over :func:`boxwright.build.executor.build`: the flags become a
:class:`~boxwright.build.context.BuildOptions`, each step is printed as podman prints it
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

import dataclasses
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from boxwright.cli.main import current_state
from boxwright.cli.params import BareValue, apply_options, choice_option, file_option, key_values
from boxwright.cli.sanitize import echo, escape_message
from boxwright.cli.transport_options import (
    registry_auth_options,
    retry_options,
    tls_verify_option,
    transport_options,
)
from boxwright.cli.trust_options import signing_options, signing_settings
from boxwright.errors import BoxwrightError, UsageError
from boxwright.oci.platform import wanted_platform

if TYPE_CHECKING:
    from boxwright.build.context import BuildEvent, BuildOutput, BuildResult, PullPolicy
    from boxwright.build.runsettings import SecretSource
    from boxwright.oci.platform import Platform
    from boxwright.store.manifests import ManifestListRecord
    from boxwright.store.store import Store
    from boxwright.transport.options import TransportOptions


F = TypeVar("F", bound=Callable[..., Any])


def _bare_bool_option(name: str, help: str) -> Callable[[F], F]:
    """``--NAME[=BOOL]``, false unless given; the bare flag means true (:class:`BareValue`)."""
    return click.option(
        name, cls=BareValue, type=click.BOOL, default=False, metavar="[=BOOL]", help=help
    )


def _secrets(values: tuple[str, ...]) -> dict[str, SecretSource]:
    from boxwright.build.runsettings import parse_secret

    try:
        return dict(parse_secret(item) for item in values)
    except UsageError as error:
        raise click.UsageError(str(error)) from None


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
    --cap-add, --cap-drop, --ssh); the command receives them parsed, as ``run_settings``
    (:class:`~boxwright.build.context.BuildOptions` fields)."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        names = ("volumes", "network", "add_hosts", "no_hosts", "cap_add", "cap_drop", "ssh")
        kwargs["run_settings"] = _run_settings(*(kwargs.pop(name) for name in names))
        command(**kwargs)

    return apply_options(wrapper, _RUN_STEP_OPTIONS)


def _run_settings(
    volumes: tuple[str, ...],
    network: str,
    add_hosts: tuple[str, ...],
    no_hosts: bool,
    cap_add: tuple[str, ...],
    cap_drop: tuple[str, ...],
    ssh: tuple[str, ...],
) -> dict[str, Any]:
    from boxwright.build import runsettings as rs

    if no_hosts and add_hosts:
        raise click.UsageError("--no-hosts and --add-host cannot be used together")
    try:
        return {
            "volumes": tuple(rs.parse_volume(v) for v in volumes),
            "network": rs.check_network(network),
            "add_hosts": tuple(rs.parse_add_host(h) for h in add_hosts),
            "no_hosts": no_hosts,
            "capabilities": rs.capabilities(cap_add, cap_drop),
            "ssh": dict(rs.parse_ssh(s) for s in ssh),
        }
    except UsageError as error:
        raise click.UsageError(str(error)) from None


def _pull(value: str, pull_always: bool, pull_never: bool) -> PullPolicy:
    """The pull policy of ``--pull[=POLICY]``, ``--pull-always`` and ``--pull-never``."""
    from boxwright.build.context import PULL_POLICIES

    if pull_always and pull_never:
        raise click.UsageError("--pull-always and --pull-never contradict each other")
    if pull_always:
        return "always"
    if pull_never:
        return "never"
    policy = PULL_POLICIES.get(value.lower())
    if policy is None:
        raise click.BadParameter(
            f"{value!r}: expected always, missing, never or newer", param_hint="'--pull'"
        )
    return policy


def _outputs(values: tuple[str, ...]) -> tuple[str | None, tuple[BuildOutput, ...]]:
    """``--output`` values: an image reference with a transport prefix (``oci:DIR``,
    ``docker://REF``, ...) is where the image is copied (at most one); anything else is
    podman's file output (``type=local|tar,dest=PATH``, a directory, or ``-``)."""
    from boxwright.build.context import BuildOutput
    from boxwright.transport.reference import TRANSPORTS

    ref: str | None = None
    outputs: list[BuildOutput] = []
    for value in values:
        prefix, sep, _ = value.partition(":")
        if sep and prefix in TRANSPORTS:
            if ref is not None:
                raise click.UsageError("give at most one --output image reference")
            ref = value
            continue
        try:
            outputs.append(BuildOutput.parse(value, sys.stdout.buffer))
        except UsageError as error:
            raise click.BadParameter(str(error), param_hint="'--output'") from None
    if sum(o.stream is not None for o in outputs) > 1:
        raise click.UsageError("only one --output can go to stdout")
    return ref, tuple(outputs)


def _shower(quiet: bool, to_stderr: bool = False) -> Callable[[BuildEvent], None]:
    """How events are printed, as podman build prints them: every line on stdout (on stderr
    with ``to_stderr``: stdout carries a tar), except what a RUN wrote on its stderr, which
    goes to stderr. ``--quiet`` keeps only those stderr lines and warnings (podman -q drops
    the step lines and the RUN's stdout, not its errors)."""

    def show(event: BuildEvent) -> None:
        text = escape_message(event.text, keep="\t" if event.kind == "output" else "")
        if event.kind == "warning":
            click.echo(f"WARN: {text}", err=True)
        elif event.kind == "output" and event.stream == "stderr":
            click.echo(text, err=True)
        elif not quiet:
            click.echo(text, err=to_stderr)
            sys.stdout.flush()

    return show


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
        from boxwright.build.multiplatform import parse_platforms

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
def build_command(
    tags: tuple[str, ...],
    containerfile: str | None,
    quiet: bool,
    build_args: tuple[str, ...],
    target: str | None,
    platform: PlatformChoice,
    layers: bool,
    no_cache: bool,
    cache_from: tuple[str, ...],
    cache_to: str | None,
    timestamp: int | None,
    source_date_epoch: int | None,
    rewrite_timestamp: bool,
    pull: str,
    pull_always: bool,
    pull_never: bool,
    labels: tuple[str, ...],
    annotations: tuple[str, ...],
    envs: tuple[str, ...],
    unsetenv: tuple[str, ...],
    iidfile: Path | None,
    ignorefile: Path | None,
    jobs: int | None,
    omit_history: bool,
    identity_label: bool,
    squash: bool,
    fmt: str,
    isolation: str,
    outputs: tuple[str, ...],
    push_to: str | None,
    sbom: bool,
    provenance: str,
    attests: tuple[str, ...],
    push: bool,
    tls_verify: bool | None,
    creds: Any,
    cert_dir: Path | None,
    authfile: Path | None,
    retry_times: int | None,
    retry_delay: float | None,
    stall_timeout: float | None,
    secrets: tuple[str, ...],
    run_settings: dict[str, Any],
    build_contexts: tuple[str, ...],
    context: str,
) -> None:
    """Build an image from the Containerfile (or Dockerfile) in CONTEXT.

    CONTEXT is a directory, a git URL (https://HOST/REPO.git#REF:SUBDIR, git://, ssh://,
    git@HOST:REPO), an http(s) URL of a tarball or a Containerfile, or - (a tar archive or a
    Containerfile on standard input)."""
    from boxwright.build.context import BuildOptions
    from boxwright.build.executor import build

    if push and not tags and platform.manifest is None:
        raise click.UsageError("--push needs at least one -t NAME or --manifest LIST to push")
    sbom, provenance_mode = _attestations(sbom, provenance, attests)
    signing = signing_settings()
    quiet = quiet or current_state().quiet
    output, files = _outputs(outputs)
    if push_to is not None:
        if output is not None:
            raise click.UsageError("give the image reference to --output or --push-to, not both")
        output = push_to
    to_stderr = any(f.stream is not None for f in files)
    registry_options = _registry_options(
        {
            "tls_verify": tls_verify,
            "creds": creds,
            "cert_dir": cert_dir,
            "authfile": authfile,
            "retry_times": retry_times,
            "retry_delay": retry_delay,
            "stall_timeout": stall_timeout,
        }
    )
    local, source = _context(context)
    if containerfile == "-" and source == "-":
        raise click.UsageError("the context and the Containerfile cannot both be standard input")
    text = sys.stdin.read() if containerfile == "-" else None
    # The flags into BuildOptions, field by field (the keyword list repeats its shape).
    options = BuildOptions(
        context=local,
        context_source=source,
        build_contexts=_named_contexts(build_contexts),
        containerfile=containerfile,
        containerfile_text=text,
        tags=tags,
        build_args=key_values(build_args, "--build-arg", bare="environ"),
        target=target,
        platform=None,
        layers=layers,
        no_cache=no_cache,
        cache_from=cache_from,
        cache_to=cache_to,
        timestamp=timestamp,
        source_date_epoch=source_date_epoch,
        rewrite_timestamp=rewrite_timestamp,
        pull=_pull(pull, pull_always, pull_never),
        labels=key_values(labels, "--label", bare="empty"),
        annotations=key_values(annotations, "--annotation", bare="empty"),
        env=key_values(envs, "--env", bare="environ"),
        unsetenv=unsetenv,
        iidfile=iidfile,
        ignorefile=ignorefile,
        jobs=jobs,
        omit_history=omit_history,
        identity_label=identity_label,
        outputs=files,
        squash=squash,
        format=fmt,
        isolation=isolation,
        output=output,
        quiet=quiet,
        secrets=_secrets(secrets),
        registry_options=registry_options,
        on_event=_shower(quiet, to_stderr),
        sbom=sbom,
        provenance=provenance_mode,
        signers=signing.get("signers", ()),
        sign_identity=signing.get("sign_identity"),
        **run_settings,
    )
    if platform.manifest is None and len(platform.platforms) <= 1 and not platform.all:
        options = dataclasses.replace(
            options, platform=str(platform.platforms[0]) if platform.platforms else None
        )
        result = build(options)
        if push:
            _push(result, registry_options, quiet, signing)
        click.echo(result.image_id, err=to_stderr)
        return
    from boxwright.build.multiplatform import base_platforms, build_platforms
    from boxwright.store.store import Store

    store = Store(options.root)
    wanted = base_platforms(options, store) if platform.all else platform.platforms
    if not wanted:
        from boxwright.oci.platform import Platform

        wanted = [Platform.host()]
    made = build_platforms(options, wanted, platform.manifest, store)
    if push:
        for _, made_result in made.results:
            _push(made_result, registry_options, quiet, signing)
        if made.manifest is not None:
            attested = any(r.attestations for _, r in made.results)
            _push_list(store, made.manifest, registry_options, quiet, signing, attested)
    if made.manifest is not None:
        click.echo(made.manifest.id, err=to_stderr)
    else:
        click.echo(made.results[-1][1].image_id, err=to_stderr)


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


def _registry_options(registry: dict[str, Any]) -> TransportOptions | None:
    """The registry options the build's pulls and pushes use; None when none was given, so
    each registry's own configuration applies."""
    given = any(value is not None for value in registry.values())
    return transport_options(registry) if given else None


def _attestations(sbom: bool, provenance: str, attests: tuple[str, ...]) -> tuple[bool, str | None]:
    """``--sbom``, ``--provenance`` and ``--attest`` as BuildKit reads them: whether to make
    an SBOM, and the provenance mode (None: none)."""
    mode = _provenance_mode(provenance)
    for value in attests:
        fields = dict(part.partition("=")[::2] for part in value.split(","))
        kind = fields.pop("type", "")
        if kind == "sbom" and not fields:
            sbom = True
        elif kind == "provenance" and set(fields) <= {"mode"}:
            mode = _provenance_mode(f"mode={fields['mode']}" if "mode" in fields else "true")
        else:
            raise click.BadParameter(
                f"{value!r}: expected type=sbom or type=provenance[,mode=min|max]",
                param_hint="'--attest'",
            )
    return sbom, mode


def _provenance_mode(value: str) -> str | None:
    """BuildKit's ``--provenance`` values: a boolean, ``mode=min|max`` (or ``min``/``max``)."""
    text = value.strip().lower().removeprefix("mode=")
    if text in ("1", "true", "yes", "on", "min"):
        return "min"
    if text == "max":
        return "max"
    if text in ("0", "false", "no", "off"):
        return None
    raise click.BadParameter(
        f"{value!r}: expected true, false, mode=min or mode=max", param_hint="'--provenance'"
    )


def _push(
    result: BuildResult,
    registry_options: TransportOptions | None,
    quiet: bool,
    signing: dict[str, Any],
) -> None:
    """Push each built name to its registry, with the image's attestations and the
    signatures asked for, saying where each went unless ``quiet``."""
    from boxwright.store.pullpush import push as push_image

    for name in result.names:
        pushed = push_image(
            name,
            dest_options=registry_options,
            signers=signing.get("signers", ()),
            sign_identity=signing.get("sign_identity"),
            referrers=bool(result.attestations),
        )
        if not quiet:
            echo(f"Pushed {name}@{pushed.digest}", err=True)


def _push_list(
    store: Store,
    record: ManifestListRecord,
    registry_options: TransportOptions | None,
    quiet: bool,
    signing: dict[str, Any],
    referrers: bool,
) -> None:
    """Push the manifest list with every image in it (``manifest push --all``) to the
    registry of each of its names."""
    from boxwright.store.manifestops import push_list

    for name in record.names:
        pushed = push_list(
            store,
            record.id,
            f"docker://{name}",
            dest_options=registry_options,
            signers=signing.get("signers", ()),
            sign_identity=signing.get("sign_identity"),
            referrers=referrers,
        )
        if not quiet:
            echo(f"Pushed {name}@{pushed.digest}", err=True)


__all__ = ["build_command"]
