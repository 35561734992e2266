"""What the build's flags change on the final image alone (:func:`finish_image`), and where its
files are written besides it (:func:`export_outputs`).

``--label``, ``--annotation``, ``--unsetenv``, ``--identity-label`` and ``--omit-history``
edit the final image, not a step: its config (labels set over the Containerfile's and the
base's, variables removed, history dropped) and its manifest (annotations added; a Docker
schema 2 manifest has none, so they are left out with a warning, as buildah discards them).
The edit makes a new config and manifest over the same layer blobs and records a new unnamed
image; no step's image, cache key or history entry changes, so the layer cache is shared with
builds without these flags. BuildKit applies ``--label`` the same way (the final image's
config, no history entry), and buildah 1.28's final config is the same.

``--output`` (:class:`~boxwright.build.context.BuildOutput`) writes the final image's file
system: ``type=local`` applies its layers (verified as they stream) into the directory,
``type=tar`` writes one tar of the merged tree (made in a scratch directory of the store, as a
squashed layer is). With a created time (``--timestamp`` or a source date epoch), every file
written bears exactly that time, as buildah's output does.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from boxwright._version import __version__
from boxwright.build.context import IDENTITY_LABEL, BuildOptions, BuildOutput
from boxwright.errors import UsageError
from boxwright.layer.apply import ApplyOptions
from boxwright.layer.generate import GenerateOptions, tree_layer
from boxwright.layer.ownership import OwnershipRecord, owners_in_side_record
from boxwright.layer.pathsafe import remove_tree
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.manifest import ImageManifest
from boxwright.store.commit import apply_image_layers
from boxwright.transport.atomic import atomic_write

if TYPE_CHECKING:
    from boxwright.layer.ownership import OwnershipRecord
    from boxwright.oci.config import ConfigFields
    from boxwright.store.images import ImageRecord
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


def export_outputs(
    store: Store, record: ImageRecord, outputs: tuple[BuildOutput, ...], mtime: int | None
) -> None:
    """Write the files of the image ``record`` to each of ``outputs`` (module docstring)."""
    for output in outputs:
        if output.type == "local":
            assert output.dest is not None
            _apply_image(store, record, output.dest)
            if mtime is not None:
                _set_times(output.dest, mtime)
        else:
            with _scratch(store) as work:
                tree = work / "tree"
                ownership = _apply_image(store, record, tree)
                if mtime is not None:
                    _set_times(tree, mtime)
                options = GenerateOptions(ownership=ownership, rootless=owners_in_side_record())
                with _tar_destination(output) as out:
                    tree_layer(tree, out, options)


def _apply_image(store: Store, record: ImageRecord, root: Path) -> OwnershipRecord:
    """Apply the image's layers, each verified against its diff_id, onto ``root``."""
    ownership = OwnershipRecord()
    options = ApplyOptions(ownership=ownership)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--output {root}: {error.strerror}") from None
    apply_image_layers(store, record, root, options)
    return ownership


def _set_times(root: Path, mtime: int) -> None:
    """Give ``root`` and everything under it (links themselves, never followed) ``mtime``."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames]:
            os.utime(os.path.join(dirpath, name), (mtime, mtime), follow_symlinks=False)
    os.utime(root, (mtime, mtime))


@contextlib.contextmanager
def _scratch(store: Store) -> Iterator[Path]:
    store.layout.tmp_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="output-", dir=store.layout.tmp_dir))
    try:
        yield work
    finally:
        remove_tree(work)


@contextlib.contextmanager
def _tar_destination(output: BuildOutput) -> Iterator[IO[bytes]]:
    """The stream the tar goes to: the caller's, or ``dest`` written whole or not at all."""
    if output.stream is not None:
        yield output.stream
        output.stream.flush()
        return
    assert output.dest is not None
    dest = output.dest
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed into place when complete
            dir=dest.parent, prefix=f".{dest.name}.", delete=False
        )
    except OSError as error:
        raise UsageError(f"--output {dest}: {error.strerror}") from None
    done = False
    try:
        with handle:
            yield cast("IO[bytes]", handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, dest)
        done = True
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(handle.name)


__all__ = ["export_outputs", "final_labels", "finish_image", "write_iidfile"]
