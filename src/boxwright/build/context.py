"""What a build is asked to do and what it reports: :class:`BuildOptions`, :class:`BuildEvent`,
:class:`BuildResult`, and the content hash of the context files a COPY or ADD reads.

The content hash is what the layer cache keys a COPY on (:mod:`boxwright.build.cache`): the
relative path, type, mode and content of every file a source names, never its mtime or inode,
so a fresh checkout of the same tree hits the cache and a changed byte misses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from boxwright._numbers import ascii_int
from boxwright.errors import UsageError
from boxwright.oci.digest import CHUNK as _CHUNK
from boxwright.transport.atomic import atomic_write

if TYPE_CHECKING:
    from boxwright.build.cache import StepsMade
    from boxwright.build.runsettings import BuildVolume, SecretSource, SshSource
    from boxwright.transport.options import TransportOptions
    from boxwright.trust.signing import Signer


DEFAULT_CONTEXT_LIMIT = 8 << 30
"""How many bytes a fetched build context (git, tarball, standard input) may hold: 8 GiB."""

EventKind = Literal["step", "cache", "output", "commit", "warning"]
OutputStream = Literal["stdout", "stderr"]
PullPolicy = Literal["always", "missing", "never", "newer"]
#: podman build's ``--pull`` values (``true`` is ``always`` and ``false`` is ``missing``, as in
#: podman 4.3, where ``--pull=false`` still pulls an image the store lacks).
PULL_POLICIES: dict[str, PullPolicy] = {
    "always": "always",
    "missing": "missing",
    "never": "never",
    "newer": "newer",
    "true": "always",
    "false": "missing",
}
#: The label ``--identity-label`` adds, as buildah names it.
IDENTITY_LABEL = "io.buildah.version"


@dataclass(frozen=True)
class BuildOutput:
    """Where ``--output`` writes the final stage's file system, besides the image.

    ``type`` is ``"local"`` (the files into the directory ``dest``, made when missing) or
    ``"tar"`` (one uncompressed tar of them into the file ``dest``, or into ``stream`` when
    ``dest`` is None: podman's ``-o -``, the caller's standard output).
    """

    type: Literal["local", "tar"]
    dest: Path | None = None
    stream: BinaryIO | None = None

    @classmethod
    def parse(cls, text: str, stdout: BinaryIO | None = None) -> BuildOutput:
        """podman's ``--output`` value: ``type=local,dest=DIR``, ``type=tar,dest=FILE``, a bare
        ``DIR`` (``type=local``) or ``-`` (a tar on ``stdout``); ``dest=-`` is ``stdout`` too."""
        if "=" not in text.split(",", 1)[0]:
            fields = {"type": "tar" if text == "-" else "local", "dest": text}
        else:
            fields = {}
            for part in text.split(","):
                key, sep, value = part.partition("=")
                if not sep or key not in ("type", "dest") or key in fields:
                    raise UsageError(
                        f"--output {text!r}: expected type=local|tar,dest=PATH, a directory or -"
                    )
                fields[key] = value
        kind = fields.get("type", "local")
        dest = fields.get("dest", "")
        if kind not in ("local", "tar"):
            raise UsageError(f"--output {text!r}: type must be local or tar, not {kind!r}")
        if not dest:
            raise UsageError(f"--output {text!r}: needs dest=PATH")
        if dest == "-":
            if kind != "tar":
                raise UsageError(f"--output {text!r}: only type=tar can go to stdout (-)")
            if stdout is None:
                raise UsageError(f"--output {text!r}: no stream to write the tar to")
            return cls("tar", None, stdout)
        return cls("local" if kind == "local" else "tar", Path(dest))


@dataclass(frozen=True)
class BuildEvent:
    """One thing a build reports while it runs.

    ``kind`` is ``"step"`` (``text`` is podman's ``STEP n/m: INSTRUCTION`` line), ``"cache"``
    (the step was reused: ``text`` is ``--> Using cache <id>``), ``"commit"`` (a step's or the
    final image: ``text`` is ``--> <short id>``), ``"output"`` or ``"warning"``.

    An ``"output"`` event is also one line a RUN step's process wrote (without its newline;
    ``stream`` says on which of its streams), tagged with the stage and step running it.
    """

    kind: EventKind
    text: str
    stage: int = 0
    step: int = 0
    stream: OutputStream = "stdout"


@dataclass(frozen=True)
class BuildOptions:
    """Everything ``boxwright build`` takes (the flags of ``podman build``)."""

    context: Path
    containerfile: str | None = None
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    target: str | None = None
    platform: str | None = None
    layers: bool = True
    no_cache: bool = False
    cache_from: tuple[str, ...] = ()
    cache_to: str | None = None
    timestamp: int | None = None
    """buildah's ``--timestamp``: seconds since the epoch for every ``created`` and the mtime
    clamp of the new layers (see ``source_date_epoch`` for the created times alone)."""
    squash: bool = False
    format: str = "oci"
    isolation: str = "native"
    output: str | None = None
    quiet: bool = False
    on_event: Callable[[BuildEvent], None] | None = None
    root: Path | None = None
    containerfile_text: str | None = None
    """The Containerfile's text when it does not come from a file (``-f -``)."""
    registry_options: TransportOptions | None = None
    """How to reach registries (``--cache-from``/``--cache-to``, ``--output``, FROM pulls)."""
    steps_made: StepsMade | None = None
    """The steps the builds of one multi-platform build share (each platform's build takes a
    step another one made, even with ``no_cache``): :class:`~boxwright.build.cache.StepsMade`."""
    secrets: Mapping[str, Path | SecretSource] = field(default_factory=lambda: MappingProxyType({}))
    """``RUN --mount=type=secret,id=ID`` sources: ID → a host file, or where to read it
    (``--secret id=ID,src=F`` or ``env=VAR``: :func:`~boxwright.build.runsettings.parse_secret`)."""
    # What every RUN step gets (podman build's flags; boxwright.build.runsettings parses them).
    volumes: tuple[BuildVolume, ...] = ()
    """``-v HOST:CONTAINER[:OPTIONS]``: bound into every RUN, never into a layer."""
    network: str = "host"
    """``--network host|none``: a RUN's network unless its own ``--network`` says otherwise."""
    add_hosts: tuple[tuple[str, str], ...] = ()
    """``--add-host NAME:IP``: ``(name, address)`` lines first in a RUN's ``/etc/hosts``."""
    no_hosts: bool = False
    """``--no-hosts``: a RUN sees the image's own ``/etc/hosts``, none is mounted."""
    capabilities: tuple[str, ...] | None = None
    """The capabilities a RUN's root keeps (``--cap-add``/``--cap-drop``); None: the default."""
    ssh: Mapping[str, SshSource] = field(default_factory=lambda: MappingProxyType({}))
    """``RUN --mount=type=ssh,id=ID`` agents: ID → socket or keys (``--ssh``)."""
    pull: PullPolicy = "missing"
    """When a FROM (or ``--from``) image of a registry is pulled: ``missing`` (only when the
    store lacks it), ``always`` (every build; a failed pull fails the build), ``never`` (the
    store's copy or an error), ``newer`` (pulled when the registry's differs; a failed pull
    falls back to the store's copy)."""
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Labels set in the final image's config (over the Containerfile's and the base's)."""
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Annotations set on the final image's manifest (OCI format; Docker's has none)."""
    iidfile: Path | None = None
    """A file the final image's ID is written to, as ``sha256:<hex>`` (podman's form)."""
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Variables every stage starts with, as if each stage began with ``ENV "K"="V"...``:
    RUN steps see them, the history records them, a later ``ENV`` overrides them."""
    unsetenv: tuple[str, ...] = ()
    """Variables removed from the final image's config (RUN steps still see them)."""
    ignorefile: Path | None = None
    """The ignore file to use instead of ``.containerignore``/``.dockerignore``."""
    jobs: int | None = None
    """How many stages run at the same time; 0 means no limit, None the default (4)."""
    source_date_epoch: int | None = None
    """buildah's ``--source-date-epoch``: the ``created`` time of the image and of every new
    history entry, and the value of the ``SOURCE_DATE_EPOCH`` ARG a stage declares; layer
    contents keep their times unless ``rewrite_timestamp``. When None, the build arg
    ``SOURCE_DATE_EPOCH``, then the environment variable, give it."""
    rewrite_timestamp: bool = False
    """With a source date epoch: no file in a new layer is later than it (mtimes clamped)."""
    omit_history: bool = False
    """The final image's config has no history at all."""
    identity_label: bool = False
    """Add buildah's identity label ``io.buildah.version`` (boxwright's version) to the final
    image; off by default (docs/compatibility.md)."""
    outputs: tuple[BuildOutput, ...] = ()
    """Where the final stage's files are also written (``--output type=local|tar``)."""
    # -- contexts beyond a directory (boxwright.build.contexts) --
    context_source: str | None = None
    """A context to fetch instead of ``context``: a git URL (``#REF:SUBDIR``), an http(s) URL
    of a tarball or a Containerfile, or ``-`` (standard input: a tar or a Containerfile)."""
    build_contexts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """``--build-context NAME=VALUE``: NAME → a directory, URL, ``docker-image://REF``,
    ``container-image://REF`` or ``oci-layout://DIR[:TAG|@DIGEST]``."""
    context_limit: int = DEFAULT_CONTEXT_LIMIT
    """The most bytes a fetched context may hold (downloaded, unpacked or checked out)."""
    # -- attestations and signatures of the final image (boxwright.build.attestations) --
    sbom: bool = False
    """``--sbom``: keep an SPDX SBOM of the final image as its referrer."""
    provenance: str | None = None
    """``--provenance``: keep an SLSA v1 provenance statement (``"min"`` or ``"max"``)."""
    signers: tuple[Signer, ...] = ()
    """Sign the image written to ``output`` with each (``--sign-by...``)."""
    sign_identity: str | None = None

    def effective_timestamp(self) -> int | None:
        """``timestamp`` (buildah's ``--timestamp``: created times and layer mtimes), else None.

        Refuses ``timestamp`` together with ``source_date_epoch`` or the ``SOURCE_DATE_EPOCH``
        build arg, as buildah does (the environment variable then does not apply)."""
        if self.timestamp is not None and (
            self.source_date_epoch is not None or "SOURCE_DATE_EPOCH" in self.build_args
        ):
            raise UsageError(
                "--timestamp and --source-date-epoch (or SOURCE_DATE_EPOCH) cannot be used "
                "together: give one of them"
            )
        return self.timestamp

    def effective_source_date_epoch(self) -> int | None:
        """``source_date_epoch``, else the ``SOURCE_DATE_EPOCH`` build arg, else the
        environment variable (an integer), else None; None as well with ``timestamp``."""
        if self.source_date_epoch is not None:
            return self.source_date_epoch
        if self.timestamp is not None:
            return None
        for where, text in (
            ("the build arg SOURCE_DATE_EPOCH", self.build_args.get("SOURCE_DATE_EPOCH")),
            ("SOURCE_DATE_EPOCH", os.environ.get("SOURCE_DATE_EPOCH")),
        ):
            if text is not None and text.strip():
                seconds = ascii_int(text.strip())
                if seconds is None:
                    raise UsageError(f"{where}={text!r} is not a number of seconds")
                return seconds
        return None


@dataclass(frozen=True)
class NamedContext:
    """One ``--build-context NAME=VALUE``: an image (``image``, a reference FROM can take)
    or a directory (``directory``)."""

    name: str
    value: str
    image: str | None = None
    directory: Path | None = None


def find_named(named: Mapping[str, NamedContext], name: str) -> NamedContext | None:
    """The named context ``name`` refers to (its name as given, else in lower case, as
    stage names are matched), or None."""
    found = named.get(name)
    if found is None:
        found = named.get(name.lower())
    return found


@dataclass(frozen=True)
class BuildResult:
    """What a build made: the final image's ID, names and manifest digest, and its steps."""

    image_id: str
    names: tuple[str, ...]
    digest: str
    steps: int
    cache_hits: int
    stage_images: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    base_images: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Every image the build read, as named → the digest of the manifest used."""
    attestations: tuple[str, ...] = ()
    """The digests of the attestations kept as referrers of the image (``--sbom``,
    ``--provenance``)."""


class FileHashes:
    """sha256s of regular files, remembered by their stat identity.

    A file whose (device, inode, size, mtime, ctime) are unchanged has the same content: the
    ctime moves on every write and cannot be set back, so a remembered hash is never stale
    (BuildKit's content-hash cache relies on the same). Kept per store in
    ``R/build-file-hashes.json``; a missing or unreadable file just starts empty.
    """

    def __init__(self, path: Path | None = None, transient: tuple[str, ...] = ()) -> None:
        self.path = path
        self.transient = transient
        """Path prefixes whose files are hashed but not remembered (directories a build
        removes, such as a fetched context: their paths never come back)."""
        self._known: dict[str, list[Any]] = {}
        self._dirty = False
        if path is not None:
            try:
                data = json.loads(path.read_bytes())
                if isinstance(data, dict) and isinstance(data.get("files"), dict):
                    self._known = data["files"]
            except (OSError, ValueError):
                self._known = {}

    def sha256(self, path: str, st: os.stat_result) -> str:
        """The hex sha256 of the regular file ``path`` whose lstat is ``st``."""
        known = self._known.get(path)
        if (
            known is not None
            and known[1] == st.st_ino
            and known[3] == st.st_mtime_ns
            and known[4] == st.st_ctime_ns
            and known[2] == st.st_size
            and known[0] == st.st_dev
        ):
            return str(known[5])
        ident = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        digest = hashlib.sha256()
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            # Each read asks for one byte more than is left, so a file read whole ends with a
            # short read (no read of nothing after it), and a small file's buffer is small: a
            # 1 MiB buffer that a short read shrinks can cost glibc an mmap, mremap and
            # munmap per file. A file grown since ``st`` is read on to its end.
            left = st.st_size
            while True:
                ask = min(left + 1, _CHUNK) if left >= 0 else _CHUNK
                chunk = os.read(fd, ask)
                digest.update(chunk)
                left -= len(chunk)
                if len(chunk) < ask:
                    break
        finally:
            os.close(fd)
        hexdigest = digest.hexdigest()
        if not path.startswith(self.transient):
            self._known[path] = [*ident, hexdigest]
            self._dirty = True
        return hexdigest

    def save(self) -> None:
        """Write what was learned (atomically; a failure to write only loses the speed-up)."""
        if self.path is None or not self._dirty:
            return

        try:
            atomic_write(self.path, json.dumps({"files": self._known}).encode(), 0o600)
        except OSError:
            return
        self._dirty = False


def content_hash(
    paths: Iterable[Path],
    ignored: Callable[[Path], bool] | None = None,
    hashes: FileHashes | None = None,
) -> str:
    """A sha256 over the names, types, modes, link targets and contents under ``paths``.

    Directories are walked in sorted order; ``ignored(path)`` drops paths (ignore files).
    Top-level symlinks are followed, as COPY follows them. ``hashes`` remembers file hashes.
    """
    digest = hashlib.sha256()
    files = hashes if hashes is not None else FileHashes()
    for top in paths:
        real = os.path.realpath(top)
        digest.update(b"T" + os.fsencode(top.name) + b"\0")
        _hash_tree(digest, real, os.stat(real), ignored, files)
    return digest.hexdigest()


def _hash_tree(
    digest: hashlib._Hash,
    top: str,
    st: os.stat_result,
    ignored: Callable[[Path], bool] | None,
    files: FileHashes,
) -> None:
    """Hash ``top`` (whose stat is ``st``) and, for a directory, everything under it in
    sorted order: each path's relative name, type and mode (octal), then a link's target or a
    regular file's sha256, each part ending in NUL. One lstat per path (its directory entry's);
    a rebuild reads no file whose stat :class:`FileHashes` remembers."""
    update = digest.update
    tags: dict[int, bytes] = {}

    def tag(mode: int) -> bytes:
        made = tags.get(mode)
        if made is None:
            made = tags[mode] = f"\0{stat.S_IFMT(mode):o}\0{stat.S_IMODE(mode):o}\0".encode()
        return made

    def one(path: str, rel: str, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat.S_ISREG(mode):
            update(rel.encode() + tag(mode) + files.sha256(path, st).encode() + b"\0")
            return
        update(rel.encode() + tag(mode))
        if stat.S_ISLNK(mode):
            update(os.fsencode(os.readlink(path)) + b"\0")
        elif stat.S_ISDIR(mode):
            with os.scandir(path) as entries:
                children = sorted(entries, key=_name)
            for entry in children:
                if ignored is not None and ignored(Path(entry.path)):
                    continue
                one(entry.path, f"{rel}/{entry.name}", entry.stat(follow_symlinks=False))

    one(top, "", st)


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


__all__ = [
    "DEFAULT_CONTEXT_LIMIT",
    "IDENTITY_LABEL",
    "PULL_POLICIES",
    "BuildEvent",
    "BuildOptions",
    "BuildOutput",
    "BuildResult",
    "EventKind",
    "FileHashes",
    "NamedContext",
    "OutputStream",
    "PullPolicy",
    "content_hash",
    "find_named",
]
