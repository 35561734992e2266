"""Helpers for the snapshot, container and commit tests (a uniquely named module, so importing
it never collides with another test directory's helpers).

* :func:`import_oci` puts an image of an OCI layout into a store by hand (blobs, then
  ``ImageStore.add``), so these tests depend on nothing but the store's own blob and image API;
* :func:`as_user` runs a function in a forked child that dropped to an unprivileged user (the
  interpreter of the test run may be unreadable to that user, so no new process is exec'd);
* :func:`layer_members` lists what a layer blob holds, for exact assertions.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tarfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.store.images import ImageRecord
from boxwright.store.store import Store


def import_oci(store: Store, layout: Path, tag: str, names: list[str]) -> ImageRecord:
    """Store the image ``tag`` of the OCI layout ``layout`` under ``names``."""
    index = json.loads((layout / "index.json").read_text())
    entry = next(
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    )
    blobs = layout / "blobs" / "sha256"
    manifest_raw = (blobs / entry["digest"].split(":", 1)[1]).read_bytes()
    manifest = json.loads(manifest_raw)
    for desc in [manifest["config"], *manifest["layers"]]:
        with (blobs / desc["digest"].split(":", 1)[1]).open("rb") as stream:
            store.blobs.put(
                stream, Descriptor(desc["mediaType"], Digest.parse(desc["digest"]), desc["size"])
            )
    return store.images.add(manifest_raw, entry["mediaType"], names)


def as_user(uid: int, gid: int, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` in a child process as ``uid:gid``; return or re-raise."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            outcome: tuple[str, Any] = ("ok", func(*args, **kwargs))
        except BaseException as error:
            outcome = ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        with os.fdopen(write_fd, "wb") as out:
            try:
                out.write(pickle.dumps(outcome))
            except Exception as error:
                out.write(pickle.dumps(("error", f"unpicklable result: {error}")))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise AssertionError(f"as uid {uid}: {value}")
    return value


def layer_members(store: Store, digest: Digest) -> dict[str, tuple[str, int, int, int, bytes]]:
    """name → (type, mode, uid, gid, content) of every entry of a stored layer blob."""
    raw = store.blobs.read(digest, limit=64 << 20)
    out: dict[str, tuple[str, int, int, int, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        for member in tar.getmembers():
            data = b""
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                data = extracted.read()
            kind = member.type.decode() if isinstance(member.type, bytes) else str(member.type)
            out[member.name] = (kind, member.mode, member.uid, member.gid, data)
    return out


def config_of(store: Store, record: ImageRecord) -> dict[str, Any]:
    """The stored config JSON of an image record."""
    loaded: dict[str, Any] = json.loads(store.blobs.read(record.config))
    return loaded


def manifest_of(store: Store, record: ImageRecord) -> dict[str, Any]:
    """The stored manifest JSON of an image record."""
    loaded: dict[str, Any] = json.loads(store.blobs.read(record.manifest))
    return loaded
