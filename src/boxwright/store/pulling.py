"""Pulling into and pushing from an open store: the copy pipeline between any reference and
the store's own source and destination (:mod:`boxwright.store.endpoints`). The naming rules
are :mod:`boxwright.store.pullpush`'s, which adds the default store; a working container pulls
its base image here, into the store it belongs to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, Unpack

from boxwright.copy.pipeline import CopyOptions, copy_image
from boxwright.errors import InvalidReferenceError, UsageError
from boxwright.oci.index import ImageIndex, choose_instance
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import parse_manifest
from boxwright.store.endpoints import StoreDestination, StoreSource
from boxwright.store.images import ImageRecord, normalize_name
from boxwright.store.names import LOCAL_HOST
from boxwright.transport.base import MAX_INDEX_DEPTH, image_names_of
from boxwright.transport.reference import opened_source, registry_or

if TYPE_CHECKING:
    from boxwright.copy.pipeline import CopyResult
    from boxwright.copy.progress import ProgressCallback
    from boxwright.oci.platform import Platform
    from boxwright.store.store import Store
    from boxwright.transport.base import ImageSource
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference
    from boxwright.trust.policy import Policy
    from boxwright.trust.signing import Signer


class PullOptions(TypedDict, total=False):
    """The keywords of a pull (:func:`pull_named`, :func:`pull_into`, ``boxwright.pull``).

    ``platform``: the image to take out of an index (default: this machine's);
    ``src_options``: how to reach the source; ``name``: the one name to give (``""``: none;
    default: :func:`pulled_names`'); ``on_progress``: copy's progress callback; ``policy``:
    the signature policy the image must satisfy (default: the policy.json in force).
    """

    platform: Platform | None
    src_options: TransportOptions | None
    name: str | None
    on_progress: ProgressCallback | None
    policy: Policy | None


class PushOptions(TypedDict, total=False):
    """The keywords of a push (:func:`push_from`, ``boxwright.push``): the
    :class:`~boxwright.copy.CopyOptions` fields a push may set."""

    dest_options: TransportOptions | None
    format: str | None
    dest_compress: str | None
    on_progress: ProgressCallback | None
    remove_signatures: bool
    signers: tuple[Signer, ...]
    sign_identity: str | None
    referrers: bool


def _valid_names(names: list[str]) -> list[str]:
    """``names`` normalized, in order, without repeats; a name that is not valid is left out
    (the image is then stored with the names that are, or untagged)."""
    out: list[str] = []
    for name in names:
        try:
            normal = normalize_name(name)
        except InvalidReferenceError:
            continue
        if normal not in out:
            out.append(normal)
    return out


def pulled_names(ref: TransportReference, source: ImageSource | None = None) -> list[str]:
    """The names a pulled image gets in the store, as ``podman pull`` gives them
    (containers/common's libimage); none: the image is stored untagged.

    * ``docker://REF``: the reference;
    * ``oci:PATH[:TAG]``: ``localhost/PATH`` (leading slashes dropped) with ``:latest``,
      whatever the tag (the tag chooses the image in the layout, it does not name it);
    * ``oci-archive:FILE[:TAG]``: the name the chosen entry's annotations give
      (``io.containerd.image.name``, else ``org.opencontainers.image.ref.name``);
    * ``docker-archive:FILE:NAME:TAG``: that name; ``docker-archive:FILE[:@N]``: every
      ``RepoTags`` entry of the chosen image;
    * ``dir:DIR``: none (a path is not a name).

    Names from the archive need the open ``source``; without it only what the reference
    itself says is returned. A name that is not valid (``oci:./Upper``) is left out, where
    podman refuses the pull.
    """
    if ref.transport == "docker":
        return [ref.path]
    if ref.transport == "oci":
        return _valid_names([f"{LOCAL_HOST}/{ref.path.lstrip('/')}"])
    if ref.transport == "docker-archive" and ref.image:
        return _valid_names([ref.image])
    if ref.transport in ("docker-archive", "oci-archive") and source is not None:
        return _valid_names(image_names_of(source))
    return []


def stored_image_of(store: Store, source: ImageSource, platform: Platform | None) -> str | None:
    """The ID of the stored image that ``source`` holds (for ``platform``), or None.

    The image ID is the config digest, so the manifest and config are all that is read.
    A Docker schema 1 source (whose config is made while copying) never matches.
    """
    node = parse_manifest(*source.get_manifest())
    for _ in range(MAX_INDEX_DEPTH):
        if not isinstance(node, ImageIndex):
            break
        entry = choose_instance(node, platform)
        node = parse_manifest(*source.get_manifest(entry.digest))
    if not isinstance(node, ImageManifest):
        return None
    wanted = node.config.digest.hex
    return next((r.id for r in store.images.list() if r.id == wanted), None)


def pull_into(store: Store, src_ref: str, **options: Unpack[PullOptions]) -> ImageRecord:
    """Copy the image ``src_ref`` names into ``store`` (:class:`PullOptions` say how).

    Returns the stored image's record. The names are :func:`pulled_names`' (``name``: that
    one instead; ``""``: none). An image the store holds already (the same image ID) is not
    copied again: it gets the names, and keeps its stored manifest and digest, as podman's
    store does. The image must satisfy the signature ``policy``; its signatures are kept
    with it.
    """
    return pull_named(store, src_ref, **options)[0]


# pull's keywords are copy's options for a copy into the store (platform, credentials,
# name, progress, policy), passed on to CopyOptions: alike in shape to BlobCopier's.
def pull_named(
    store: Store,
    src_ref: str,
    *,
    platform: Platform | None = None,
    src_options: TransportOptions | None = None,
    name: str | None = None,
    on_progress: ProgressCallback | None = None,
    policy: Policy | None = None,
) -> tuple[ImageRecord, list[str]]:
    """:func:`pull_into`, and the names this pull gave (normalized; a working container is
    named after the first, as buildah names it)."""
    ref = registry_or(src_ref)
    if ref.transport == "store":
        raise UsageError(f"{src_ref} is in the local store already; use tag to add a name")
    with opened_source(ref, src_options) as (_, source):
        given = [name] if name else []
        targets = pulled_names(ref, source) if name is None else given
        with store.writing():
            stored = stored_image_of(store, source, platform)
            targets = [normalize_name(t) for t in targets]
            if stored is not None:
                if targets:
                    return store.images.tag(stored, *targets), targets
                return store.images.get(stored), targets
            label = f"store:{targets[0] if targets else '<none>'}"
            dest = StoreDestination(store, targets, label)
            try:
                options = CopyOptions(platform=platform, on_progress=on_progress, policy=policy)
                copy_image(source, dest, options)
            finally:
                dest.close()
    assert dest.record is not None  # copy_image committed, or raised
    return dest.record, targets


def push_from(
    store: Store, name: str, dest_ref: str | None = None, **options: Unpack[PushOptions]
) -> CopyResult:
    """Copy the image ``name`` (a name or ID) of ``store`` to ``dest_ref`` (default: its own
    name's registry, ``docker://NAME``); return the copy's result (its ``digest`` is what was
    pushed). ``options`` are :class:`~boxwright.copy.CopyOptions`' (:class:`PushOptions`).
    """
    record, matched = store.images.resolve(name)
    if dest_ref is None:
        if matched is None:
            raise UsageError(
                f"{name} is an image ID: give a destination (push ID docker://HOST/REPO:TAG)"
            )
        dest = registry_or(matched)
    else:
        dest = registry_or(dest_ref)
    source = StoreSource(store, record.id, f"store:{matched or record.id}")
    copy_options = CopyOptions(**options)
    try:
        return copy_image(source, dest, copy_options)
    finally:
        source.close()


__all__ = [
    "PullOptions",
    "PushOptions",
    "pull_into",
    "pull_named",
    "pulled_names",
    "push_from",
    "registry_or",
    "stored_image_of",
]
