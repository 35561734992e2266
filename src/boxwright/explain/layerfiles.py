"""What each layer holds, file by file, and the filesystem the layers make together.

Read by streaming each layer's tar once with :class:`~boxwright.layer.tarread.TarReader`:
headers only, file contents skipped, nothing extracted to disk, so memory grows with the
number of entries, never with their size.

The public names (the diff and the explain report build on exactly these):

:class:`FileEntry` (frozen)
    One tar entry: ``path`` (cleaned with :func:`~boxwright.layer.pathsafe.clean_entry_name`,
    relative, no leading ``/``: ``"etc/passwd"``), ``kind`` (``"file"``, ``"dir"``,
    ``"symlink"``, ``"hardlink"``, ``"char"``, ``"block"`` or ``"fifo"``), ``size`` (content
    bytes stored in the layer: 0 for everything but regular files; a hardlink's size is 0,
    its ``linkname`` names the file it shares), ``mode`` (permission bits with setuid, setgid
    and sticky: ``0o4755``; the type is in ``kind``), ``uid``, ``gid``, ``mtime`` (nanoseconds
    since the epoch) and ``linkname`` (a symlink's target verbatim; a hardlink's target
    cleaned like a path; ``""`` otherwise).

:class:`LayerFiles`
    One layer: ``index`` (0 is the base), ``entries`` (tuple of :class:`FileEntry` in tar
    order; the root directory entry ``./`` is not listed), ``whiteouts`` (paths a ``.wh.NAME``
    entry deletes from lower layers, cleaned, in tar order), ``opaque_dirs`` (directories a
    ``.wh..wh..opq`` entry empties of lower-layer content; ``""`` is the root), ``size``
    (bytes of the uncompressed tar, as read) and ``content_size`` (sum of the file sizes).
    ``counts`` maps each kind to its number of entries; ``files`` is ``len(entries)``.

:func:`read_layer_files` ``(stream, index=0) -> LayerFiles``
    From an uncompressed tar stream (read to its end, so a verifying stream checks its
    digest). :func:`image_layer_files` ``(image) -> Iterator[LayerFiles]`` reads every layer
    of an :class:`~boxwright.transport.image.Image`, base first, each verified against its
    blob digest and diff_id, the next one inflating on a worker thread while this one is
    parsed (as ``unpack`` does).

:class:`FileSystemView`
    The merged final filesystem: ``view.files`` is a dict ``path -> (FileEntry, layer
    index)`` of every path that exists after the layers applied so far.
    ``FileSystemView.from_layers(layers)`` applies an iterable of :class:`LayerFiles`;
    ``view.apply(layer) -> LayerChanges`` applies one and says what it did. The rules are
    those of :func:`boxwright.layer.apply.apply_layer`, entry for entry:

    * an entry's parent directories are resolved through symlinks already in the view
      (inside the root: an absolute target restarts at the root, ``..`` stops there), the
      entry itself is never followed, so an entry over a symlink replaces the link;
    * a directory over a directory updates its metadata and keeps its children; any other
      entry over an existing path replaces it (a directory replaced by a file loses its
      whole subtree);
    * ``.wh.NAME`` removes ``NAME`` and everything under it, unless this same layer wrote
      it; ``.wh..wh..opq`` removes everything under its directory that this layer did not
      write (directories holding something this layer wrote stay, and are emptied the
      same way);
    * directories that a layer needs but does not list appear in ``view.dirs`` (implied)
      only, not in ``files``: they have no metadata of their own.

:class:`LayerChanges`
    What applying one layer did to the view: ``added`` (paths new to the view), ``changed``
    (``(path, old entry, old layer)`` for paths that existed in a lower layer and that this
    layer rewrote), ``deleted`` (``(path, old entry, old layer)`` removed by whiteouts, opaque
    directories, or a replacement of a directory by a non-directory), with ``replaced``
    (``changed`` and ``deleted`` together): the lower layers' files this layer shadowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from boxwright.errors import LayerError, UnsafePathError
from boxwright.layer.pathsafe import MAX_SYMLINKS, clean_entry_name
from boxwright.layer.tarread import OPAQUE_WHITEOUT, WHITEOUT_PREFIX, TarEntry, TarReader
from boxwright.oci.readers import Reader, WrappedReader
from boxwright.transport.image import layer_tars

if TYPE_CHECKING:
    from boxwright.transport.image import Image

#: Tar type byte → :attr:`FileEntry.kind`.
KINDS: Final = {
    b"0": "file",
    b"5": "dir",
    b"2": "symlink",
    b"1": "hardlink",
    b"3": "char",
    b"4": "block",
    b"6": "fifo",
}


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of a layer (see the module docstring for each field's meaning)."""

    path: str
    kind: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    linkname: str = ""

    # Written out, not JsonRecord's: mode in octal, linkname only when set.
    def to_dict(self) -> dict[str, object]:
        """A JSON object: mode as an octal string (``"0755"``), mtime in nanoseconds."""
        out: dict[str, object] = {
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "mode": f"{self.mode:04o}",
            "uid": self.uid,
            "gid": self.gid,
            "mtime": self.mtime,
        }
        if self.linkname:
            out["linkname"] = self.linkname
        return out


#: ``on_file`` of :func:`read_layer_files`: sees each regular file with the reader at its content.
FileContentHook = Callable[[FileEntry, TarReader], None]


@dataclass(frozen=True, slots=True)
class LayerFiles:
    """The entries, whiteouts and opaque directories of one layer (see the module docstring)."""

    index: int
    entries: tuple[FileEntry, ...]
    whiteouts: tuple[str, ...] = ()
    opaque_dirs: tuple[str, ...] = ()
    size: int = 0
    content_size: int = 0
    whiteout_at: tuple[int, ...] = ()
    opaque_at: tuple[int, ...] = ()

    @property
    def files(self) -> int:
        """How many entries the layer has (whiteouts not counted)."""
        return len(self.entries)

    @property
    def counts(self) -> dict[str, int]:
        """Entries by kind (only kinds present)."""
        out: dict[str, int] = {}
        for entry in self.entries:
            out[entry.kind] = out.get(entry.kind, 0) + 1
        return out


class _CountingReader(WrappedReader):
    """Counts the bytes read through it (the uncompressed size of a layer)."""

    def __init__(self, stream: Reader) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data


def _check_root_entry(member: TarEntry) -> None:
    """Refuse an entry naming the root directory unless it is a directory."""
    if member.type != b"5":
        raise UnsafePathError(
            f"tar entry {member.name!r} would replace the root directory with a "
            "non-directory; refusing it"
        )


def _whiteout_victim(name: str, parent: str, base: str) -> str | None:
    """The path whiteout ``base`` in ``parent`` deletes; None for aufs metadata
    (``.wh..wh.plnk`` and the like), which apply ignores too."""
    victim = base[len(WHITEOUT_PREFIX) :]
    if victim in ("", ".", ".."):
        raise UnsafePathError(
            f"whiteout {name!r} names no file (it would remove a directory above it); refusing it"
        )
    if victim.startswith(WHITEOUT_PREFIX):
        return None
    return f"{parent}/{victim}" if parent else victim


def _unsupported_type(member: TarEntry) -> LayerError:
    """The error for an entry type no layer holds."""
    return LayerError(
        f"tar entry {member.name!r} has unsupported type {member.type!r}; "
        "layers hold files, directories, links, fifos and devices"
    )


def _file_entry(member: TarEntry, name: str) -> FileEntry:
    """The :class:`FileEntry` of a tar entry (not a whiteout) cleaned to ``name``; raises for
    an entry type no layer holds and a hardlink to the root."""
    kind = KINDS.get(member.type)
    if kind is None:
        raise _unsupported_type(member)
    link = member.linkname
    if kind == "hardlink":
        link = clean_entry_name(link, allow_root=True)
        if not link:
            raise UnsafePathError(f"hardlink {member.name!r} points to the root directory")
    return FileEntry(
        name, kind, member.size, member.mode & 0o7777, member.uid, member.gid, member.mtime_ns, link
    )


def read_layer_files(
    stream: Reader, index: int = 0, on_file: FileContentHook | None = None
) -> LayerFiles:
    """The entries of the uncompressed layer tar ``stream``, read once to its end.

    ``on_file(entry, reader)``, when given, is called for each regular file once its
    :class:`FileEntry` is made, with the :class:`TarReader` positioned at its content: it may
    read that content (``reader.iter_content()``, ``reader.read_content(limit)``) or leave it
    to be skipped. Readers of what a layer's files say (the SBOM's catalogers) use it to see
    the contents in the same single pass.

    Raises :class:`LayerError` for a malformed tar, an unknown entry type, or a whiteout
    naming no file (as applying the layer would); :class:`UnsafePathError` for names no
    layer may hold.
    """
    counter = _CountingReader(stream)
    reader = TarReader(counter)
    entries: list[FileEntry] = []
    whiteouts: list[str] = []
    opaque: list[str] = []
    whiteout_at: list[int] = []
    opaque_at: list[int] = []
    content = 0
    while (member := reader.next()) is not None:
        name = clean_entry_name(member.name, allow_root=True)
        if not name:
            _check_root_entry(member)
            continue
        parent, _, base = name.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            if base == OPAQUE_WHITEOUT:
                opaque.append(parent)
                opaque_at.append(len(entries))
            elif (victim := _whiteout_victim(member.name, parent, base)) is not None:
                whiteouts.append(victim)
                whiteout_at.append(len(entries))
            continue
        entry = _file_entry(member, name)
        content += entry.size
        entries.append(entry)
        if on_file is not None and entry.kind == "file":
            on_file(entry, reader)
    reader.drain()
    return LayerFiles(
        index,
        tuple(entries),
        tuple(whiteouts),
        tuple(opaque),
        counter.count,
        content,
        tuple(whiteout_at),
        tuple(opaque_at),
    )


def image_layer_files(image: Image) -> Iterator[LayerFiles]:
    """Every layer of ``image`` as :class:`LayerFiles`, base first, each read once and
    verified against its blob digest and diff_id (a mismatch raises
    :class:`~boxwright.errors.DigestMismatchError`)."""
    count = len(image.layers)
    if count:
        image.diff_ids  # noqa: B018 - checks diff_ids against the layers before any read
    tars = layer_tars([(image, index) for index in range(count)])
    with closing(tars):
        for index, tar in enumerate(tars):
            yield read_layer_files(tar, index)


@dataclass
class LayerChanges:
    """What applying one layer did to a :class:`FileSystemView` (see the module docstring)."""

    index: int
    added: list[str] = field(default_factory=list)
    changed: list[tuple[str, FileEntry, int]] = field(default_factory=list)
    deleted: list[tuple[str, FileEntry, int]] = field(default_factory=list)

    @property
    def replaced(self) -> list[tuple[str, FileEntry, int]]:
        """Lower-layer entries this layer rewrote or removed."""
        return self.changed + self.deleted


class FileSystemView:
    """The filesystem the layers make, path by path (see the module docstring)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[FileEntry, int]] = {}
        #: directory path → paths directly under it (entries and implied directories)
        self._children: dict[str, set[str]] = {"": set()}
        self._resolved: dict[str, str] = {"": ""}

    @classmethod
    def from_layers(cls, layers: Iterable[LayerFiles]) -> FileSystemView:
        """The view after applying ``layers`` in order."""
        view = cls()
        for layer in layers:
            view.apply(layer)
        return view

    @property
    def dirs(self) -> set[str]:
        """Every directory path that exists (listed or implied), ``""`` for the root."""
        return set(self._children)

    def __contains__(self, path: object) -> bool:
        return path in self.files

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def get(self, path: str) -> tuple[FileEntry, int] | None:
        """The entry at ``path`` and the layer that wrote it, or None."""
        return self.files.get(path)

    # -- resolution ---------------------------------------------------------------------------

    def _resolve_dir(self, rel: str) -> tuple[str, bool]:
        """The canonical path of directory ``rel`` (symlinks in the view followed inside the
        root) and whether it exists; a component that is neither a directory nor a symlink
        raises :class:`LayerError`, as applying the layer would."""
        cached = self._resolved.get(rel)
        if cached is not None:
            return cached, True
        # resolve_in_root's walk (layer.pathsafe) over this in-memory view instead of the disk: the
        # same rules, where a link's target is looked up in the view, not opened.
        pending = [p for p in reversed(rel.split("/")) if p not in ("", ".")]
        canon: list[str] = []
        links = 0
        exists = True
        while pending:
            part = pending.pop()
            if part == "..":
                if canon:
                    canon.pop()
                continue
            key = "/".join([*canon, part])
            found = self.files.get(key)
            if found is not None and found[0].kind == "symlink":
                links += 1
                if links > MAX_SYMLINKS:
                    raise UnsafePathError(f"too many levels of symbolic links resolving {rel!r}")
                target = found[0].linkname
                if target.startswith("/"):
                    canon = []
                pending.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
                continue
            if found is not None and found[0].kind != "dir":
                raise LayerError(f"{key!r} is not a directory, so nothing can be created under it")
            if found is None and key not in self._children:
                exists = False
            canon.append(part)
        result = "/".join(canon)
        if exists:
            self._resolved[rel] = result
        return result, exists

    # -- tree bookkeeping ---------------------------------------------------------------------

    def _link(self, path: str) -> None:
        """Register ``path`` under its parent, creating implied parent directories."""
        children = self._children
        while True:
            parent = path.rpartition("/")[0]
            kids = children.get(parent)
            if kids is not None:
                kids.add(path)
                return
            children[parent] = {path}
            path = parent

    def _remove(self, path: str, changes: LayerChanges, layer: int) -> None:
        """Remove ``path`` and its subtree; lower-layer entries go to ``changes.deleted``."""
        stack = [path]
        while stack:
            current = stack.pop()
            found = self.files.pop(current, None)
            if found is not None and found[1] != layer:
                changes.deleted.append((current, found[0], found[1]))
            kids = self._children.pop(current, None)
            if kids:
                stack.extend(sorted(kids, reverse=True))
        parent = path.rpartition("/")[0]
        siblings = self._children.get(parent)
        if siblings is not None:
            siblings.discard(path)
        self._resolved = {"": ""}

    # -- applying -----------------------------------------------------------------------------

    def apply(self, layer: LayerFiles) -> LayerChanges:
        """Apply ``layer`` on top of the view; return what it added, changed and deleted."""
        state = _LayerState(LayerChanges(layer.index))
        for kind, item in _events(layer):
            if kind == "entry":
                assert isinstance(item, FileEntry)
                self._entry(item, state)
            elif kind == "whiteout":
                assert isinstance(item, str)
                self._whiteout(item, state)
            else:
                assert isinstance(item, str)
                canon = self._existing_dir(item)
                if canon is not None:
                    self._opaque(canon, state)
        return state.changes

    def _existing_dir(self, rel: str) -> str | None:
        """The canonical path of existing directory ``rel``, or None (missing, or under a
        non-directory: a whiteout there has nothing to hide)."""
        if not rel:
            return ""
        try:
            canon, exists = self._resolve_dir(rel)
        except LayerError:
            return None
        return canon if exists and canon in self._children else None

    def _whiteout(self, item: str, state: _LayerState) -> None:
        parent, _, victim = item.rpartition("/")
        canon = self._existing_dir(parent)
        if canon is None:
            return
        path = f"{canon}/{victim}" if canon else victim
        if path in state.written:
            return  # whiteouts only hide lower layers
        if path in self.files or path in self._children:
            self._remove(path, state.changes, state.changes.index)

    def _entry(self, entry: FileEntry, state: _LayerState) -> None:
        index = state.changes.index
        changes = state.changes
        parent, _, base = entry.path.rpartition("/")
        canon = self._resolve_dir(parent)[0] if parent else ""
        path = f"{canon}/{base}" if canon else base
        if path != entry.path:
            entry = _moved(entry, path)
        holders = state.holders
        directory = canon
        while directory not in holders:  # parents this entry needs: held, maybe created
            holders.add(directory)
            if directory not in self._children:
                state.written.add(directory)
            directory = directory.rpartition("/")[0]
        old = self.files.get(path)
        if old is not None:
            old_entry, old_layer = old
            if not (old_entry.kind == "dir" and entry.kind == "dir"):
                if old_entry.kind in ("dir", "symlink"):
                    self._remove(path, changes, index)
                else:
                    del self.files[path]
            if old_layer != index:
                changes.changed.append((path, old_entry, old_layer))
        else:
            if path in self._children and entry.kind != "dir":
                self._remove(path, changes, index)  # an implied directory replaced
            if path not in state.listed:
                changes.added.append(path)
        if entry.kind == "hardlink":
            self._check_hardlink(entry)
        self.files[path] = (entry, index)
        state.written.add(path)
        state.listed.add(path)
        if entry.kind == "dir":
            self._children.setdefault(path, set())
        elif entry.kind == "symlink":
            self._resolved = {"": ""}
        self._link(path)

    def _check_hardlink(self, entry: FileEntry) -> None:
        tparent, _, tbase = entry.linkname.rpartition("/")
        canon = self._existing_dir(tparent)
        target = None
        if canon is not None:
            target = self.files.get(f"{canon}/{tbase}" if canon else tbase)
        if target is None:
            raise LayerError(
                f"hardlink {entry.path!r} points to {entry.linkname!r}, which does not exist "
                "in this layer or below it"
            )
        if target[0].kind == "dir":
            raise UnsafePathError(
                f"hardlink {entry.path!r} points to directory {entry.linkname!r}; "
                "directories cannot be hardlinked"
            )

    def _opaque(self, canon: str, state: _LayerState) -> None:
        for child in sorted(self._children.get(canon, ())):
            if child in state.written or child in state.holders:
                if child in self._children:
                    self._opaque(child, state)
                continue
            self._remove(child, state.changes, state.changes.index)


@dataclass
class _LayerState:
    """What applying one layer tracks: paths it wrote (entries and created parents), paths
    its entries listed, and directories holding something it wrote (as apply does)."""

    changes: LayerChanges
    written: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    holders: set[str] = field(default_factory=lambda: {""})


def _moved(entry: FileEntry, path: str) -> FileEntry:
    return FileEntry(
        path, entry.kind, entry.size, entry.mode, entry.uid, entry.gid, entry.mtime,
        entry.linkname,
    )  # fmt: skip


def _events(layer: LayerFiles) -> Iterator[tuple[str, FileEntry | str]]:
    """The layer's entries, whiteouts and opaque markers in tar order (apply's order matters:
    a whiteout of a lower directory written after entries under it removes them too)."""
    markers = sorted(
        [
            (at, 0, i, "whiteout", p)
            for i, (at, p) in enumerate(_positions(layer.whiteout_at, layer.whiteouts, layer))
        ]
        + [
            (at, 1, i, "opaque", p)
            for i, (at, p) in enumerate(_positions(layer.opaque_at, layer.opaque_dirs, layer))
        ]
    )
    entries = layer.entries
    done = 0
    for at, _, _, kind, path in markers:
        while done < at:
            yield "entry", entries[done]
            done += 1
        yield kind, path
    for entry in entries[done:]:
        yield "entry", entry


def _positions(
    at: tuple[int, ...], paths: tuple[str, ...], layer: LayerFiles
) -> list[tuple[int, str]]:
    """Each marker with the number of entries before it (all of them when not recorded)."""
    if len(at) != len(paths):
        at = (len(layer.entries),) * len(paths)
    return list(zip(at, paths, strict=True))


__all__ = [
    "KINDS",
    "OPAQUE_WHITEOUT",
    "WHITEOUT_PREFIX",
    "FileContentHook",
    "FileEntry",
    "FileSystemView",
    "LayerChanges",
    "LayerFiles",
    "image_layer_files",
    "read_layer_files",
]
