"""Where a copy's sources come from, before anything is copied: the root they live in
(:class:`SourceRoot`: a build context, a stage or an image), a URL source (:func:`is_url`),
and a filtered copy of a directory without what an ignore rule drops (:func:`staged_copy`).

A step's cache key reads its sources through these (their links followed inside their root,
their content hashed) and the copy (:mod:`boxwright.build.files`) writes them through the same
ones, so both see the same files; nothing here writes into a container.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import resolve_in_root


@dataclass(frozen=True)
class SourceRoot:
    """The root file system a copy's sources live in: a build context, a stage or an image.

    A top-level source that is a symlink is followed inside ``path`` (:meth:`follow`), never
    on the host. With ``keep_owners`` (a stage or an image), every copied path keeps the owner
    it has there (:meth:`owner`): the file's own, or what ``ownership`` (the root's rootless
    side record) says it means. ``aliases`` maps a staged copy of a source (a filtered
    directory outside the root) to the path under the root it was made from.
    """

    path: Path
    ownership: OwnershipRecord | None = None
    keep_owners: bool = False
    aliases: tuple[tuple[Path, Path], ...] = ()

    def _original(self, path: Path) -> Path | None:
        """``path`` as a path under the root (through :attr:`aliases`), or None."""
        for staged, original in self.aliases:
            if path == staged or staged in path.parents:
                return original / path.relative_to(staged)
        if path == self.path or self.path in path.parents:
            return path
        return None

    def follow(self, source: Path) -> Path:
        """``source`` with its links followed inside the root (on the host when it is not
        under the root: a heredoc or a staged copy)."""
        original = self._original(source)
        if original is None or original != source:
            return Path(os.path.realpath(source))
        return resolve_in_root(self.path, str(source.relative_to(self.path)), follow_last=True)

    def owner(self, source: Path | str) -> tuple[int, int] | None:
        """The owner ``source`` has in the root, or None (owners are not kept, or the path
        is not from the root)."""
        if not self.keep_owners:
            return None
        original = self._original(Path(source))
        if original is None:
            return None
        intended = (self.ownership or OwnershipRecord()).intended(
            str(original.relative_to(self.path)), os.lstat(original)
        )
        return intended.uid, intended.gid


def is_url(source: str) -> bool:
    """Whether an ``add`` source is an http(s) URL."""
    return source.startswith(("http://", "https://"))


def staged_copy(source: Path, target: Path, ignored: Callable[[Path], bool]) -> None:
    """A copy of the tree ``source`` at ``target`` without ``ignored`` paths (hard links where
    possible, symlinks as links, modes and mtimes kept).

    An ignored directory is still walked: a path inside it that an exception (``!pattern``)
    re-includes is copied with its parents, as Docker's context walk does.
    """
    target.mkdir(parents=True, exist_ok=True)
    made: list[tuple[Path, Path]] = [(source, target)]

    def ensure_dir(host: Path) -> None:
        out = target / host.relative_to(source)
        if not out.exists():
            ensure_dir(host.parent)
            out.mkdir()
            made.append((host, out))

    for dirpath, dirnames, filenames in os.walk(source):
        here = Path(dirpath)
        dirnames.sort()
        for name in list(dirnames):
            path = here / name
            if path.is_symlink():
                dirnames.remove(name)
                filenames.append(name)
            elif not ignored(path):
                ensure_dir(path)
        for name in sorted(filenames):
            src = here / name
            if ignored(src):
                continue
            ensure_dir(here)
            out = target / src.relative_to(source)
            if src.is_symlink():
                os.symlink(os.readlink(src), out)
                continue
            try:
                os.link(src, out)
            except OSError:
                shutil.copy2(src, out)
    for host, out in reversed(made):
        shutil.copystat(host, out)


__all__ = ["SourceRoot", "is_url", "staged_copy"]
