"""Image → directory: a rootfs, or an OCI runtime bundle, as ``umoci unpack`` makes them.

Each layer's uncompressed stream is applied in order onto a new rootfs; each stream is read to
its end, so it is verified against its digest and the image config's diff_id before the next
layer's files are written. Reading, hashing and inflating run in worker threads, ahead: the
next layer inflates while the current one's last files are still being written.
The destination must be new or empty (as umoci asks), and on any error everything unpack
created is removed again: no half-unpacked tree is ever left behind.

The destination (the rootfs, or the bundle directory) is ``0700`` from the moment it exists
until the last layer is written, and stays so unless the caller asks for another ``mode``: an
image's setuid-root programs must not be reachable by other local users. A new destination is
made ``0700`` by ``mkdir`` itself; an existing empty one must belong to the caller (its owner
could open it again) and is made ``0700`` before anything is written into it; a layer's entry
for the root directory does not change its mode (:attr:`ApplyOptions.root_mode`).

After the layers, unpack records what :func:`~boxwright.unpack.repack.repack_image` needs in
the state directory beside the rootfs (see :mod:`boxwright.unpack.state`). With ``bundle``,
``DEST/config.json`` is the OCI runtime spec of the image config, with the image's ``User``
resolved through the image's own ``/etc/passwd`` and ``/etc/group``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxwright._log import Logger
from boxwright.errors import UsageError
from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import remove_tree
from boxwright.layer.snapshot import Snapshot
from boxwright.oci.digest import CHUNK, Digest
from boxwright.oci.runtime_spec import runtime_spec
from boxwright.transport.atomic import atomic_write
from boxwright.transport.image import layer_tars, open_named_image
from boxwright.transport.reference import parse_transport_reference
from boxwright.unpack.state import UnpackState, is_state_dir, state_dir_for
from boxwright.unpack.users import resolve_user

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform
    from boxwright.transport.image import Image

log = Logger(__name__)

#: Transports whose reference names a local path (made absolute in the saved state).
_LOCAL_TRANSPORTS = frozenset({"oci", "oci-archive", "docker-archive", "dir"})

#: ``(event_kind, name, done, total)``: the progress callback of unpack and repack, the shape
#: :func:`boxwright.cli.output.make_progress` renders. Kinds: ``start`` and ``done`` per layer
#: (``name`` is the layer digest, sizes in bytes of the compressed blob).
UnpackProgress = Callable[[str, str, int, "int | None"], None]


@dataclass(frozen=True, slots=True)
class UnpackResult:
    """What :func:`unpack_image` made."""

    rootfs: Path  #: the unpacked root filesystem
    bundle: Path | None  #: the bundle directory (holding ``config.json``), when asked for
    state_dir: Path  #: where repack's state lives (``.NAME.boxwright`` beside the rootfs)
    source: str  #: the reference the image was read from (repack reads base layers there)
    manifest_digest: Digest
    layers: int  #: how many layers were applied
    rootless: bool  #: whether ownership went to the side record instead of the files


#: The mode of the destination while unpacking, and by default after.
PRIVATE_MODE = 0o700


def _check_destination(dest: Path) -> bool:
    """Refuse a destination that exists and is not an empty directory the caller owns; True
    if it exists."""
    if not os.path.lexists(dest):
        return False
    if dest.is_symlink() or not dest.is_dir():
        raise UsageError(f"cannot unpack into {dest}: it exists and is not a directory")
    with os.scandir(dest) as it:
        if next(it, None) is not None:
            raise UsageError(
                f"cannot unpack into {dest}: the directory is not empty "
                "(unpack needs a new or empty directory)"
            )
    owner = dest.stat().st_uid
    if owner != os.geteuid():
        raise UsageError(
            f"cannot unpack into {dest}: it belongs to uid {owner}, who could open it to "
            "others (unpack into a new directory, or one you own)"
        )
    return True


def _make_private(dest: Path, existed: bool) -> None:
    """``dest`` as a ``0700`` directory before anything is written into it: made with that
    mode (no moment at a wider one), or an existing one (checked empty) narrowed."""
    if not existed:
        dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.mkdir(dest, PRIVATE_MODE)
        os.chmod(dest, PRIVATE_MODE)  # the umask may have narrowed it further
        return
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)


def _check_mode(mode: int) -> int:
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise UsageError(f"invalid mode {mode!r} for the unpacked directory: expected 0 to 0777")
    if not 0 <= mode <= 0o777:
        raise UsageError(f"invalid mode {mode:04o} for the unpacked directory: expected 0 to 0777")
    if not mode & 0o700 == 0o700:
        raise UsageError(
            f"invalid mode {mode:04o} for the unpacked directory: its owner needs rwx (0700)"
        )
    return mode


def _prepare_state_dir(state_dir: Path) -> None:
    """Make room for a fresh state directory; a stale one of ours is replaced, others refused."""
    if not os.path.lexists(state_dir):
        return
    if state_dir.is_symlink() or not is_state_dir(state_dir):
        raise UsageError(
            f"cannot unpack: {state_dir} exists and is not a boxwright state directory "
            "(it is where unpack keeps the state for repack; move it away)"
        )

    log.info("replacing the stale unpack state %s", state_dir)
    remove_tree(state_dir)


def _open(ref: str | Image, platform: Platform | str | None) -> tuple[Image, str, Any]:
    """The image, the reference string to record, and the source to close (or None)."""
    image, source = open_named_image(ref, platform)
    return image, _absolute_reference(ref if isinstance(ref, str) else ref.source.name), source


def _absolute_reference(ref: str) -> str:
    """``ref`` with a relative local path made absolute, so repack works from any directory."""

    parsed = parse_transport_reference(ref)
    if parsed.transport in _LOCAL_TRANSPORTS and parsed.path:
        parsed = replace(parsed, path=os.path.abspath(parsed.path))
    return str(parsed)


def _drain(stream: Any) -> None:
    """Read ``stream`` to its end (the tar padding after the end-of-archive marker), so a
    verifying reader checks the diff_id."""
    while stream.read(CHUNK):
        pass


def _unpack_rootfs(
    image: Image,
    rootfs: Path,
    bundle: bool,
    rootless: bool,
    record: OwnershipRecord,
    on_progress: UnpackProgress | None,
) -> int:
    """Apply the image's layers to ``rootfs`` (made here in a bundle), keeping in ``record``
    the owners a rootless unpack cannot set; return how many."""
    if bundle:
        rootfs.mkdir(mode=0o755)  # as umoci: the bundle directory is the private one
    options = ApplyOptions(
        rootless=rootless, ownership=record, root_mode=None if bundle else PRIVATE_MODE
    )
    return _apply_layers(image, rootfs, options, on_progress)


def _apply_layers(
    image: Image,
    rootfs: Path,
    options: ApplyOptions,
    on_progress: UnpackProgress | None,
) -> int:
    """Apply every layer of ``image`` onto ``rootfs`` in order, each verified against its
    digest and diff_id before the next one's files are written; return how many."""

    layers = image.layers
    # Each layer inflates on worker threads while the previous one's files are written;
    # closing the generator closes (and stops) every reader, also on errors.
    tars = layer_tars([(image, index) for index in range(len(layers))])
    with closing(tars):
        for layer, stream in zip(layers, tars, strict=True):
            name = str(layer.digest)
            if on_progress is not None:
                on_progress("start", name, 0, layer.size)
            apply_layer(rootfs, stream, options)
            _drain(stream)
            if on_progress is not None:
                on_progress("done", name, layer.size, layer.size)
    return len(layers)


def unpack_image(
    ref: str | Image,
    dest: str | os.PathLike[str],
    *,
    bundle: bool = False,
    rootless: bool | None = None,
    platform: Platform | str | None = None,
    on_progress: UnpackProgress | None = None,
    mode: int = PRIVATE_MODE,
) -> UnpackResult:
    """Unpack the image ``ref`` into ``dest``: a rootfs, or with ``bundle`` an OCI bundle.

    ``ref`` is a transport reference (``oci:DIR:TAG``, ``oci-archive:FILE``, ...) or an open
    :class:`~boxwright.transport.image.Image`. ``rootless`` (default: not running as root)
    applies layers without chown and device nodes, keeping the owners, modes and devices the
    layers meant in a side record that repack writes back. ``platform`` picks an image from an
    index (default: the host's). ``dest`` must not exist or be an empty directory the caller
    owns; on failure everything created is removed and the error is raised. ``dest`` is
    ``0700`` while the layers are written and gets ``mode`` (default ``0700``; the owner
    keeps ``rwx``) at the end: a wider mode lets other users reach the image's setuid files.
    """
    dest = Path(os.path.abspath(dest))
    mode = _check_mode(mode)
    rootless = os.geteuid() != 0 if rootless is None else rootless
    dest_existed = _check_destination(dest)
    rootfs = dest / "rootfs" if bundle else dest
    state_dir = state_dir_for(rootfs)
    if not bundle:
        _prepare_state_dir(state_dir)
    image, source_ref, to_close = _open(ref, platform)
    created_state = False
    try:
        manifest = image.manifest
        _make_private(dest, dest_existed)
        record = OwnershipRecord()
        applied = _unpack_rootfs(image, rootfs, bundle, rootless, record, on_progress)
        if mode != PRIVATE_MODE:
            os.chmod(dest, mode)
        created_state = True
        state_dir.mkdir(mode=0o700)
        _save_state(image, rootfs, source_ref, bundle, rootless, record)
        if bundle:
            _write_runtime_spec(image, dest, rootfs, rootless)
    except BaseException:
        _cleanup(
            dest, dest_existed, rootfs if bundle else None, state_dir if created_state else None
        )
        raise
    finally:
        if to_close is not None:
            to_close.close()
    return UnpackResult(
        rootfs=rootfs,
        bundle=dest if bundle else None,
        state_dir=state_dir,
        source=source_ref,
        manifest_digest=manifest.digest,
        layers=applied,
        rootless=rootless,
    )


def _cleanup(
    dest: Path, dest_existed: bool, bundle_rootfs: Path | None, state: Path | None
) -> None:
    """Remove what a failed unpack created: the tree (or the contents of a given empty dir)."""
    try:
        if state is not None:
            remove_tree(state)
        if not dest_existed:
            remove_tree(dest)
        elif os.path.isdir(dest):
            with os.scandir(dest) as it:
                names = [e.name for e in it]
            for name in names:
                remove_tree(dest / name)
    except OSError as error:  # the original error matters more; say what is left
        log.warning("could not remove the partial unpack at %s: %s", dest, error)


def _save_state(
    image: Image, rootfs: Path, source: str, bundle: bool, rootless: bool, record: Any
) -> None:
    """Write the state repack needs (module :mod:`boxwright.unpack.state`)."""
    manifest = image.manifest
    config_raw = image.config.raw
    state = UnpackState(
        rootfs=rootfs,
        source=source,
        manifest_digest=manifest.digest,
        manifest_media_type=manifest.media_type,
        config_digest=manifest.config.digest,
        bundle=bundle,
        rootless=rootless,
    )
    state.directory.mkdir(mode=0o700, exist_ok=True)
    record.save(state.ownership_path)
    Snapshot.take(rootfs).save(state.snapshot_path)
    state.save(manifest=manifest.raw, config=config_raw)


def _write_runtime_spec(image: Image, bundle: Path, rootfs: Path, rootless: bool) -> None:
    """``BUNDLE/config.json``: the runtime spec of the image config, user resolved in rootfs."""
    config = image.config
    user = resolve_user(rootfs, config.config.user, "image User")
    spec = runtime_spec(
        config,
        uid=user.uid,
        gid=user.gid,
        additional_gids=list(user.additional_gids),
        home=user.home,
        rootless=rootless,
    )
    data = json.dumps(spec, indent="\t").encode() + b"\n"
    atomic_write(bundle / "config.json", data, 0o644)


__all__ = ["UnpackProgress", "UnpackResult", "unpack_image"]
