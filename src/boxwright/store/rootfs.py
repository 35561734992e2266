"""Rootfs drivers: how a working container's files are kept, shown, and diffed at commit.

A container directory ``cdir`` (``R/containers/<id>/``) holds the container's side record
``ownership.json`` (seeded at create with what the snapshots' records say, see
:func:`boxwright.layer.overlay.merged_ownership`) and a file ``driver`` naming its driver.

* **overlay**: the snapshot diffs are the lower directories of an overlay mount (top first,
  through short symlinks ``cdir/l/<n>`` so the option string stays far below the kernel's
  one-page limit whatever the store path or the layer count); ``upper/`` and ``work/`` hold
  the container's changes and ``merged/`` is the mount point. The mount uses ``userxattr``,
  so the same snapshots serve root and rootless. As root it is mounted in the caller's mount
  namespace (:meth:`OverlayDriver.mount` leaves it there); rootless, every use forks a child
  that enters a user and mount namespace (:func:`boxwright.store.userns.run_in_namespace`),
  so nothing the caller sees is mounted, and a persistent ``mount`` turns the container into
  a copy-driver one (lowers merged into ``rootfs/``, then the upper's changes applied after
  the snapshot, so the next commit still holds every change since create).
* **copy**: ``rootfs/`` holds a full copy of the merged snapshot diffs and
  ``snapshot.json`` the :class:`~boxwright.layer.snapshot.Snapshot` taken right after; a
  commit diffs against it with :func:`~boxwright.layer.generate.generate_layer`.

Both give byte-identical layers for the same changes (see :mod:`boxwright.layer.overlay`).
:func:`choose_driver` picks overlay when a probe mount works (root, or a user namespace on a
kernel that allows unprivileged overlay), caching the answer in ``R/overlay-probe.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, TypeVar

from boxwright._atomic import replace_file
from boxwright.errors import StoreError, TransportError, UsageError
from boxwright.layer.generate import GenerateOptions, generate_layer
from boxwright.layer.overlay import merge_overlay_dirs, merged_ownership, overlay_changes
from boxwright.layer.ownership import OwnershipRecord, owners_in_side_record
from boxwright.layer.pathsafe import remove_tree
from boxwright.layer.snapshot import Snapshot as TreeSnapshot
from boxwright.rootless.libc import MNT_DETACH, mount, umount
from boxwright.store.userns import run_in_namespace
from boxwright.transport.smallfile import atomic_write

if TYPE_CHECKING:
    from boxwright.layer.generate import GenerateResult
    from boxwright.store.snapshots import Snapshot
    from boxwright.store.store import Store

T = TypeVar("T")

DRIVER_FILE = "driver"
OWNERSHIP_FILE = "ownership.json"
SNAPSHOT_FILE = "snapshot.json"
PROBE_FILE = "overlay-probe.json"
DRIVERS = ("overlay", "copy")
ENV_DRIVER = "BOXWRIGHT_DRIVER"


class RootfsDriver(Protocol):
    """What the container store asks of a driver (see the module docstring)."""

    name: str

    def create(self, cdir: Path, snapshots: Sequence[Snapshot], store: Store) -> None: ...
    def run(
        self,
        cdir: Path,
        snapshots: Sequence[Snapshot],
        fn: Callable[[Path, OwnershipRecord], T],
    ) -> T: ...
    def mount(self, cdir: Path, snapshots: Sequence[Snapshot]) -> Path: ...
    def umount(self, cdir: Path) -> None: ...
    def is_mounted(self, cdir: Path) -> bool: ...
    def write_changes(
        self,
        cdir: Path,
        snapshots: Sequence[Snapshot],
        out: IO[bytes],
        options: GenerateOptions,
    ) -> GenerateResult: ...
    def remove(self, cdir: Path) -> None: ...


def _rootless() -> bool:
    return os.geteuid() != 0


def _record(cdir: Path) -> OwnershipRecord:
    return OwnershipRecord.load(cdir / OWNERSHIP_FILE)


def _save_record(record: OwnershipRecord) -> None:
    """Save a side record that holds something or had a file (so removals are kept)."""
    if len(record) or (record.path is not None and record.path.exists()):
        record.save()


def _seed(cdir: Path, snapshots: Sequence[Snapshot]) -> None:
    """The container's side record at create: the merged view of the snapshots' records."""
    if not any(s.ownership is not None for s in snapshots):
        return
    layers = [(s.diff, s.ownership) for s in reversed(snapshots)]
    _save_record(merged_ownership(layers, OwnershipRecord(cdir / OWNERSHIP_FILE)))


def _write_driver(cdir: Path, name: str, *, made: bool = False) -> None:
    """Write the container's ``driver`` file. A container just ``made`` is not in
    ``containers.json`` yet, and that record (written durably after) names the same driver,
    which :func:`~boxwright.store.containers.driver_of` falls back to: the file is written
    without fsyncs then (atomic still; a power failure may lose it, not garble what it
    says). A driver change of an existing container is durable: the file is the only
    place it is said."""
    try:
        replace_file(cdir / DRIVER_FILE, f"{name}\n".encode(), 0o644, durable=not made)
    except OSError as e:
        raise TransportError(f"cannot write {cdir / DRIVER_FILE}: {e.strerror or e}") from None


def _call_with_record(fn: Callable[[Path, OwnershipRecord], T], view: Path, cdir: Path) -> T:
    """``fn(view, record)`` with the container's side record, saved after ``fn`` returns."""
    record = _record(cdir)
    result = fn(view, record)
    _save_record(record)
    return result


def _changes_options(options: GenerateOptions, record: OwnershipRecord) -> GenerateOptions:
    return dataclasses.replace(options, ownership=record, rootless=owners_in_side_record())


def _remove_tree(path: Path) -> None:
    if path.exists() or path.is_symlink():
        remove_tree(path)


# -- copy ---------------------------------------------------------------------------------------
# CopyDriver and OverlayDriver each implement RootfsDriver: their method signatures repeat it.


class CopyDriver:
    """Container files as a plain directory ``cdir/rootfs`` diffed against a saved snapshot."""

    name = "copy"

    def create(self, cdir: Path, snapshots: Sequence[Snapshot], store: Store) -> None:
        """Copy the merged snapshot diffs into ``cdir/rootfs`` and remember its state."""
        rootfs = cdir / "rootfs"
        merge_overlay_dirs(rootfs, [s.diff for s in snapshots])
        _seed(cdir, snapshots)
        TreeSnapshot.take(rootfs).save(cdir / SNAPSHOT_FILE)
        _write_driver(cdir, self.name, made=True)

    def run(
        self,
        cdir: Path,
        snapshots: Sequence[Snapshot],
        fn: Callable[[Path, OwnershipRecord], T],
    ) -> T:
        """``fn(rootfs, record)`` in this process; the side record is saved after it."""
        return _call_with_record(fn, cdir / "rootfs", cdir)

    def mount(self, cdir: Path, snapshots: Sequence[Snapshot]) -> Path:
        """The rootfs itself (nothing to mount); marked mounted until :meth:`umount`."""
        (cdir / "mounted").touch()
        return cdir / "rootfs"

    def umount(self, cdir: Path) -> None:
        (cdir / "mounted").unlink(missing_ok=True)

    def is_mounted(self, cdir: Path) -> bool:
        return (cdir / "mounted").exists()

    def write_changes(
        self,
        cdir: Path,
        snapshots: Sequence[Snapshot],
        out: IO[bytes],
        options: GenerateOptions,
    ) -> GenerateResult:
        """Every change since create, as generate_layer writes it against the saved snapshot."""
        before = TreeSnapshot.load(cdir / SNAPSHOT_FILE)
        opts = _changes_options(options, _record(cdir))
        return generate_layer(cdir / "rootfs", before, out, opts)

    def remove(self, cdir: Path) -> None:
        _remove_tree(cdir)


# -- overlay ------------------------------------------------------------------------------------


def _mount_overlay(cdir: Path) -> None:
    """Mount the container's overlay on ``cdir/merged`` (cwd must be ``cdir``: short paths)."""
    links = sorted(os.listdir("l"), key=int, reverse=True)
    lower = ":".join(f"l/{n}" for n in links)
    data = f"lowerdir={lower},upperdir=upper,workdir=work,userxattr"
    mount("overlay", "merged", "overlay", 0, data)


def _mount_here(cdir: Path) -> None:
    """Mount the overlay from inside ``cdir``, then go back: a caller's relative paths (a
    ``container copy`` source) keep meaning what they meant."""
    here = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        os.chdir(cdir)
        _mount_overlay(cdir)
    finally:
        os.fchdir(here)
        os.close(here)


class OverlayDriver:
    """Container files as an overlay of the snapshot diffs (see the module docstring)."""

    name = "overlay"

    def create(self, cdir: Path, snapshots: Sequence[Snapshot], store: Store) -> None:
        """Make upper/, work/, merged/ and the lower links; seed the side record."""
        for part in ("upper", "work", "merged", "l"):
            (cdir / part).mkdir(mode=0o755)
        diffs = [s.diff for s in snapshots]
        if not diffs:  # overlay needs a lower directory: an empty one for scratch
            (cdir / "empty").mkdir(mode=0o755)
            diffs = [cdir / "empty"]
        for index, diff in enumerate(diffs):  # bottom first; mounted top first
            os.symlink(os.path.abspath(diff), cdir / "l" / str(index))
        _seed(cdir, snapshots)
        _write_driver(cdir, self.name, made=True)

    def _mount_root(self, cdir: Path) -> None:
        # A forked child may chdir for the short relative paths; the mount it makes is in
        # the shared mount namespace.
        run_in_namespace(lambda: _mount_here(cdir), user=False, mount=False)

    def run(
        self,
        cdir: Path,
        snapshots: Sequence[Snapshot],
        fn: Callable[[Path, OwnershipRecord], T],
    ) -> T:
        """``fn(merged, record)`` on the mounted overlay; the side record is saved after it.

        Root: mounted here (or the persistent mount reused) and unmounted after. Rootless:
        ``fn`` runs in a forked child inside a user and mount namespace (the result must
        pickle; a :class:`BoxwrightError` comes back as the same class).
        """
        merged = cdir / "merged"
        if not _rootless():
            if self.is_mounted(cdir):
                return _call_with_record(fn, merged, cdir)
            self._mount_root(cdir)
            try:
                return _call_with_record(fn, merged, cdir)
            finally:
                self.umount(cdir)

        def inside() -> T:
            _mount_here(cdir)
            return _call_with_record(fn, merged, cdir)

        return run_in_namespace(inside, user=True, mount=True)

    def mount(self, cdir: Path, snapshots: Sequence[Snapshot]) -> Path:
        """Root: a persistent mount on ``cdir/merged``. Rootless: the container becomes a
        copy-driver one (``cdir/driver`` says so) and its rootfs is returned."""
        if not _rootless():
            if not self.is_mounted(cdir):
                self._mount_root(cdir)
            return cdir / "merged"
        self.to_copy(cdir, snapshots)
        return CopyDriver().mount(cdir, snapshots)

    def to_copy(self, cdir: Path, snapshots: Sequence[Snapshot]) -> None:
        """Turn this container into a copy-driver one holding the same changes since create."""
        from boxwright.layer.apply import ApplyOptions, apply_layer  # only a mount turns one

        rootfs = cdir / "rootfs"
        _remove_tree(rootfs)
        merge_overlay_dirs(rootfs, [s.diff for s in snapshots])
        before = TreeSnapshot.take(rootfs)
        record = _record(cdir)
        fd, name = tempfile.mkstemp(prefix=".changes-", suffix=".tar", dir=cdir)
        try:
            with os.fdopen(fd, "w+b") as changes:
                self.write_changes(cdir, snapshots, changes, GenerateOptions())
                changes.seek(0)
                written = apply_layer(rootfs, changes, ApplyOptions(ownership=record)).written
        finally:
            os.unlink(name)
        # The baseline: the state before the changes for what they wrote or removed; the
        # state after for the rest (directories they wrote into have a new ctime only).
        after = TreeSnapshot.take(rootfs).entries
        baseline = {
            path: after[path] if path in after and path not in written else entry
            for path, entry in before.entries.items()
        }
        TreeSnapshot(baseline).save(cdir / SNAPSHOT_FILE)
        _save_record(record)
        _write_driver(cdir, CopyDriver.name)
        for part in ("upper", "work", "merged", "l", "empty"):
            _remove_tree(cdir / part)

    def movable_changes(self, cdir: Path, snapshots: Sequence[Snapshot]) -> Path | None:
        """The upper directory, when it can become the snapshot of the layer just written
        from it as it is (:meth:`SnapshotStore.adopt`); None when it cannot.

        It can when the files hold every owner themselves (root, and no side record in the
        container or its snapshots: a rootless snapshot's record is made by applying its
        layer) and nothing is mounted on it. Its overlay attributes (``origin``, ``impure``)
        stay: the kernel reads them only in an upper directory, and every reader of a
        snapshot leaves ``user.overlay.*`` out but the opaque marker, which means the same
        in both places (``userxattr`` mounts create neither redirects nor metacopy files).
        """
        if _rootless() or self.is_mounted(cdir):
            return None
        if any(s.ownership is not None for s in snapshots) or len(_record(cdir)):
            return None
        return cdir / "upper"

    def renew_changes(self, cdir: Path) -> None:
        """A new, empty upper directory after the old one became a snapshot: the container
        shows its base again (a build drops it and continues from the new image)."""
        (cdir / "upper").mkdir(mode=0o755)

    def umount(self, cdir: Path) -> None:
        """Unmount the persistent view (lazily when busy); nothing to do when not mounted."""
        merged = cdir / "merged"
        if not self.is_mounted(cdir):
            return
        try:
            umount(merged)
        except OSError:
            try:
                umount(merged, MNT_DETACH)
            except OSError as exc:
                raise StoreError(f"cannot unmount {merged}: {exc.strerror or exc}") from exc

    def is_mounted(self, cdir: Path) -> bool:
        return os.path.ismount(cdir / "merged")

    def write_changes(
        self,
        cdir: Path,
        snapshots: Sequence[Snapshot],
        out: IO[bytes],
        options: GenerateOptions,
    ) -> GenerateResult:
        """Every change since create: the upper directory over the snapshot diffs."""
        record = _record(cdir)
        lowers = [s.diff for s in reversed(snapshots)]
        layers = [(s.diff, s.ownership) for s in reversed(snapshots)]
        base = merged_ownership(layers, OwnershipRecord())  # the record at create
        return overlay_changes(
            cdir / "upper", lowers, out, _changes_options(options, record), record, base
        )

    def remove(self, cdir: Path) -> None:
        self.umount(cdir)
        _remove_tree(cdir)


# -- choosing -----------------------------------------------------------------------------------


def driver_by_name(name: str) -> RootfsDriver:
    """The driver called ``name`` ("overlay" or "copy"); :class:`UsageError` otherwise."""
    if name == "overlay":
        return OverlayDriver()
    if name == "copy":
        return CopyDriver()
    raise UsageError(f"unknown rootfs driver {name!r}: choose one of {', '.join(DRIVERS)}")


_probed: dict[tuple[str, int, str], bool] = {}
_PROBE_LOCK = threading.Lock()


def _probe_mount(work: Path) -> None:
    for part in ("lower", "upper", "work", "merged"):
        (work / part).mkdir()
    os.chdir(work)

    mount("overlay", "merged", "overlay", 0, "lowerdir=lower,upperdir=upper,workdir=work,userxattr")
    umount("merged")


def overlay_works(store: Store) -> bool:
    """Whether this user can mount the store's overlays here (probed once, then cached in
    ``R/overlay-probe.json`` for this euid and kernel). Threads that ask at once (a build's
    stages) wait for the one probe."""
    euid, kernel = os.geteuid(), platform.release()
    key = (str(store.root), euid, kernel)
    if key in _probed:
        return _probed[key]
    with _PROBE_LOCK:
        if key not in _probed:
            _probed[key] = _probe(store, euid, kernel)
    return _probed[key]


def _probe(store: Store, euid: int, kernel: str) -> bool:
    """The probe file's answer for ``euid`` and ``kernel``, else a probe mount's (recorded)."""
    cache = store.root / PROBE_FILE
    try:
        doc = json.loads(cache.read_text())
        if doc.get("euid") == euid and doc.get("kernel") == kernel:
            return bool(doc["overlay"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    store.layout.tmp_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="overlay-probe-", dir=store.layout.tmp_dir))
    try:
        run_in_namespace(lambda: _probe_mount(work), user=euid != 0, mount=True)
        works = True
    except StoreError:
        works = False
    finally:
        _remove_tree(work)

    doc = {"euid": euid, "kernel": kernel, "overlay": works}
    atomic_write(cache, json.dumps(doc).encode(), 0o644)  # a unique temporary name per call
    return works


def choose_driver(store: Store, requested: str | None = None) -> RootfsDriver:
    """The driver for a new container: ``requested``, else ``$BOXWRIGHT_DRIVER``, else overlay
    when :func:`overlay_works`, else copy."""
    name = requested or os.environ.get(ENV_DRIVER) or None
    if name is not None:
        return driver_by_name(name)
    return OverlayDriver() if overlay_works(store) else CopyDriver()


__all__ = [
    "DRIVERS",
    "CopyDriver",
    "OverlayDriver",
    "RootfsDriver",
    "choose_driver",
    "driver_by_name",
    "overlay_works",
]
