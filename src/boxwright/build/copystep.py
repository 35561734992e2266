"""COPY and ADD in a build, up to their cache key: sources from the context (ignore files
applied), another stage or an image (``--from``), heredocs; ``--chown``, ``--chmod``,
``--link``, ``--parents``, ``--exclude``; ADD's local archives and URLs (``--checksum``).
:class:`CopyStep` resolves the sources and computes what the key reads (:func:`copy_key`);
:mod:`boxwright.build.copyapply` copies them into the container when the cache lacks the step,
so a rebuild whose copies are all cached loads no copier.

Sources are cleaned paths inside their root (the context, or the stage or image ``--from``
names: ``../x`` cannot leave it) and wildcards, resolved as BuildKit's ``ResolveWildcards``
does: the part before the first wildcard is resolved inside the root (its links followed
there, an absolute target relative to the root, ``..`` stopping at it), the rest is matched
with Go's ``filepath.Match`` against the paths below it (no link followed). A source that is a
link is followed inside the root too (:class:`~boxwright.build.sources.SourceRoot`), keeping its
own name. A wildcard that matches nothing adds nothing (BuildKit's ``AllowEmptyWildcard``;
when nothing is left, the step copies nothing and makes no destination), while a missing
literal source, or a wildcard under a missing directory, is an error. A source that expands
to nothing (``COPY ${unset} .``) is the root itself, as in BuildKit, buildah and the classic
builder.

A path an ignore file excludes does not exist for the build, and a directory is copied
without the excluded paths inside it (a filtered copy of it is staged first, hard links where
the filesystem allows). Files from the context become ``0:0``; files from a stage or an image
keep the owners they have there unless ``--chown`` says otherwise (BuildKit's rule). The file
rules themselves are :mod:`boxwright.build.files`'.

``--link`` (BuildKit's linked copy, ``docs/building.md``): the layer is made as if the files
were copied into an empty directory, which is then put on top of the image; nothing of the
image below is looked at (no symlink there is followed, an existing directory is not merged
into: missing parents are made, mode 0755, owned by the copy's owner).
:func:`~boxwright.build.copyapply.apply_copy` writes it into an empty working container
(:meth:`CopyStep.link_dest` gives the destination made absolute, as the empty container has no
WORKDIR), and :meth:`CopyStep.link_key_text` is what its parent-independent cache key
(:func:`boxwright.build.cache.link_key`) reads.
``--chown`` takes numbers (or ``root``) only, as BuildKit's: a name would need the image's
``/etc/passwd``, which a linked layer does not see.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.build.containerfile.ignore import IgnoreMatcher, Pattern
from boxwright.build.containerfile.model import Heredoc
from boxwright.build.containerfile.shell import Expander, split_words
from boxwright.build.context import content_hash
from boxwright.build.sources import SourceRoot, is_url
from boxwright.build.step import StepKey
from boxwright.errors import UsageError
from boxwright.layer.pathsafe import clean_entry_name, resolve_in_root
from boxwright.oci.ids import parse_user_spec

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.step import StepContext

_COPY_FLAGS = frozenset({"from", "chown", "chmod", "link", "parents", "exclude"})
_ADD_FLAGS = frozenset({"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"})


class CopyStep:
    """One COPY or ADD: its sources resolved to host paths, then applied to the container."""

    def __init__(self, ctx: StepContext, instruction: Instruction) -> None:

        self.ctx = ctx
        self.instruction = instruction
        self.keyword = instruction.keyword
        allowed = _COPY_FLAGS if self.keyword == "COPY" else _ADD_FLAGS
        self.flags: dict[str, list[str | None]] = {}
        for flag in instruction.flags:
            if flag.name not in allowed:
                raise UsageError(f"{self.keyword} has no flag --{flag.name}")
            self.flags.setdefault(flag.name, []).append(flag.value)
        ex = ctx.expander()
        words = self._words(ex)
        heredoc_names = {h.name for h in instruction.heredocs}
        if len(words) < 2 and not (heredoc_names and words):
            raise UsageError(f"{self.keyword} needs at least one source and a destination")
        self.dest = words[-1]
        self.raw_dest = self._raw_dest()
        self.chown = self._one("chown", ex)
        self.chmod = self._one("chmod", ex)
        self.checksum = self._one("checksum", ex)
        self.parents = "parents" in self.flags and self.flags["parents"][-1] in (None, "true")
        self.link = "link" in self.flags and self.flags["link"][-1] in (None, "true")
        if self.link and self.chown is not None:
            self.chown = _numeric_owner(self.keyword, self.chown)
        self.excludes = [ex.word(v or "") for v in self.flags.get("exclude", [])]
        self.exclude = self._exclude_matcher()
        origin = self._one("from", ctx.from_expander())
        self.origin = origin
        root = ctx.workspace.mounted_image(origin) if origin else ctx.context
        self.root = Path(os.path.realpath(root))
        ownership = ctx.workspace.mounted_ownership(origin) if origin else None
        self.source_root = SourceRoot(
            self.root, ownership, keep_owners=ownership is not None and self.chown is None
        )
        self.urls: list[str] = []
        self.sources: list[tuple[Path, str]] = []  # (host path, path relative to its root)
        heredocs = {h.name: h for h in instruction.heredocs}
        for word in words[:-1]:
            name = word[2:].lstrip("-").strip("'\"") if word.startswith("<<") else None
            if name is not None and name in heredocs:
                self.sources.append((self._heredoc_file(heredocs[name]), name))
            elif self.keyword == "ADD" and is_url(word):
                self.urls.append(word)
            else:
                self.sources.extend(self._expand(word))

    def _words(self, ex: object) -> list[str]:
        """The sources and the destination after expansion. Each word is expanded alone: one
        that expands to nothing (``${unset}``, ``""``) is the empty source, the root itself,
        as BuildKit expands each source of ``SourcesAndDest`` on its own."""
        assert isinstance(ex, Expander)
        if self.instruction.json_form:
            words = [ex.word(a) for a in self.instruction.args]
        else:
            words = []
            for raw in split_words(" ".join(self.instruction.args), ex.escape):
                words += ex.words(raw) or [""]
        return words

    def _raw_dest(self) -> str:
        args = self.instruction.args
        if self.instruction.json_form:
            return args[-1] if args else self.dest
        parts = " ".join(args).split()
        return parts[-1] if parts else self.dest

    def _one(self, name: str, ex: object) -> str | None:
        assert isinstance(ex, Expander)
        values = self.flags.get(name)
        if not values:
            return None
        value = values[-1]
        if value is None or value == "":
            raise UsageError(f"{self.keyword} --{name} needs a value")
        return ex.word(value)

    def _heredoc_file(self, doc: object) -> Path:
        assert isinstance(doc, Heredoc)
        content = doc.content
        if doc.expand and "$" in content:
            # variables expand, quotes and backslashes stay as written (BuildKit's heredocs)
            kept = content.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
            content = self.ctx.expander().word(kept)
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        directory = self.ctx.workspace.staging() / f"heredoc-{digest}"
        directory.mkdir(exist_ok=True)
        path = directory / doc.name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o644)
        return path

    # -- sources --------------------------------------------------------------------------------

    def _exclude_matcher(self) -> IgnoreMatcher | None:
        """``--exclude`` patterns as BuildKit matches them: ignore-file rules (Go
        ``filepath.Match``, ``**``, ``!`` exceptions, a directory excludes its contents)."""
        if not self.excludes:
            return None
        where = f"{self.instruction.location}: {self.keyword} --exclude"
        return IgnoreMatcher(self.excludes, where)

    def ignored(self, path: str, base: str) -> bool:
        """Whether the host ``path`` is left out: the ignore file drops it (context sources,
        matched relative to the context) or an ``--exclude`` pattern matches it relative to
        ``base``, the source it is copied from (BuildKit matches each source's own paths)."""
        ignore = self.ctx.ignore
        if self.origin is None and ignore and ignore.matches(os.path.relpath(path, self.root)):
            return True
        if self.exclude is None:
            return False
        rel = os.path.relpath(path, base)
        return rel != "." and self.exclude.matches(rel)

    def _expand(self, word: str) -> list[tuple[Path, str]]:
        """The sources ``word`` names: (host path, path relative to the root). The host path
        has its parents resolved inside the root; its last component may be a link, which
        :class:`SourceRoot` follows inside the root."""
        rel = clean_entry_name(word, allow_root=True)
        root = self.root
        where = f"stage or image {self.origin!r}" if self.origin else "the build context"
        if glob.has_magic(rel):
            fixed = _fixed_part(rel)
            start = resolve_in_root(root, fixed, follow_last=True) if fixed else root
            if not start.is_dir():
                raise UsageError(f"{self.keyword} source {word!r}: no such file in {where}")
            matches = _wildcard_matches(start, rel[len(fixed) :].lstrip("/"), self.keyword)
            # a wildcard's matches are excluded by their paths under its fixed part, as
            # BuildKit's reference documents (`COPY --exclude=*.txt hom* /mydir/`)
            base = str(start)
        else:
            match = resolve_in_root(root, rel) if rel else root
            if not os.path.lexists(self.source_root.follow(match)):
                raise UsageError(f"{self.keyword} source {word!r}: no such file in {where}")
            matches = [match]
            base = str(match)
        found: list[tuple[Path, str]] = []
        for path in matches:
            relative = os.path.relpath(path, root)
            relative = "" if relative == "." else relative
            if relative and self.ignored(str(path), base):
                continue
            found.append((path, relative))
        if not found and not glob.has_magic(rel):
            raise UsageError(f"{self.keyword} source {word!r}: no such file in {where}")
        return found

    def key_text(self) -> str:
        """The instruction after expansion, for the cache key."""
        parts = [self.keyword, self.dest, str(self.chown), str(self.chmod), str(self.parents)]
        parts += [rel for _, rel in self.sources] + self.urls + self.excludes
        if self.origin is not None:
            parts.append(f"from={self.ctx.workspace.origin_id(self.origin)}")
        return "\0".join(parts)

    def link_dest(self) -> str:
        """The destination made absolute against the stage's WORKDIR, keeping a trailing
        ``/`` (a linked layer is made in an empty container, which has no WORKDIR)."""
        if self.dest.startswith("/"):
            return self.dest
        base = self.ctx.config.config.working_dir or "/"
        dest = self.dest if self.dest not in ("", ".") else "./"
        return f"{base.rstrip('/')}/{dest}"

    def link_key_text(self) -> str:
        """The instruction after expansion as a linked layer depends on it: the absolute
        destination, numeric owner, mode and sources, never the image or stage it reads from
        (the sources' content is :meth:`content_key`)."""
        parts = [self.keyword, "link", self.link_dest(), str(self.chown), str(self.chmod)]
        parts += [str(self.parents), *(rel for _, rel in self.sources), *self.urls]
        return "\0".join(parts + self.excludes)

    def content_key(self) -> str:
        """The content hash of every source (URLs by their text and checksum)."""
        filtering = self.exclude is not None or (self.origin is None and bool(self.ctx.ignore))
        hashes = self.ctx.file_hashes
        digests = []
        with self.ctx.hashes_lock:  # one stage at a time updates the remembered hashes
            for path, _ in self.sources:
                content = self.source_root.follow(path)
                digests.append(
                    content_hash([content], self._skipper(content) if filtering else None, hashes)
                )
        digest = (
            digests[0]
            if len(digests) == 1
            else hashlib.sha256("".join(digests).encode()).hexdigest()
        )
        return digest + "".join(f"\0{u}" for u in self.urls) + f"\0{self.checksum}"

    def _skipper(self, source: Path) -> Callable[[Path], bool]:
        """The paths inside ``source`` (as :func:`content_hash` walks them, under its real
        path) that the copy leaves out."""
        real = os.path.realpath(source)
        base = str(source)

        def skip(path: Path) -> bool:
            return self.ignored(os.path.join(base, os.path.relpath(path, real)), base)

        return skip


def copy_key(step: CopyStep) -> StepKey:
    """What the cache key of a COPY or ADD reads: the instruction after expansion (its
    ``--from`` as the image ID it names) and the content hash of its sources."""
    content = step.content_key()
    return StepKey(step.key_text(), content)


def _numeric_owner(keyword: str, spec: str) -> str:
    """``--chown`` of a linked step as ``UID:GID`` numbers (``root`` is 0), as BuildKit takes
    it; a name is refused with what to write instead, an invalid ID as every ``--chown``."""
    parsed = parse_user_spec(spec, f"{keyword} --chown")
    user = 0 if parsed.user == "root" else parsed.user
    group = user if parsed.group is None else 0 if parsed.group == "root" else parsed.group
    if not isinstance(user, int) or not isinstance(group, int):
        raise UsageError(
            f"{keyword} --link --chown={spec}: a linked layer cannot look up names in the "
            "image's /etc/passwd; give numeric IDs (--chown=UID:GID) or drop --link"
        )
    return f"{user}:{group}"


def _fixed_part(pattern: str) -> str:
    """The leading directories of ``pattern`` before its first component with a wildcard
    (fsutil's ``splitWildcards``)."""
    fixed: list[str] = []
    for part in pattern.split("/"):
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def _wildcard_matches(start: Path, pattern: str, keyword: str) -> list[Path]:
    """The paths below the directory ``start`` that ``pattern`` (relative, with wildcards)
    matches, sorted, as Go's ``filepath.Match`` matches each component; links are not
    followed on the way (BuildKit walks with ``lstat``)."""
    parts = [p for p in pattern.split("/") if p]
    where = f"{keyword} source pattern"
    matchers = [Pattern.compile(part, False, where) for part in parts]
    found: list[Path] = []

    def walk(directory: Path, depth: int) -> None:
        try:
            names = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        last = depth == len(matchers) - 1
        for name in names:
            if not matchers[depth].match(name):
                continue
            path = directory / name
            if last:
                found.append(path)
            elif stat.S_ISDIR(os.lstat(path).st_mode):
                walk(path, depth + 1)

    walk(start, 0)
    return found


__all__ = ["CopyStep", "copy_key"]
