"""Builds for several platforms: ``build --platform A,B --manifest LIST``, as podman builds.

:func:`build_platforms` runs one whole build (:func:`~boxwright.build.executor.build`) per
platform, each with ``TARGETPLATFORM``, ``TARGETARCH``... of its platform and the build
machine's ``BUILDPLATFORM``, at once on threads up to the machine's CPUs. A stage
``FROM --platform=$BUILDPLATFORM`` (a cross-compiling stage) is built for the build machine
in every one of them, so its steps are the same and the layer cache (whose keys name the
parent image, and so its platform) makes them run once: when the Containerfile has such a
stage, the first platform is built alone first, and the others, which find those steps in
the cache, after it. The builds share a :class:`~boxwright.build.cache.StepsMade`, so they
find those steps with ``--no-cache`` too. Each platform's image is added to the manifest list
``manifest`` (created when the store has none of that name), replacing an entry of the same
platform.

:func:`base_platforms` is what ``--all-platforms`` builds for: the platforms every base image
of the Containerfile offers (a manifest list of the store, an index anywhere).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from boxwright.build.cache import StepsMade
from boxwright.build.containerfile.parser import parse
from boxwright.build.context import BuildEvent, BuildOptions, BuildResult
from boxwright.build.executor import _import_before_threads, build, read_containerfile
from boxwright.errors import UsageError
from boxwright.oci import mediatype as mt
from boxwright.oci.index import ImageIndex
from boxwright.oci.parse import parse_manifest
from boxwright.oci.platform import Platform
from boxwright.store.manifestops import add_to_list, remove_instance
from boxwright.store.manifests import ManifestListRecord, list_media_type
from boxwright.store.store import Store
from boxwright.transport.image import open_image
from boxwright.transport.reference import registry_or

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Containerfile


@dataclass(frozen=True)
class PlatformsResult:
    """What :func:`build_platforms` made: each platform's build, and the list they went to."""

    results: tuple[tuple[Platform, BuildResult], ...]
    manifest: ManifestListRecord | None


def _containerfile(options: BuildOptions) -> Containerfile | None:
    """The Containerfile when it can be read before the build (a local context), else None."""
    if options.context_source is not None or options.containerfile == "-":
        return None
    text, filename, _ = read_containerfile(options)
    return parse(text, filename)


def base_platforms(options: BuildOptions, store: Store) -> list[Platform]:
    """The platforms every base image of the Containerfile offers, in the first one's order
    (``--all-platforms``; bases written with variables or naming stages are not asked)."""
    cf = _containerfile(options)
    if cf is None:
        raise UsageError("--all-platforms needs a local context and Containerfile")
    names = {s.name for s in cf.stages if s.name}
    common: list[Platform] | None = None
    for stage in cf.stages:
        base = stage.base
        if "$" in base or base.lower() == "scratch" or base.lower() in names:
            continue
        listed = store.manifest_lists.find(base) if not store.images.exists(base) else None
        if listed is not None:
            offered = listed.index().platforms()
        elif store.images.exists(base):
            offered = [store.images.config(store.images.get(base)).platform()]
        else:
            source = registry_or(base).open_source(options.registry_options)
            try:
                top = parse_manifest(*source.get_manifest())
                if isinstance(top, ImageIndex):
                    offered = top.platforms()
                else:
                    offered = [open_image(source).config.platform()]
            finally:
                source.close()
        offered = [Platform(p.os, p.architecture, p.variant) for p in offered]
        common = offered if common is None else [p for p in common if p in offered]
    if not common:
        raise UsageError("--all-platforms: the base images offer no platform in common")
    return common


def _has_build_platform_stage(options: BuildOptions) -> bool:
    cf = _containerfile(options)
    return cf is None or any(stage.platform for stage in cf.stages)


def _labelled(options: BuildOptions, platform: Platform, several: bool) -> BuildOptions:
    """The options of one platform's build: its platform; with several, no names of its own
    and its events labelled ``[PLATFORM]``."""
    out = dataclasses.replace(options, platform=str(platform), iidfile=None)
    sink = options.on_event
    if not several:
        return out
    out = dataclasses.replace(out, tags=(), output=None)
    if sink is None:
        return out

    def labelled(event: BuildEvent) -> None:
        sink(dataclasses.replace(event, text=f"[{platform}] {event.text}"))

    return dataclasses.replace(out, on_event=labelled)


def build_platforms(
    options: BuildOptions,
    platforms: Sequence[Platform],
    manifest: str | None = None,
    store: Store | None = None,
    manifest_format: str | None = None,
) -> PlatformsResult:
    """Build ``options`` once per platform and add the images to ``manifest`` (module
    docstring). Several platforms need a manifest list to put them in."""
    if not platforms:
        raise UsageError("no platform to build for")
    several = len(platforms) > 1
    if several and manifest is None:
        raise UsageError("a build for several platforms needs --manifest LIST to hold them")
    if several and options.tags:
        raise UsageError("a build for several platforms names its list with --manifest, not -t")
    if store is None:
        store = Store(options.root)
    if options.containerfile == "-" and options.containerfile_text is None:
        raise UsageError("a build for several platforms cannot read its Containerfile from stdin")
    if several:
        options = dataclasses.replace(options, steps_made=StepsMade())
    runs = [_labelled(options, p, several) for p in platforms]
    done: list[BuildResult] = []
    if several:
        _import_before_threads()
        first = 1 if _has_build_platform_stage(options) else 0
        done = [build(run, store) for run in runs[:first]]
        workers = max(1, min(len(runs) - first, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="platform") as pool:
            done += list(pool.map(lambda run: build(run, store), runs[first:]))
    else:
        done = [build(runs[0], store)]
    record = None
    if manifest is not None:
        record = _add_results(store, manifest, done, manifest_format)
    return PlatformsResult(tuple(zip(platforms, done, strict=True)), record)


def _add_results(
    store: Store, manifest: str, done: Sequence[BuildResult], fmt: str | None
) -> ManifestListRecord:
    record = store.manifest_lists.find(manifest)
    if record is None:
        record = store.manifest_lists.create([manifest], list_media_type(fmt, mt.DOCKER_LIST))
    for result in done:
        built = store.images.config(store.images.get(result.image_id)).platform()
        for inst in record.instances:
            same = inst.descriptor.platform
            if same is not None and (same.os, same.architecture, same.variant) == (
                built.os,
                built.architecture,
                built.variant,
            ):
                record = remove_instance(store, record.id, str(inst.digest))
        record, _ = add_to_list(store, record.id, f"store:{result.image_id}")
    return record


__all__ = ["PlatformsResult", "base_platforms", "build_platforms"]
