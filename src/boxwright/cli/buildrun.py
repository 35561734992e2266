"""What ``boxwright build`` does once click has read its flags: the flags become a
:class:`~boxwright.build.context.BuildOptions`, the image is built (for one platform, or for
several into a manifest list: :mod:`boxwright.cli.buildpush`), pushed when asked
(:mod:`boxwright.cli.buildpush` too), and its ID printed.

:mod:`boxwright.cli.build` declares the command and its flags, and imports this module only
when the command runs, so ``boxwright build --help`` loads none of the build machinery.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from boxwright.build import runsettings as rs
from boxwright.build.context import PULL_POLICIES, BuildOptions, BuildOutput
from boxwright.build.contextnames import is_remote, parse_build_context
from boxwright.build.executor import build
from boxwright.build.runsettings import parse_secret
from boxwright.cli.main import current_state
from boxwright.cli.params import key_values
from boxwright.cli.sanitize import escape_message
from boxwright.cli.transport_options import transport_options
from boxwright.cli.trust_options import signing_settings
from boxwright.errors import BoxwrightError, UsageError
from boxwright.transport.reference import TRANSPORTS

if TYPE_CHECKING:
    from boxwright.build.context import BuildEvent, PullPolicy
    from boxwright.build.runsettings import SecretSource
    from boxwright.cli.build import PlatformChoice
    from boxwright.transport.options import TransportOptions


@dataclass(frozen=True)
class BuildFlags:
    """The flags of ``boxwright build`` as click read them, one field per parameter of
    :func:`boxwright.cli.build.build_command` (``run_step_flags``: the RUN-shaping flags,
    unparsed)."""

    tags: tuple[str, ...]
    containerfile: str | None
    quiet: bool
    build_args: tuple[str, ...]
    target: str | None
    platform: PlatformChoice
    layers: bool
    no_cache: bool
    cache_from: tuple[str, ...]
    cache_to: str | None
    timestamp: int | None
    source_date_epoch: int | None
    rewrite_timestamp: bool
    pull: str
    pull_always: bool
    pull_never: bool
    labels: tuple[str, ...]
    annotations: tuple[str, ...]
    envs: tuple[str, ...]
    unsetenv: tuple[str, ...]
    iidfile: Path | None
    ignorefile: Path | None
    jobs: int | None
    omit_history: bool
    identity_label: bool
    squash: bool
    fmt: str
    isolation: str
    outputs: tuple[str, ...]
    push_to: str | None
    sbom: bool
    provenance: str
    attests: tuple[str, ...]
    push: bool
    tls_verify: bool | None
    creds: Any
    cert_dir: Path | None
    authfile: Path | None
    retry_times: int | None
    retry_delay: float | None
    stall_timeout: float | None
    secrets: tuple[str, ...]
    run_step_flags: dict[str, Any]
    build_contexts: tuple[str, ...]
    context: str


def run_build(flags: BuildFlags) -> None:
    """Build the image the flags describe, push it when asked, and print its ID (the manifest
    list's ID when the build made one), on stderr when a ``--output`` tar takes stdout."""
    run_settings = _run_settings(**flags.run_step_flags)
    if flags.push and not flags.tags and flags.platform.manifest is None:
        raise click.UsageError("--push needs at least one -t NAME or --manifest LIST to push")
    sbom, provenance_mode = _attestations(flags.sbom, flags.provenance, flags.attests)
    signing = signing_settings()
    quiet = flags.quiet or current_state().quiet
    output, files = _outputs(flags.outputs)
    if flags.push_to is not None:
        if output is not None:
            raise click.UsageError("give the image reference to --output or --push-to, not both")
        output = flags.push_to
    to_stderr = any(f.stream is not None for f in files)
    registry_options = _registry_options(
        {
            "tls_verify": flags.tls_verify,
            "creds": flags.creds,
            "cert_dir": flags.cert_dir,
            "authfile": flags.authfile,
            "retry_times": flags.retry_times,
            "retry_delay": flags.retry_delay,
            "stall_timeout": flags.stall_timeout,
        }
    )
    options = _build_options(flags, run_settings, quiet, output, files, registry_options)
    options = dataclasses.replace(
        options,
        sbom=sbom,
        provenance=provenance_mode,
        signers=signing.get("signers", ()),
        sign_identity=signing.get("sign_identity"),
        on_event=_shower(quiet, to_stderr),
    )
    platform = flags.platform
    one = platform.manifest is None and len(platform.platforms) <= 1 and not platform.all
    if one:
        options = dataclasses.replace(
            options, platform=str(platform.platforms[0]) if platform.platforms else None
        )
        if not flags.push:
            click.echo(build(options).image_id, err=to_stderr)
            return
    # The copy pipeline and the manifest lists: only to push or to build for several platforms.
    from boxwright.cli.buildpush import build_and_push, build_for_platforms

    if one:
        build_and_push(options, registry_options, signing, to_stderr)
    else:
        build_for_platforms(options, platform, flags.push, registry_options, signing, to_stderr)


def _build_options(
    flags: BuildFlags,
    run_settings: dict[str, Any],
    quiet: bool,
    output: str | None,
    files: tuple[BuildOutput, ...],
    registry_options: TransportOptions | None,
) -> BuildOptions:
    """The flags into :class:`~boxwright.build.context.BuildOptions`, field by field (the
    keyword list repeats its shape); what signing and printing add comes after."""
    local, source = _context(flags.context)
    if flags.containerfile == "-" and source == "-":
        raise click.UsageError("the context and the Containerfile cannot both be standard input")
    text = sys.stdin.read() if flags.containerfile == "-" else None
    return BuildOptions(
        context=local,
        context_source=source,
        build_contexts=_named_contexts(flags.build_contexts),
        containerfile=flags.containerfile,
        containerfile_text=text,
        tags=flags.tags,
        build_args=key_values(flags.build_args, "--build-arg", bare="environ"),
        target=flags.target,
        platform=None,
        layers=flags.layers,
        no_cache=flags.no_cache,
        cache_from=flags.cache_from,
        cache_to=flags.cache_to,
        timestamp=flags.timestamp,
        source_date_epoch=flags.source_date_epoch,
        rewrite_timestamp=flags.rewrite_timestamp,
        pull=_pull(flags.pull, flags.pull_always, flags.pull_never),
        labels=key_values(flags.labels, "--label", bare="empty"),
        annotations=key_values(flags.annotations, "--annotation", bare="empty"),
        env=key_values(flags.envs, "--env", bare="environ"),
        unsetenv=flags.unsetenv,
        iidfile=flags.iidfile,
        ignorefile=flags.ignorefile,
        jobs=flags.jobs,
        omit_history=flags.omit_history,
        identity_label=flags.identity_label,
        outputs=files,
        squash=flags.squash,
        format=flags.fmt,
        isolation=flags.isolation,
        output=output,
        quiet=quiet,
        secrets=_secrets(flags.secrets),
        registry_options=registry_options,
        **run_settings,
    )


def _secrets(values: tuple[str, ...]) -> dict[str, SecretSource]:
    try:
        return dict(parse_secret(item) for item in values)
    except UsageError as error:
        raise click.UsageError(str(error)) from None


def _run_settings(
    volumes: tuple[str, ...],
    network: str,
    add_hosts: tuple[str, ...],
    no_hosts: bool,
    cap_add: tuple[str, ...],
    cap_drop: tuple[str, ...],
    ssh: tuple[str, ...],
) -> dict[str, Any]:
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


def _context(text: str) -> tuple[Path, str | None]:
    """The CONTEXT argument: a local directory, or what the build fetches (URL or ``-``)."""
    if is_remote(text):
        return Path("."), text
    path = Path(text)
    if path.is_file():
        raise click.BadParameter(f"{text!r} is a file, not a directory", param_hint="CONTEXT")
    return path, None


def _named_contexts(values: tuple[str, ...]) -> dict[str, str]:
    """``--build-context NAME=VALUE`` flags as NAME → VALUE."""
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


__all__ = ["BuildFlags", "run_build"]
