"""Where a build writes its final image's files besides the store (:func:`export_outputs`).

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
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from boxwright.build.context import BuildOutput
from boxwright.errors import UsageError
from boxwright.layer.apply import ApplyOptions
from boxwright.layer.generate import GenerateOptions, tree_layer
from boxwright.layer.ownership import OwnershipRecord, owners_in_side_record
from boxwright.layer.pathsafe import remove_tree
from boxwright.store.commit import apply_image_layers

if TYPE_CHECKING:
    from boxwright.store.images import ImageRecord
    from boxwright.store.store import Store


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


__all__ = ["export_outputs"]
