"""The persistent blob-info cache: where blobs are known to live, and digest pairs.

Like containers/image's BoltDB cache, it remembers two kinds of facts, so that the second
push of the same layers costs nothing:

* **locations**: per registry host, the repositories known to hold a blob. A destination
  that lacks a blob asks which repositories of the same registry have it and mounts it from
  one of them instead of uploading it again;
* **digest pairs**: a compressed blob's digest ↔ its uncompressed digest (the diff_id), with
  each blob's compression and size. A copy that would recompress a layer asks for the
  variants of its diff_id (:meth:`BlobInfoCache.compressed_variants`): when the destination
  already holds one in the wanted compression, that blob is used instead of compressing and
  uploading the layer again (containers/image's ``CanSubstitute`` reuse).

Only locally verified facts are recorded: a location after a blob was read and verified from
it, uploaded to it, or mounted into it; a pair after both digests were computed from the
bytes (the copy pipeline records them when it decompresses or compresses a layer; a diff_id
that an image config merely claims is not recorded: only the diff_id a copy checked while
decompressing). The cache is a hint, never an authority: a registry still answers every mount, and a
cache that cannot be read or written is ignored (logged at debug level) and never fails a
copy.

The store is one JSON file (``blob-info-cache-v1.json``), replaced atomically on each
:meth:`BlobInfoCache.flush`; writers that race lose at worst some hints. In-memory hints
(:meth:`BlobInfoCache.add_hint`) record unverified candidates for this process only — a
docker source says "the blobs of my manifest are probably in my repository" — and are never
written to disk.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from boxwright._log import Logger
from boxwright.errors import DigestError
from boxwright.oci.digest import Digest
from boxwright.transport.atomic import atomic_write

_LOG = Logger(__name__)

CACHE_FILE: Final = "blob-info-cache-v1.json"
CACHE_ENV: Final = "BOXWRIGHT_BLOB_INFO_CACHE"
"""Environment variable naming the cache file; ``""`` or ``none`` disables persistence."""

MAX_REPOS_PER_BLOB: Final = 32
"""Locations kept per blob and host (the most recently seen win), so the file stays small."""


def default_cache_path() -> Path | None:
    """Where the cache lives: ``$BOXWRIGHT_BLOB_INFO_CACHE``, else under the cache directory.

    ``$XDG_CACHE_HOME/boxwright/`` (``~/.cache/boxwright/``) for everyone; None when the
    variable is set to ``""`` or ``none`` (memory only).
    """
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        if configured.strip().lower() in ("", "none"):
            return None
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "boxwright" / CACHE_FILE


class BlobInfoCache:
    """Blob locations per registry host and compressed ↔ uncompressed digest pairs.

    Thread-safe; reads the file lazily on first use, writes it on :meth:`flush` when something
    changed. ``path`` None keeps everything in memory.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded = False
        self._dirty = False
        # host → digest → repos, most recent last
        self._locations: dict[str, dict[str, list[str]]] = {}
        self._uncompressed: dict[str, str] = {}
        # digest → [compression, size] of blobs whose pair was recorded
        self._blobs: dict[str, list[Any]] = {}
        self._hints: dict[str, dict[str, list[str]]] = {}

    # -- queries -----------------------------------------------------------------------------

    def candidate_repos(self, host: str, digest: Digest, *, exclude: str = "") -> list[str]:
        """Repositories of ``host`` that may hold ``digest``: verified ones first (most recent
        first), then this process's hints; ``exclude`` (the destination itself) is left out."""
        key = str(digest)
        with self._lock:
            self._load()
            known = list(reversed(self._locations.get(host, {}).get(key, [])))
            hinted = list(reversed(self._hints.get(host, {}).get(key, [])))
        out: list[str] = []
        for repo in known + hinted:
            if repo != exclude and repo not in out:
                out.append(repo)
        return out

    def uncompressed_digest(self, digest: Digest) -> Digest | None:
        """The verified uncompressed digest of the compressed blob ``digest``, if known."""
        with self._lock:
            self._load()
            text = self._uncompressed.get(str(digest))
        if text is None:
            return None
        try:
            return Digest.parse(text)
        except DigestError:
            return None

    def compressed_variants(self, uncompressed: Digest) -> list[tuple[Digest, str, int]]:
        """Every blob known to decompress to ``uncompressed``: (digest, compression, size).

        The uncompressed blob itself is among them (compression ``"none"``) when its size was
        recorded. Most recently recorded last.
        """
        want = str(uncompressed)
        with self._lock:
            self._load()
            found = [k for k, v in self._uncompressed.items() if v == want]
            if self._blobs.get(want, [""])[0] == "none":
                found.append(want)
            infos = [(k, self._blobs.get(k)) for k in found]
        out: list[tuple[Digest, str, int]] = []
        for key, info in infos:
            if info is None:
                continue
            try:
                out.append((Digest.parse(key), info[0], info[1]))
            except DigestError:
                continue
        return out

    # -- recording ---------------------------------------------------------------------------

    def record_location(self, host: str, repo: str, digest: Digest) -> None:
        """Record that ``host/repo`` holds ``digest`` (verified: read, uploaded or mounted)."""
        key = str(digest)
        with self._lock:
            self._load()
            repos = self._locations.setdefault(host, {}).setdefault(key, [])
            if repos and repos[-1] == repo:
                return
            if repo in repos:
                repos.remove(repo)
            repos.append(repo)
            del repos[:-MAX_REPOS_PER_BLOB]
            self._dirty = True

    def forget_location(self, host: str, repo: str, digest: Digest) -> None:
        """Drop a location that turned out to be wrong (a mount the registry refused)."""
        with self._lock:
            self._load()
            for table in (self._locations, self._hints):
                repos = table.get(host, {}).get(str(digest))
                if repos and repo in repos:
                    repos.remove(repo)
                    self._dirty = self._dirty or table is self._locations

    # Keyword lists alike in shape to BlobCopier's are a coincidence: this records a pair.
    def record_digest_pair(
        self,
        compressed: Digest,
        uncompressed: Digest,
        *,
        compression: str | None = None,
        size: int | None = None,
    ) -> None:
        """Record a compressed blob's uncompressed digest (both computed from the bytes), and
        when given the blob's ``compression`` (``"gzip"``, ``"zstd"``) and ``size``."""
        with self._lock:
            self._load()
            if compressed != uncompressed and self._uncompressed.get(str(compressed)) != str(
                uncompressed
            ):
                self._uncompressed[str(compressed)] = str(uncompressed)
                self._dirty = True
            if compression is not None and size is not None:
                self._set_info(compressed, compression, size)

    def record_blob_info(self, digest: Digest, compression: str, size: int) -> None:
        """Record what a verified blob is: its ``compression`` (``"none"`` for a plain tar)
        and ``size``."""
        with self._lock:
            self._load()
            self._set_info(digest, compression, size)

    def _set_info(self, digest: Digest, compression: str, size: int) -> None:
        info = [compression, size]
        if self._blobs.get(str(digest)) != info:
            self._blobs[str(digest)] = info
            self._dirty = True

    def add_hint(self, host: str, repo: str, digests: Iterable[Digest]) -> None:
        """Note, for this process only, that ``host/repo`` probably holds ``digests``."""
        with self._lock:
            per_host = self._hints.setdefault(host, {})
            for digest in digests:
                repos = per_host.setdefault(str(digest), [])
                if repo not in repos:
                    repos.append(repo)

    # -- persistence -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what changed; failures are logged and ignored (the cache is only a hint)."""
        with self._lock:
            if not self._dirty or self.path is None:
                return
            try:
                self._write(self.path)
                self._dirty = False
            except OSError as error:
                _LOG.debug("blob-info cache %s not written: %s", self.path, error)

    def _load(self) -> None:
        """Read the file once (lock held); a missing or unreadable file means an empty cache."""
        if self._loaded:
            return
        self._loaded = True
        if self.path is None:
            return
        try:
            with open(self.path, "rb") as file:
                data = json.loads(file.read(64 << 20))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            _LOG.debug("blob-info cache %s ignored: %s", self.path, error)
            return
        self._locations = _locations_from(data.get("locations") if isinstance(data, dict) else {})
        pairs = data.get("uncompressed") if isinstance(data, dict) else None
        if isinstance(pairs, dict):
            self._uncompressed = {
                k: v for k, v in pairs.items() if isinstance(k, str) and isinstance(v, str)
            }
        blobs = data.get("blobs") if isinstance(data, dict) else None
        if isinstance(blobs, dict):
            self._blobs = {
                k: [v[0], v[1]]
                for k, v in blobs.items()
                if isinstance(k, str)
                and isinstance(v, list)
                and len(v) == 2
                and isinstance(v[0], str)
                and isinstance(v[1], int)
                and not isinstance(v[1], bool)
                and v[1] >= 0
            }

    def _write(self, path: Path) -> None:
        # Merge with what another process wrote meanwhile, so parallel copies keep both.
        fresh = BlobInfoCache(path)
        with fresh._lock:
            fresh._load()
        for host, blobs in self._locations.items():
            theirs = fresh._locations.setdefault(host, {})
            for digest, repos in blobs.items():
                merged = [r for r in theirs.get(digest, []) if r not in repos] + repos
                theirs[digest] = merged[-MAX_REPOS_PER_BLOB:]
        fresh._uncompressed.update(self._uncompressed)
        fresh._blobs.update(self._blobs)
        self._locations, self._uncompressed = fresh._locations, fresh._uncompressed
        self._blobs = fresh._blobs
        payload = {
            "version": 1,
            "locations": self._locations,
            "uncompressed": self._uncompressed,
            "blobs": self._blobs,
        }
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, json.dumps(payload, separators=(",", ":")).encode(), mode=0o600)


def _locations_from(value: Any) -> dict[str, dict[str, list[str]]]:
    """The locations table from JSON, dropping anything malformed."""
    out: dict[str, dict[str, list[str]]] = {}
    if not isinstance(value, dict):
        return out
    for host, blobs in value.items():
        if not isinstance(host, str) or not isinstance(blobs, dict):
            continue
        out[host] = {
            digest: [r for r in repos if isinstance(r, str)]
            for digest, repos in blobs.items()
            if isinstance(digest, str) and isinstance(repos, list)
        }
    return out


_SHARED: dict[Path | None, BlobInfoCache] = {}
_SHARED_LOCK = threading.Lock()


def shared_cache(path: Path | None = None, *, use_default: bool = True) -> BlobInfoCache:
    """The process-wide cache for ``path`` (default: :func:`default_cache_path`)."""
    if path is None and use_default:
        path = default_cache_path()
    with _SHARED_LOCK:
        cache = _SHARED.get(path)
        if cache is None:
            cache = _SHARED[path] = BlobInfoCache(path)
        return cache


__all__ = [
    "CACHE_ENV",
    "CACHE_FILE",
    "BlobInfoCache",
    "default_cache_path",
    "shared_cache",
]
