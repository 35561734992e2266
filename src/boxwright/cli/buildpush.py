"""What ``boxwright build`` does beyond building one image: pushing what it built, and
building for several platforms into a manifest list (``--platform A,B``, ``--all-platforms``,
``--manifest``), with the list pushed when asked.

:mod:`boxwright.cli.buildrun` imports this module only for those, so a plain build loads
neither the copy pipeline nor the manifest lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from boxwright.build.executor import build
from boxwright.build.multiplatform import base_platforms, build_platforms
from boxwright.cli.sanitize import echo
from boxwright.oci.platform import Platform
from boxwright.store.manifestops import push_list
from boxwright.store.pullpush import push as push_image
from boxwright.store.store import Store

if TYPE_CHECKING:
    from boxwright.build.context import BuildOptions, BuildResult
    from boxwright.cli.build import PlatformChoice
    from boxwright.store.manifests import ManifestListRecord
    from boxwright.transport.options import TransportOptions


def build_and_push(
    options: BuildOptions,
    registry_options: TransportOptions | None,
    signing: dict[str, Any],
    to_stderr: bool,
) -> None:
    """Build the one image ``options`` describe, push it to each of its names, and print its
    ID."""
    result = build(options)
    _push(result, registry_options, options.quiet, signing)
    click.echo(result.image_id, err=to_stderr)


def build_for_platforms(
    options: BuildOptions,
    platform: PlatformChoice,
    push: bool,
    registry_options: TransportOptions | None,
    signing: dict[str, Any],
    to_stderr: bool,
) -> None:
    """Build one image per platform asked for (every base image platform with
    ``--all-platforms``, this machine's when none), into the manifest list when one is named;
    push them and the list when asked; print the list's ID, or the last image's."""
    store = Store(options.root)
    wanted = base_platforms(options, store) if platform.all else platform.platforms
    if not wanted:
        wanted = [Platform.host()]
    made = build_platforms(options, wanted, platform.manifest, store)
    if push:
        for _, made_result in made.results:
            _push(made_result, registry_options, options.quiet, signing)
        if made.manifest is not None:
            attested = any(r.attestations for _, r in made.results)
            _push_list(store, made.manifest, registry_options, options.quiet, signing, attested)
    if made.manifest is not None:
        click.echo(made.manifest.id, err=to_stderr)
    else:
        click.echo(made.results[-1][1].image_id, err=to_stderr)


def _push(
    result: BuildResult,
    registry_options: TransportOptions | None,
    quiet: bool,
    signing: dict[str, Any],
) -> None:
    """Push each built name to its registry, with the image's attestations and the
    signatures asked for, saying where each went unless ``quiet``."""
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


__all__ = ["build_and_push", "build_for_platforms"]
