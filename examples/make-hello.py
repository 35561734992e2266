#!/usr/bin/env python3
"""Write examples/hello: a tiny two-layer OCI image layout, reproducibly, with the stdlib only.

The image is small (a few KB) but shows what the tools must handle: directories, text files, an
executable, a relative symlink, a second layer that modifies one file and deletes another with a
whiteout (``etc/.wh.motd``), a config with Env, Cmd, WorkingDir, Labels and a history that has
an empty-layer entry. Every timestamp is fixed and every header normalized, so running this
script again yields the same bytes (given the same zlib), and so the same digests.

Usage: ``python3 examples/make-hello.py [OUTPUT_DIR]`` (default: ``examples/hello`` next to it).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z
CREATED = "2023-11-14T22:13:20Z"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

OS_RELEASE = """\
PRETTY_NAME="Hello Linux 1.0"
NAME="Hello Linux"
VERSION_ID="1.0"
ID=hello
HOME_URL="https://example.invalid/hello"
"""
HELLO_SCRIPT = "#!/bin/sh\ncat /hello.txt\n"

# (path, type, mode, content or link target); "d" dir, "f" file, "l" symlink.
LAYER_BASE: list[tuple[str, str, int, str]] = [
    ("etc", "d", 0o755, ""),
    ("etc/motd", "f", 0o644, "Welcome to the hello image.\n"),
    ("etc/os-release", "f", 0o644, OS_RELEASE),
    ("greeting", "l", 0o777, "hello.txt"),
    ("hello.txt", "f", 0o644, "Hello from boxwright!\n"),
    ("usr", "d", 0o755, ""),
    ("usr/local", "d", 0o755, ""),
    ("usr/local/bin", "d", 0o755, ""),
    ("usr/local/bin/hello", "f", 0o755, HELLO_SCRIPT),
]
LAYER_UPDATE: list[tuple[str, str, int, str]] = [
    ("etc", "d", 0o755, ""),
    ("etc/.wh.motd", "f", 0o644, ""),
    ("etc/hello.conf", "f", 0o640, "greeting = hello\nrepeat = 1\n"),
    ("hello.txt", "f", 0o644, "Hello from boxwright, second layer!\n"),
]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact(obj: object) -> bytes:
    """JSON as containers/image writes it: compact, keys in the order given."""
    return json.dumps(obj, separators=(",", ":")).encode()


def make_tar(entries: list[tuple[str, str, int, str]]) -> bytes:
    """A deterministic tar: sorted entries, root-owned, fixed mtime, PAX format."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, kind, mode, payload in sorted(entries):
            info = tarfile.TarInfo(path)
            info.mode, info.mtime = mode, EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            data = b""
            if kind == "d":
                info.type = tarfile.DIRTYPE
            elif kind == "l":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            else:
                data = payload.encode()
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """gzip with no file name and mtime 0 in the header, so the output depends on data only."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buffer.getvalue()


def write_blob(out: Path, data: bytes) -> dict[str, object]:
    digest = sha256(data)
    path = out / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def build(out: Path) -> str:
    """Write the layout into ``out`` (replacing it) and return the manifest digest."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    layers, diff_ids = [], []
    for entries in (LAYER_BASE, LAYER_UPDATE):
        tar = make_tar(entries)
        diff_ids.append(sha256(tar))
        layers.append({"mediaType": OCI_LAYER_GZIP, **write_blob(out, gzip_bytes(tar))})
    config = {
        "created": CREATED,
        "author": "boxwright examples",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "GREETING=hello",
            ],
            "Cmd": ["/usr/local/bin/hello"],
            "WorkingDir": "/",
            "Labels": {
                "org.opencontainers.image.title": "hello",
                "org.opencontainers.image.description": "boxwright's bundled example image",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": CREATED, "created_by": "COPY base/ / # etc, hello.txt, a symlink"},
            {"created": CREATED, "created_by": "ENV GREETING=hello", "empty_layer": True},
            {
                "created": CREATED,
                "created_by": "RUN rm /etc/motd && echo ... > /hello.txt # and etc/hello.conf",
                "comment": "second layer: one file changed, one added, one deleted",
            },
        ],
    }
    config_descriptor = {"mediaType": OCI_CONFIG, **write_blob(out, compact(config))}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_descriptor,
        "layers": layers,
        "annotations": {"org.opencontainers.image.created": CREATED},
    }
    manifest_descriptor = {"mediaType": OCI_MANIFEST, **write_blob(out, compact(manifest))}
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                **manifest_descriptor,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (out / "index.json").write_bytes(compact(index))
    (out / "oci-layout").write_bytes(compact({"imageLayoutVersion": "1.0.0"}))
    return str(manifest_descriptor["digest"])


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "hello"
    print(f"{out}: manifest {build(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
