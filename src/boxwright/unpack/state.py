"""Where an unpacked tree keeps what a later repack needs, and how it is read back.

The state of a rootfs ``NAME`` lives in the sibling directory ``.NAME.boxwright/`` — for a
bundle ``DEST/rootfs`` that is ``DEST/.rootfs.boxwright/``, for a plain rootfs ``DIR`` it is
``DIR/../.DIR.boxwright/`` — and never inside the rootfs, so nothing of it ends up in a layer
and a process in the container cannot tamper with it. It holds:

``state.json``
    format and version, the source reference (where the base layers can be read again), the
    manifest digest, whether the tree is a bundle and whether it was unpacked rootless;
``image-manifest.json``, ``image-config.json``
    the exact bytes of the image's manifest and config, so repack appends to the very image
    that was unpacked (their digests are checked against ``state.json`` on load);
``snapshot.json``
    the :class:`~boxwright.layer.snapshot.Snapshot` of the rootfs right after unpack (or after
    the last repack), the baseline for "what changed";
``ownership.json``
    the rootless :class:`~boxwright.layer.ownership.OwnershipRecord`: the owner, mode and
    device every entry was meant to have when an unprivileged unpack could not apply them.

Every file is written atomically (temporary name in the same directory, fsync, rename).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from boxwright.errors import DigestError, UnpackError
from boxwright.oci.digest import Digest, verify_bytes
from boxwright.transport.atomic import atomic_write

FORMAT = "boxwright-unpack"
VERSION = 1

# The state directory's files, unpack's own; transport/oci_layout.py lists the layout's.
STATE_FILE = "state.json"
MANIFEST_FILE = "image-manifest.json"
CONFIG_FILE = "image-config.json"
SNAPSHOT_FILE = "snapshot.json"
OWNERSHIP_FILE = "ownership.json"


def state_dir_for(rootfs: Path) -> Path:
    """The state directory of the rootfs ``rootfs``: its sibling ``.NAME.boxwright``."""
    rootfs = Path(os.path.abspath(rootfs))
    return rootfs.parent / f".{rootfs.name}.boxwright"


def locate_rootfs(unpacked: Path) -> Path:
    """The rootfs of what ``unpack`` wrote at ``unpacked`` (a bundle or a plain rootfs).

    A directory holding ``rootfs/`` and ``.rootfs.boxwright/`` is a bundle; anything else is
    taken as a plain rootfs with its state beside it. Raises :class:`UnpackError` when no
    state is found, naming where it was looked for.
    """
    unpacked = Path(os.path.abspath(unpacked))
    bundle_rootfs = unpacked / "rootfs"
    if (state_dir_for(bundle_rootfs) / STATE_FILE).is_file() and bundle_rootfs.is_dir():
        return bundle_rootfs
    if (state_dir_for(unpacked) / STATE_FILE).is_file():
        if not unpacked.is_dir():
            raise UnpackError(f"{unpacked} is not a directory: its rootfs is gone")
        return unpacked
    raise UnpackError(
        f"{unpacked} was not unpacked by boxwright: neither {state_dir_for(bundle_rootfs)} "
        f"nor {state_dir_for(unpacked)} exists (run `boxwright unpack REF {unpacked}` first)"
    )


@dataclass(frozen=True)
class UnpackState:
    """What ``state.json`` records about one unpacked tree (the bytes live beside it)."""

    rootfs: Path
    source: str
    manifest_digest: Digest
    manifest_media_type: str
    config_digest: Digest
    bundle: bool
    rootless: bool

    @property
    def directory(self) -> Path:
        """The state directory (``.NAME.boxwright`` beside the rootfs)."""
        return state_dir_for(self.rootfs)

    @property
    def snapshot_path(self) -> Path:
        return self.directory / SNAPSHOT_FILE

    @property
    def ownership_path(self) -> Path:
        return self.directory / OWNERSHIP_FILE

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "source": self.source,
            "manifest": {
                "digest": str(self.manifest_digest),
                "mediaType": self.manifest_media_type,
            },
            "config": {"digest": str(self.config_digest)},
            "bundle": self.bundle,
            "rootless": self.rootless,
        }
        return json.dumps(doc, indent=2).encode() + b"\n"

    def save(self, manifest: bytes | None = None, config: bytes | None = None) -> None:
        """Write ``state.json`` (and the manifest and config bytes when given), atomically.

        The bytes go first and ``state.json`` last, so a crash in between leaves the previous
        state readable or a state whose digests refuse the half-written files.
        """
        self.directory.mkdir(mode=0o700, exist_ok=True)
        if manifest is not None:
            atomic_write(self.directory / MANIFEST_FILE, manifest, 0o600)
        if config is not None:
            atomic_write(self.directory / CONFIG_FILE, config, 0o600)
        atomic_write(self.directory / STATE_FILE, self.to_json(), 0o600)

    def with_image(
        self, source: str, manifest_digest: Digest, media_type: str, config_digest: Digest
    ) -> UnpackState:
        """The same tree, now based on another image (after a repack)."""
        return replace(
            self,
            source=source,
            manifest_digest=manifest_digest,
            manifest_media_type=media_type,
            config_digest=config_digest,
        )

    def read_manifest(self) -> bytes:
        """The saved manifest bytes, verified against the recorded digest."""
        return self._read_verified(MANIFEST_FILE, self.manifest_digest)

    def read_config(self) -> bytes:
        """The saved config bytes, verified against the recorded digest."""
        return self._read_verified(CONFIG_FILE, self.config_digest)

    def _read_verified(self, name: str, digest: Digest) -> bytes:
        path = self.directory / name
        try:
            data = path.read_bytes()
        except OSError as error:
            raise UnpackError(f"cannot read {path}: {error.strerror}; unpack again") from error
        try:
            verify_bytes(data, digest)
        except Exception as error:
            raise UnpackError(f"{path} is corrupt ({error}); unpack again") from error
        return data

    @classmethod
    def load(cls, rootfs: Path) -> UnpackState:
        """Read the state of ``rootfs``; :class:`UnpackError` if it is missing or corrupt."""
        path = state_dir_for(rootfs) / STATE_FILE
        try:
            doc: Any = json.loads(path.read_bytes())
        except FileNotFoundError as error:
            raise UnpackError(f"{path} is missing: unpack the image again") from error
        except (OSError, ValueError) as error:
            raise UnpackError(f"{path} is unreadable or corrupt: {error}") from error
        try:
            if doc["format"] != FORMAT:
                raise ValueError(f"format is {doc['format']!r}, not {FORMAT!r}")
            if doc["version"] != VERSION:
                raise ValueError(f"version {doc['version']!r}; this boxwright reads {VERSION}")
            source = doc["source"]
            media_type = doc["manifest"]["mediaType"]
            if not isinstance(source, str) or not isinstance(media_type, str):
                raise ValueError("source and manifest.mediaType must be strings")
            return cls(
                rootfs=Path(os.path.abspath(rootfs)),
                source=source,
                manifest_digest=Digest.parse(doc["manifest"]["digest"]),
                manifest_media_type=media_type,
                config_digest=Digest.parse(doc["config"]["digest"]),
                bundle=bool(doc["bundle"]),
                rootless=bool(doc["rootless"]),
            )
        except (KeyError, TypeError, ValueError, DigestError) as error:
            raise UnpackError(f"{path} is corrupt: {error}") from error


def is_state_dir(path: Path) -> bool:
    """Whether ``path`` is a boxwright state directory (so it may be replaced when stale)."""
    try:
        doc = json.loads((path / STATE_FILE).read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


__all__ = [
    "UnpackState",
    "is_state_dir",
    "locate_rootfs",
    "state_dir_for",
]
