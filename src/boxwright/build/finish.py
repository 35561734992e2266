"""What the build's flags change on the final image alone (:func:`finish_image`).

``--label``, ``--annotation``, ``--unsetenv``, ``--identity-label`` and ``--omit-history``
edit the final image, not a step: its config (labels set over the Containerfile's and the
base's, variables removed, history dropped) and its manifest (annotations added; a Docker
schema 2 manifest has none, so they are left out with a warning, as buildah discards them).
The edit makes a new config and manifest over the same layer blobs and records a new unnamed
image; no step's image, cache key or history entry changes, so the layer cache is shared with
builds without these flags. BuildKit applies ``--label`` the same way (the final image's
config, no history entry), and buildah 1.28's final config is the same.

Where the image's files are written besides it (``--output``) is
:mod:`boxwright.build.outputs`'.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright._version import __version__
from boxwright.build.context import IDENTITY_LABEL, BuildOptions
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.manifest import ImageManifest
from boxwright.transport.atomic import atomic_write

if TYPE_CHECKING:
    from boxwright.oci.config import ConfigFields
    from boxwright.store.store import Store


def final_labels(options: BuildOptions) -> dict[str, str]:
    """The labels the final image gets: ``--label``, and the identity label when asked."""
    labels = dict(options.labels)
    if options.identity_label:
        labels.setdefault(IDENTITY_LABEL, __version__)
    return labels


def finish_image(
    store: Store, image_id: str, options: BuildOptions, warn: Callable[[str], None]
) -> str:
    """The final image with the edits of ``options`` (module docstring): ``image_id`` itself
    when there are none, else the ID of the edited image."""
    labels = final_labels(options)
    if not (labels or options.annotations or options.unsetenv or options.omit_history):
        return image_id
    record = store.images.get(image_id)
    manifest = ImageManifest.parse(store.images.manifest(record))
    config = store.images.config(record)
    changes: ConfigFields = {}
    if labels:
        changes["labels"] = {**config.config.labels, **labels}
    if options.unsetenv:
        unset = set(options.unsetenv)
        changes["env"] = [e for e in config.config.env if e.partition("=")[0] not in unset]
    if options.omit_history:
        changes["history"] = None
    config = config.with_changes(**changes)
    annotations = dict(manifest.annotations)
    if options.annotations:
        if manifest.media_type == mt.DOCKER_MANIFEST:
            warn("--annotation: a Docker schema 2 image has no annotations; they are left out")
        else:
            annotations.update(options.annotations)
    config_desc = Descriptor(manifest.config.media_type, config.digest, len(config.raw))
    with store.writing():
        store.blobs.put_bytes(config.raw, config_desc)
        edited = ImageManifest.build(
            manifest.media_type, config_desc, list(manifest.layers), annotations or None
        )
        return store.images.add(edited.raw, edited.media_type).id


def write_iidfile(path: Path, image_id: str) -> None:
    """Write ``sha256:<image ID>`` (no newline, as podman writes it) to ``path``, atomically."""
    atomic_write(path, f"sha256:{image_id}".encode(), 0o644)


__all__ = ["final_labels", "finish_image", "write_iidfile"]
