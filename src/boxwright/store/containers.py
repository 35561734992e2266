"""Working containers: a writable root file system over an image's snapshots, and its record.

A working container is what ``buildah from`` makes: the layers of an image (or nothing, for
``scratch``) seen through a rootfs driver, plus the pending image config and history that the
next ``commit`` writes. The record lives in ``R/containers.json``, replaced whole (temp file,
fsync, rename) while the metadata lock is held, so parallel processes never lose a record or
an update; the files live in ``R/containers/<id>/``, managed by the driver recorded for the
container (see :mod:`boxwright.store.rootfs`).

Names follow buildah: ``<short image name>-working-container``, then ``-1``, ``-2``... when
taken, and ``working-container`` for ``scratch``. A container is found by exact name, full
ID, or a unique ID prefix.

``history`` holds the pending history notes (OCI history objects) that the builder adds for
``copy``/``add``/``run`` steps: notes with ``"empty_layer": true`` become entries before the
new layer's entry at commit (as buildah's ``--add-history`` writes them), and the last note
without it describes the new layer itself (its ``created_by`` and ``comment``); see
:mod:`boxwright.store.commit`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from boxwright.errors import (
    BoxwrightError,
    ImageNotFoundError,
    StoreError,
    UsageError,
)
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import remove_tree
from boxwright.oci import mediatype
from boxwright.oci.config import ImageConfig, created_time
from boxwright.oci.platform import Platform
from boxwright.store.containerrecord import (
    FORMAT,
    VERSION,
    ContainerRecord,
    find_container,
    read_container_records,
)
from boxwright.store.layout import spread_subtrees
from boxwright.store.metadata import write_records
from boxwright.store.names import normalize_name
from boxwright.store.platformimage import image_for_platform
from boxwright.store.rootfs import DRIVERS, choose_driver, driver_by_name
from boxwright.transport.reference import TRANSPORTS

if TYPE_CHECKING:
    from boxwright.store.images import ImageRecord
    from boxwright.store.rootfs import RootfsDriver
    from boxwright.store.snapshots import Snapshot
    from boxwright.store.store import Store

T = TypeVar("T")
_Records = list["ContainerRecord"]
_Snapshots = list["Snapshot"]
_Names = list[str]

SCRATCH = "scratch"
SUFFIX = "working-container"
#: Fields ``update`` may change; id, driver (the driver's own truth) and created stay.
UPDATABLE = frozenset({"name", "config", "manifest_format", "history", "mounted"})


def short_image_name(image: str) -> str:
    """The prefix of a container name for ``image``, as buildah derives it.

    ``image`` is the base image's first name, or what was asked for when the image has none.
    ``docker.io/library/busybox:1`` gives ``busybox``, ``localhost:5000/app@sha256:...``
    gives ``app`` (buildah 1.28 gives ``localhost``: it cuts at the first colon before the
    last slash); an image ID ``sha256:HEX`` gives the first 12 digits; a transport
    reference of an unnamed image (``dir:/tmp/img``) gives the transport's name (``dir``).
    """
    transport, sep, rest = image.partition(":")
    if sep and transport in TRANSPORTS and transport != "store":
        return transport
    if transport == "sha256" and re.fullmatch(r"[0-9a-f]{64}", rest):
        return rest[:12]
    text = image.split("@", 1)[0]
    last = text.rstrip("/").rsplit("/", 1)[-1]
    return last.split(":", 1)[0] or "image"


class ContainerStore:
    """The working containers of one store (``store.containers``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._layout = store.layout

    # -- records --------------------------------------------------------------------------------

    def list(self) -> _Records:
        """Every container of the store, oldest first (read without a lock: renames are atomic)."""
        return read_container_records(self._layout.containers_file)

    def _save(self, records: _Records) -> None:
        found = [r.to_json() for r in records]
        write_records(self._layout.containers_file, FORMAT, VERSION, "containers", found)

    def get(self, name_or_id: str) -> ContainerRecord:
        """The container named ``name_or_id``, or with that ID or unique ID prefix."""
        return find_container(self.list(), name_or_id)

    @contextmanager
    def _editing(self) -> Iterator[_Records]:
        """The records, under the metadata lock; saved if the block changed the list."""
        with self._store.metadata_lock():
            records = self.list()
            before = list(records)
            yield records
            if records != before:
                self._save(records)

    def update(self, name_or_id: str, **changes: Any) -> ContainerRecord:
        """Change fields of a record (name, config, manifest_format, history, mounted).

        Read, changed and written under the metadata lock, so two processes updating the
        same store never lose each other's change.
        """
        return self.edit(name_or_id, lambda _current: changes)

    def pending(self, name_or_id: str, **changes: Any) -> ContainerRecord:
        """The record with ``changes`` (the fields :meth:`update` takes) applied but not
        written: what a commit reads when the container is dropped right after it (a build's
        step), rather than replacing ``containers.json`` (two fsyncs) only to remove the
        record next. A process killed in between leaves the record as it was."""
        changes = dict(changes)
        _check_changes(changes)
        return dataclasses.replace(self.get(name_or_id), **changes)

    def edit(
        self,
        name_or_id: str,
        change: Callable[[ContainerRecord], Mapping[str, Any]],
    ) -> ContainerRecord:
        """Change a record by what ``change`` computes from its current state.

        ``change`` is called under the metadata lock with the record as it is now and returns
        the fields to set (as :meth:`update` takes them), so a read-modify-write such as
        ``container config --env`` never loses a change another process made in between.
        """
        with self._editing() as records:
            current = find_container(records, name_or_id)
            changes = dict(change(current))
            _check_changes(changes)
            new_name = changes.get("name")
            if new_name is not None and new_name != current.name:
                _check_name(new_name)
                if any(r.name == new_name for r in records):
                    raise StoreError(f'the container name "{new_name}" is already in use')
            new = dataclasses.replace(current, **changes)
            records[records.index(current)] = new
        return new

    # -- creating and removing --------------------------------------------------------------------

    def create(
        self,
        image: str | None,
        name: str | None = None,
        driver: str | None = None,
        *,
        platform: Platform | None = None,
        config: dict[str, Any] | None = None,
        replacing: str | None = None,
    ) -> ContainerRecord:
        """A new working container from ``image`` (a stored image, a transport reference that
        is pulled first, or ``None``/``"scratch"``), named ``name`` or as buildah names it.
        ``platform`` picks the image out of an index or a manifest list of the store (default:
        this machine's; a stored image must serve it).

        ``config`` replaces the base image's config in the record (a build's stage config),
        written with the record itself rather than by an update after it. ``replacing``: a
        container to remove, its record in the same write of ``containers.json`` that adds
        this one (a build's next step; as :meth:`remove`, its files go first).

        ``driver`` forces "overlay" or "copy" (default: ``$BOXWRIGHT_DRIVER``, else what the
        kernel allows). Raises :class:`ImageNotFoundError` when the image is nowhere,
        :class:`StoreError` when ``name`` is taken.
        """
        if name is not None:
            self._check_new_name(name)
        with self._store.writing():
            base, pulled = self._resolve_base(image, platform)
            chosen = choose_driver(self._store, driver)
            old = self._remove_files(replacing) if replacing is not None else None
            snapshots = self._store.snapshots.ensure(base) if base is not None else []
            base_config, manifest_format = self._base_config(base)
            container_id, cdir = self._new_directory()
            try:
                chosen.create(cdir, snapshots, self._store)
                image_name, prefix = _names_of(image, base, pulled)
                with self._editing() as records:
                    if old is not None:
                        records[:] = [r for r in records if r.id != old.id]
                    record = ContainerRecord(
                        id=container_id,
                        name=_claim_name(records, name, prefix),
                        image_id=base.id if base is not None else None,
                        image_name=image_name,
                        layer_chain=tuple(str(s.chain_id) for s in snapshots),
                        driver=driver_of(cdir, chosen.name),
                        config=base_config if config is None else config,
                        manifest_format=manifest_format,
                        created=created_time(),
                    )
                    records.append(record)
            except BaseException:
                _discard(chosen, cdir)
                raise
        return record

    def _new_directory(self) -> tuple[str, Path]:
        """A new container's ID and its directory, made empty and private (``0700``)."""
        container_id = secrets.token_hex(32)
        cdir = self._layout.container_dir(container_id)
        cdir.parent.mkdir(parents=True, exist_ok=True)
        spread_subtrees(cdir.parent)
        cdir.mkdir(mode=0o700)
        return container_id, cdir

    def _check_new_name(self, name: str) -> None:
        """Refuse a container name that is malformed or taken."""
        _check_name(name)
        if any(r.name == name for r in self.list()):
            raise StoreError(f'the container name "{name}" is already in use')

    def _resolve_base(
        self, image: str | None, platform: Platform | None
    ) -> tuple[ImageRecord | None, _Names]:
        """The stored image ``image`` names (for ``platform``), and the names a pull gave it:
        a transport reference is pulled in first; no image (and no names) for ``None`` and
        ``scratch``."""
        if image is None or image == SCRATCH:
            return None, []
        prefix, sep, _ = image.partition(":")
        if sep and prefix in TRANSPORTS and prefix != "store":
            from boxwright.store.pulling import pull_named

            return pull_named(self._store, image, platform=platform)
        name = image[len("store:") :] if image.startswith("store:") else image
        found = image_for_platform(self._store, name, platform)
        if found is not None:
            return self._store.images.get(found), []
        if self._store.images.exists(name):
            have = self._store.images.config(self._store.images.get(name)).platform()
            raise ImageNotFoundError(
                f"image {name!r} is for {have}, not {platform}; pull that platform "
                f"(boxwright pull --platform {platform} REF)"
            )
        try:
            return self._store.images.get(name), []
        except ImageNotFoundError as exc:
            raise ImageNotFoundError(
                f"{exc}; pull it first (boxwright pull REF) or name a transport reference "
                "such as oci:DIR:TAG or docker://HOST/REPO:TAG"
            ) from exc

    def _base_config(self, base: ImageRecord | None) -> tuple[dict[str, Any], str]:
        """The base image's config JSON and manifest format (a fresh config for scratch)."""
        if base is None:
            config = ImageConfig.new(Platform.host())
            return json.loads(config.raw), "oci"
        image_config = self._store.images.config(base)
        fmt = "docker" if base.manifest_media_type == mediatype.DOCKER_MANIFEST else "oci"
        return json.loads(image_config.raw), fmt

    def remove(self, name_or_id: str) -> None:
        """Unmount and delete the container: its files, then its record."""
        record = self._remove_files(name_or_id)
        with self._editing() as records:
            records[:] = [r for r in records if r.id != record.id]

    def _remove_files(self, name_or_id: str) -> ContainerRecord:
        """Unmount and delete the container's files (its record stays); its record."""
        record = self.get(name_or_id)
        cdir = self._layout.container_dir(record.id)
        if cdir.exists():
            driver = self._driver(record)
            if driver.is_mounted(cdir):
                driver.umount(cdir)
            driver.remove(cdir)
            remove_tree(cdir)
        return record

    # -- the files ----------------------------------------------------------------------------

    def _driver(self, record: ContainerRecord) -> RootfsDriver:
        return driver_by_name(record.driver)

    def snapshots(self, record: ContainerRecord) -> _Snapshots:
        """The base snapshots of ``record``, bottom first."""
        return [self._store.snapshots.get(c) for c in record.layer_chain]

    def directory(self, name_or_id: str) -> Path:
        """The container's directory ``R/containers/<id>/`` (driver specific content)."""
        return self._layout.container_dir(self.get(name_or_id).id)

    def with_rootfs(self, name_or_id: str, fn: Callable[[Path, OwnershipRecord], T]) -> T:
        """Run ``fn(rootfs, ownership)`` on a writable view of the container's files.

        The side record is saved after ``fn`` returns. For a rootless overlay container,
        ``fn`` runs in a forked child inside a user and mount namespace: its result must
        pickle, and an exception comes back as the same :class:`BoxwrightError` class.
        """
        record = self.get(name_or_id)
        cdir = self._layout.container_dir(record.id)
        return self._driver(record).run(cdir, self.snapshots(record), fn)

    def ownership(self, name_or_id: str) -> OwnershipRecord:
        """The container's rootless side record (owners, modes, devices it could not write)."""
        return OwnershipRecord.load(self.directory(name_or_id) / "ownership.json")

    def mount(self, name_or_id: str) -> Path:
        """A path where the container's files can be edited directly, until :meth:`umount`.

        A rootless overlay container cannot be mounted where the caller sees it: the driver
        then turns it into a copy-driver container, and the record follows.
        """
        record = self.get(name_or_id)
        cdir = self._layout.container_dir(record.id)
        path = self._driver(record).mount(cdir, self.snapshots(record))
        driver = driver_of(cdir, record.driver)
        with self._editing() as records:
            current = find_container(records, record.id)
            records[records.index(current)] = dataclasses.replace(
                current, driver=driver, mounted=True
            )
        return path

    def umount(self, name_or_id: str) -> None:
        """Undo :meth:`mount` (nothing happens for a container that is not mounted)."""
        record = self.get(name_or_id)
        cdir = self._layout.container_dir(record.id)
        driver = self._driver(record)
        if driver.is_mounted(cdir):
            driver.umount(cdir)
        if record.mounted:
            self.update(record.id, mounted=False)

    # The keywords of commit_container again: this is its entry point by container name.
    def commit(
        self,
        name_or_id: str,
        name: str | None,
        *,
        squash: bool = False,
        format: str | None = None,
        timestamp: int | None = None,
        created_by: str | None = None,
        compression: str = "gzip",
        annotations: dict[str, str] | None = None,
        clamp_mtime: bool = True,
        base_comment: bool = True,
        history_entry: bool = True,
        hand_over: bool = False,
    ) -> ImageRecord:
        """Write what changed in the container as a new image (see :func:`commit_container`).

        The commit machinery (layer generation, streams, apply) is imported here: a run, a
        listing or a removal opens this store and never commits."""
        from boxwright.store.commit import commit_container

        return commit_container(
            self._store,
            self.get(name_or_id),
            name,
            squash=squash,
            format=format,
            timestamp=timestamp,
            created_by=created_by,
            compression=compression,
            annotations=annotations,
            clamp_mtime=clamp_mtime,
            base_comment=base_comment,
            history_entry=history_entry,
            hand_over=hand_over,
        )


def _check_changes(changes: dict[str, Any]) -> None:
    """Refuse fields a record update may not set; normalize the history to dicts."""
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise UsageError(
            f"cannot update container field(s) {', '.join(unknown)}: "
            f"updatable are {', '.join(sorted(UPDATABLE))}"
        )
    if "manifest_format" in changes:
        changes["manifest_format"] = mediatype.format_name(changes["manifest_format"])
    if "history" in changes:
        changes["history"] = tuple(dict(h) for h in changes["history"])


_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
"""podman's rule for container names: an ASCII letter or digit, then letters, digits and
``_.-`` (so no control character, slash or space ever reaches a table or a path)."""


def _check_name(name: str) -> None:
    if _NAME.fullmatch(name) is None:
        raise UsageError(
            f"invalid container name {name!r}: use letters, digits and '_.-', "
            "starting with a letter or digit"
        )


def _claim_name(records: _Records, asked: str | None, prefix: str) -> str:
    """The name a new container takes among ``records``: ``asked`` (:class:`StoreError` when
    one of them has it), else the first of buildah's names from ``prefix`` that is free."""
    taken = {r.name for r in records}
    if asked is not None and asked in taken:
        raise StoreError(f'the container name "{asked}" is already in use')
    return asked if asked is not None else _free_name(prefix, taken)


def _free_name(prefix: str, taken: set[str]) -> str:
    """buildah's rule: ``prefix``, else ``prefix-1``, ``prefix-2``..."""
    if prefix not in taken:
        return prefix
    n = 1
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"


def _names_of(
    image: str | None, base: ImageRecord | None, pulled: _Names
) -> tuple[str | None, str]:
    """The image name a new container records (None from scratch) and the prefix of the
    name buildah would give it (``IMAGE-working-container``, or ``working-container``)."""
    if base is None:
        return None, SUFFIX
    image_name = _display_name(image or "", base, pulled)
    return image_name, f"{short_image_name(image_name)}-{SUFFIX}"


def _display_name(asked: str, base: ImageRecord, pulled: list[str]) -> str:
    """The image name a container remembers (buildah's ``FromImage``).

    The stored name that ``asked`` resolved to; for a transport reference, the last name its
    pull gave (``pulled``); else the image's newest name (buildah takes the first name of the
    image, and containers/storage puts the names added last first); else what was asked.
    """
    newest = base.names[-1] if base.names else asked
    prefix, sep, _ = asked.partition(":")
    if sep and prefix in TRANSPORTS and prefix != "store":
        return next((n for n in reversed(pulled) if n in base.names), newest)
    asked = asked.removeprefix("store:")
    try:
        normalized = normalize_name(asked)
    except BoxwrightError:
        normalized = asked
    if normalized in base.names:
        return normalized
    for name in base.names:  # a short name: "busybox" for docker.io/library/busybox:latest
        if short_image_name(name) == short_image_name(asked):
            return name
    return newest


def driver_of(cdir: Path, default: str) -> str:
    """The driver a container's files are managed by: the driver's own ``driver`` file wins;
    ``default`` (the record's) when the file is missing or names no driver (a new
    container's file is written without fsync: a power failure may empty it)."""
    try:
        name = (cdir / "driver").read_text(errors="replace").strip()
    except FileNotFoundError:
        return default
    return name if name in DRIVERS else default


def _discard(driver: RootfsDriver, cdir: Path) -> None:
    """Undo a half-made container directory; an error here must not hide the first one."""
    try:
        if driver.is_mounted(cdir):
            driver.umount(cdir)
        driver.remove(cdir)
    except (BoxwrightError, OSError):
        pass
    with suppress(OSError):
        remove_tree(cdir)


__all__ = ["ContainerRecord", "ContainerStore", "short_image_name"]
