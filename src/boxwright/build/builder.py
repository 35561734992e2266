"""The library face of step-by-step builds: :class:`Builder`, buildah's verbs on one object.

::

    from boxwright.build import Builder

    with Builder.from_image("oci:base:latest", name="app") as b:
        b.copy(["app.py", "lib/"], "/srv/", chown="1000:1000", chmod="0644")
        b.config(entrypoint=["python3", "/srv/app.py"], env=["MODE=prod"], port=["8080"])
        image = b.commit("app:1", timestamp=0)

``b.run(["sh", "-c", "make install"])`` runs a command in it, as ``buildah run``.

A builder is a working container of the local store (:mod:`boxwright.store.containers`): the
files live behind the container's rootfs driver, the pending config and history in its record,
so a builder made in one process can be continued in another with :meth:`Builder.attach`
(that is how the ``boxwright container ...`` commands work). Used as a context manager, a
builder made by :meth:`from_image` removes its working container on exit, unless it was made
with ``keep=True``; an attached builder is never removed on exit.

Pending manifest annotations (``config(annotation=...)``) are kept beside the container's files
in ``annotations.json`` (the record has no place for them) and given to the commit.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxwright.build.configedit import ConfigChanges, apply_annotations, apply_changes
from boxwright.build.files import (
    CopyResult,
    copy_into,
    download,
    expand_sources,
    extract_archive,
    is_archive,
    parse_chmod,
    resolve_owner,
)
from boxwright.build.sources import SourceRoot, is_url
from boxwright.errors import StoreError, UsageError
from boxwright.layer.ownership import owners_in_side_record
from boxwright.layer.pathsafe import clean_entry_name, resolve_in_root
from boxwright.oci.config import ImageConfig, created_time
from boxwright.store.store import Store
from boxwright.transport.atomic import atomic_write

if TYPE_CHECKING:
    from boxwright.layer.ownership import OwnershipRecord
    from boxwright.oci.platform import Platform
    from boxwright.store.containers import ContainerRecord
    from boxwright.store.images import ImageRecord

ANNOTATIONS_FILE = "annotations.json"


def _rootless() -> bool:
    """Whether this process must keep owners in the side record (it cannot chown)."""
    return owners_in_side_record()


class Builder:
    """A working container with buildah's verbs: copy, add, run, config, commit, mount, remove."""

    def __init__(self, store: Store, container_id: str, *, keep: bool, attached: bool) -> None:
        """Use :meth:`from_image` or :meth:`attach`; this wraps an existing container."""
        # A handle on a stored container, not a value: its arguments are kept as given.
        self.store = store
        self._id = container_id
        self.keep = keep
        self.attached = attached
        self._removed = False

    # -- making and finding ---------------------------------------------------------------------

    @classmethod
    def from_image(
        cls,
        image: str | None,
        *,
        name: str | None = None,
        store: Store | None = None,
        root: Path | str | None = None,
        driver: str | None = None,
        keep: bool = False,
        platform: Platform | None = None,
    ) -> Builder:
        """A new working container from ``image`` (``None`` or ``"scratch"``: empty).

        ``image`` is a stored image (name or ID) or any transport reference (``oci:DIR:TAG``,
        ``docker://...``), pulled into the store first. ``root`` opens the store there when
        no ``store`` is given; ``driver`` forces ``"overlay"`` or ``"copy"``; ``platform``
        picks the image out of an index or a manifest list (default: this machine's).
        """
        store = store if store is not None else _open_store(root)
        record = store.containers.create(image, name, driver, platform=platform)
        return cls(store, record.id, keep=keep, attached=False)

    @classmethod
    def attach(
        cls, name_or_id: str, store: Store | None = None, *, root: Path | str | None = None
    ) -> Builder:
        """The builder of an existing working container (never removed on exit)."""
        store = store if store is not None else _open_store(root)
        record = store.containers.get(name_or_id)
        return cls(store, record.id, keep=True, attached=True)

    # -- what it is -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The container's 64-hex ID."""
        return self._id

    @property
    def record(self) -> ContainerRecord:
        """The container's current record (read fresh from the store)."""
        return self.store.containers.get(self._id)

    @property
    def name(self) -> str:
        """The container's name."""
        return self.record.name

    @property
    def directory(self) -> Path:
        """The container's directory in the store (driver files, side records)."""
        return self.store.layout.container_dir(self._id)

    @property
    def annotations(self) -> dict[str, str]:
        """The manifest annotations the next commit writes."""
        try:
            data = json.loads((self.directory / ANNOTATIONS_FILE).read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise StoreError(
                f"{self.directory / ANNOTATIONS_FILE} is corrupt ({error}): remove it or "
                "set the annotations again"
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise StoreError(f"{self.directory / ANNOTATIONS_FILE} is not a string map")
        return {str(k): v for k, v in data.items()}

    def _workdir(self) -> str:
        inner = self.record.config.get("config")
        workdir = inner.get("WorkingDir") if isinstance(inner, dict) else None
        return workdir if isinstance(workdir, str) and workdir else "/"

    def _add_note(self, created_by: str) -> None:
        note = {"created": created_time(), "created_by": created_by, "empty_layer": True}
        self.store.containers.edit(self._id, lambda record: {"history": [*record.history, note]})

    # -- files ----------------------------------------------------------------------------------

    def copy(
        self,
        sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        dest: str,
        *,
        chown: str | tuple[int, int] | None = None,
        chmod: str | int | None = None,
        contents_only: bool = True,
        add_history: bool = False,
        source_root: SourceRoot | None = None,
    ) -> CopyResult:
        """Copy host files into the container, as ``buildah copy`` (see :mod:`.files`).

        ``sources`` are host paths or globs; ``dest`` is inside the container, relative to
        its working directory when not absolute. ``chown`` is ``USER[:GROUP]`` by name or
        number (names from the container's own /etc/passwd and /etc/group); ``chmod`` an
        octal mode. ``add_history`` records an empty-layer history note, as buildah's
        ``--add-history``. ``source_root``: the root file system the sources are in (a build
        context, a stage or an image; :class:`~.sources.SourceRoot`). Returns what was written
        and the content digest.
        """
        paths = expand_sources(_as_list(sources))
        mode = parse_chmod(chmod)
        workdir, rootless = self._workdir(), _rootless()

        def work(root: Path, record: OwnershipRecord) -> CopyResult:
            owner = resolve_owner(root, chown)
            return copy_into(
                root,
                record,
                paths,
                dest,
                workdir=workdir,
                owner=owner,
                chmod=mode,
                contents_only=contents_only,
                rootless=rootless,
                source_root=source_root,
            )

        result = self.store.containers.with_rootfs(self._id, work)
        if add_history:
            self._add_note(f"/bin/sh -c #(nop) COPY {result.digest} in {dest} ")
        return result

    # copy's parameters and ADD's own (checksum, extract): ADD also fetches URLs and unpacks
    # archives, so buildah's two verbs stay two methods.
    def add(
        self,
        sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        dest: str,
        *,
        chown: str | tuple[int, int] | None = None,
        chmod: str | int | None = None,
        checksum: str | None = None,
        extract: bool = True,
        add_history: bool = False,
    ) -> list[str]:
        """Add files, archives and URLs, as ``buildah add`` / ``ADD``; return what was written.

        A local tar archive (plain, gzip, zstd, xz or bzip2) is extracted into ``dest`` (a
        directory) unless ``extract`` is false; an ``http(s)://`` URL is downloaded into the
        file ``dest`` (or ``dest/NAME`` for a directory destination), mode 0600 unless
        ``chmod`` says otherwise, verified against ``checksum`` (``sha256:<hex>``) when given;
        anything else is copied as :meth:`copy` copies it.
        """
        items = [os.fspath(s) for s in _as_list(sources)]
        if checksum is not None and not all(is_url(s) for s in items):
            raise UsageError("--checksum applies to URL sources only")
        mode = parse_chmod(chmod)
        workdir, rootless = self._workdir(), _rootless()
        with self.store.writing():
            staging = Path(tempfile.mkdtemp(prefix="add-", dir=_tmp_dir(self.store)))
            try:
                plan = _add_plan(items, staging, checksum=checksum, extract=extract)
                if len(plan) > 1 and not (dest.endswith("/") or self._is_dir(dest)):
                    raise UsageError(
                        f"adding {len(plan)} sources needs a directory destination: "
                        f"end {dest!r} with '/'"
                    )

                def work(root: Path, record: OwnershipRecord) -> list[str]:
                    owner = resolve_owner(root, chown)
                    return _write_plan(root, record, plan, dest, owner, mode, workdir, rootless)

                written = self.store.containers.with_rootfs(self._id, work)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        if add_history:
            self._add_note(f"/bin/sh -c #(nop) ADD {' '.join(items)} in {dest} ")
        return written

    def _is_dir(self, dest: str) -> bool:
        workdir = self._workdir()

        def work(root: Path, _record: OwnershipRecord) -> bool:
            text = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
            rel = clean_entry_name(text, allow_root=True)
            return resolve_in_root(root, rel, follow_last=True).is_dir()

        return bool(self.store.containers.with_rootfs(self._id, work))

    # -- run ------------------------------------------------------------------------------------

    def run(
        self,
        args: Sequence[str],
        *,
        env: Sequence[str] = (),
        volumes: Sequence[str] = (),
        workdir: str | None = None,
        user: str | None = None,
        network: str = "host",
        terminal: bool = False,
        isolation: str = "native",
        output: int | tuple[int, int] | None = None,
    ) -> int:
        """Run ``args`` in the container, as ``buildah run``; return its exit code.

        The command runs as given (the image's entrypoint is not prepended), with the
        pending config's environment, user and working directory unless ``env`` (``K=V``),
        ``user`` or ``workdir`` say otherwise; ``volumes`` are ``SRC:DST[:ro]`` binds. What
        it changes stays in the container, so the next :meth:`commit` holds it. Its output
        goes to the caller's stdout and stderr, or to ``output``: one file descriptor for
        both, or a ``(stdout, stderr)`` pair (:attr:`RunOptions.output`). Raises
        :class:`~boxwright.errors.RunError` when the command cannot be started.
        """
        if not args:
            raise UsageError("give the command to run in the container")
        # the runtime is loaded by what runs something, not by every build (a cached one)
        from boxwright.runtime.container import run_in_container
        from boxwright.runtime.spec import Mount, RunOptions

        options = RunOptions(
            args=tuple(args),
            entrypoint=(),
            env=tuple(env),
            workdir=workdir,
            user=user,
            volumes=tuple(Mount.parse(v) for v in volumes),
            network=network,
            terminal=terminal,
            output=output,
        )
        return run_in_container(self.store, self._id, options, isolation)

    # -- config ---------------------------------------------------------------------------------

    def config(
        self,
        changes: ConfigChanges | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        add_history: bool = False,
        **fields: Any,
    ) -> dict[str, Any]:
        """Change the pending image config, as ``buildah config``; return the new config.

        Give a :class:`ConfigChanges` or its fields as keywords (``env=["A=1"]``,
        ``cmd=["/app"]``, ``port="8080"``, ``label="k=v"``, ``annotation=...``,
        ``created_by=...``...), or both (the keywords apply after). ``environ`` is where a
        bare ``env`` name takes its value. ``created_by`` and ``history_comment`` describe
        the next commit's layer; ``annotation`` edits the manifest annotations.
        """
        wanted = changes if changes is not None else ConfigChanges()
        if fields:
            wanted = wanted.merged(ConfigChanges.from_fields(**fields))

        def change(record: ContainerRecord) -> dict[str, Any]:
            # Called under the store's metadata lock: the annotations file is edited there too.
            if wanted.annotation:
                annotations = apply_annotations(self.annotations, wanted)
                data = json.dumps(annotations).encode()
                atomic_write(self.directory / ANNOTATIONS_FILE, data, 0o600)
            update: dict[str, Any] = {}
            if wanted.changes_config():
                config = ImageConfig.from_data(record.config)
                update["config"] = apply_changes(config, wanted, environ=environ).data
            history = _history_with(record, wanted, add_history)
            if history != [dict(h) for h in record.history]:
                update["history"] = history
            return update

        return self.store.containers.edit(self._id, change).config

    # -- commit, mount, remove ------------------------------------------------------------------

    def commit(
        self,
        name: str | None = None,
        *,
        squash: bool = False,
        format: str | None = None,
        timestamp: int | None = None,
        compression: str = "gzip",
    ) -> ImageRecord:
        """Write what changed as a new image named ``name`` (one new layer, new config).

        ``format`` is ``"oci"`` or ``"docker"`` (default: the base image's); ``timestamp``
        (seconds since the epoch) makes the result reproducible: it is every new ``created``
        time and clamps the new layer's mtimes. The container is not reset: a second commit
        again holds every change since the container was made, as buildah's does.
        """
        return self.store.containers.commit(
            self._id,
            name,
            squash=squash,
            format=format,
            timestamp=timestamp,
            compression=compression,
            annotations=self.annotations or None,
        )

    def mount(self) -> Path:
        """A host path where the container's files can be edited, until :meth:`umount`."""
        return self.store.containers.mount(self._id)

    def umount(self) -> None:
        """Undo :meth:`mount` (nothing happens when the container is not mounted)."""
        self.store.containers.umount(self._id)

    def remove(self) -> None:
        """Delete the working container: its files and its record."""
        self.store.containers.remove(self._id)
        self._removed = True

    def __enter__(self) -> Builder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self.keep or self.attached or self._removed:
            return
        try:
            self.remove()
        except Exception:
            if exc_type is None:
                raise  # nothing else to report: the cleanup failure is the error

    def __repr__(self) -> str:
        return f"Builder({self._id[:12]}, store={self.store.root})"


def _open_store(root: Path | str | None) -> Store:
    return Store(root)


def _tmp_dir(store: Store) -> Path:
    tmp = store.layout.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def _history_with(
    record: ContainerRecord, wanted: ConfigChanges, add_history: bool
) -> list[dict[str, Any]]:
    """The record's pending history notes after ``wanted``: ``created_by``/``history_comment``
    describe the next layer's entry; ``add_history`` adds an empty-layer note for the change."""
    history = [dict(h) for h in record.history]
    if wanted.created_by is not None or wanted.history_comment is not None:
        layer_notes = [h for h in history if not h.get("empty_layer")]
        note = layer_notes[-1] if layer_notes else {}
        if not layer_notes:
            history.append(note)
        if wanted.created_by is not None:
            note["created_by"] = wanted.created_by
        if wanted.history_comment is not None:
            note["comment"] = wanted.history_comment
    if add_history and wanted.changes_config():
        history.append(
            {
                "created": created_time(),
                "created_by": "/bin/sh -c #(nop) " + _describe(wanted),
                "empty_layer": True,
            }
        )
    return history


def _as_list(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> Sequence[str | os.PathLike[str]]:
    if isinstance(sources, str | os.PathLike):
        return [sources]
    return list(sources)


def _describe(changes: ConfigChanges) -> str:
    """A short Containerfile-like description of config changes, for a history note."""
    parts: list[str] = []
    for label, values in (
        ("ENV", changes.env),
        ("EXPOSE", changes.port),
        ("VOLUME", changes.volume),
        ("LABEL", changes.label),
    ):
        if values:
            parts.append(f"{label} {' '.join(values)}")
    for label, value in (
        ("ENTRYPOINT", changes.entrypoint),
        ("CMD", changes.cmd),
        ("WORKDIR", changes.workingdir),
        ("USER", changes.user),
        ("STOPSIGNAL", changes.stop_signal),
    ):
        if value is not None:
            text = value if isinstance(value, str) else json.dumps(list(value))
            parts.append(f"{label} {text}")
    return "; ".join(parts) or "CONFIG"


def _add_plan(
    items: Sequence[str], staging: Path, *, checksum: str | None, extract: bool
) -> list[tuple[str, Path]]:
    """What ``add`` writes, in order: ``("extract", archive)`` or ``("copy", path)``; each URL
    downloaded first into ``staging`` (under its own name, with its Last-Modified time)."""
    plan: list[tuple[str, Path]] = []
    for item in items:
        if is_url(item):
            path, filename, mtime = download(item, staging, checksum=checksum)
            named = staging / f"url-{len(plan)}"
            named.mkdir()
            final = named / filename
            path.rename(final)
            if mtime is not None:
                os.utime(final, (mtime, mtime))
            plan.append(("copy", final))
        else:
            for path in expand_sources([item]):
                plan.append(("extract" if extract and is_archive(path) else "copy", path))
    return plan


def _write_plan(
    root: Path,
    record: OwnershipRecord,
    plan: Sequence[tuple[str, Path]],
    dest: str,
    owner: tuple[int, int],
    mode: int | None,
    workdir: str,
    rootless: bool,
) -> list[str]:
    """Write :func:`_add_plan`'s items into the rootfs ``root``; return what was written."""
    out: list[str] = []
    for kind, path in plan:
        if kind == "extract":
            out += extract_archive(root, record, path, dest, workdir=workdir, rootless=rootless)
        else:
            out += copy_into(
                root, record, [path], dest, workdir=workdir, owner=owner, chmod=mode,
                rootless=rootless,
            ).written  # fmt: skip
    return out


__all__ = ["ANNOTATIONS_FILE", "Builder"]
