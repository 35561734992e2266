"""Images that try to drive the terminal they are described on, written byte by byte.

Every text an image carries that boxwright prints for a person gets terminal control
sequences: file names (one with a newline that forges a table row), labels, environment,
history, a layer's media type, an archive's RepoTags. :func:`write_oci_layout` and
:func:`write_docker_archive` write them; :func:`raw_controls` lists what a terminal would
obey in printed bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MTIME = 1_600_000_000

TITLE = "\x1b]0;pwned\x07"  # OSC 0: set the window title; BEL ends it
CLEAR = "\x1b[2J"  # CSI 2 J: clear the screen
CSI_C1 = "\x9b"  # the one-character C1 CSI
FORGED = "FAKE  /etc/shadow"

#: File names of the hostile layer (PAX headers, UTF-8), and how each is shown.
HOSTILE_NAMES: dict[str, str] = {
    f"etc/x\n{FORGED}": "/etc/x\\nFAKE  /etc/shadow",
    f"title{TITLE}": "/title\\x1b]0;pwned\\x07",
    f"clear{CLEAR}": "/clear\\x1b[2J",
    "cr\rforged": "/cr\\rforged",
    f"c1{CSI_C1}2J": "/c1\\u009b2J",
    "del\x7f": "/del\\x7f",
    "bidi\u202etxt.exe": "/bidi\\u202etxt.exe",
    "[bold]markup[/bold]": "/[bold]markup[/bold]",
    "back\\nslash": "/back\\\\nslash",
}

#: A name that is not UTF-8 (a GNU header holding the raw byte 0xff), and how it is shown.
BYTE_NAME = "byte\udcffname"
BYTE_SHOWN = "/byte\\xffname"

LABELS = {
    "title": TITLE,
    "clear": CLEAR,
    "row": f"a\n{FORGED}",
    "c1": f"{CSI_C1}31m",
    "bidi": "\u202eabc",
}
ENV = ["PATH=/bin", "CR=a\rb"]
CREATED_BY = f"/bin/sh -c echo {TITLE}{CLEAR}"


def _tar(names: Sequence[str], *, gnu: bool = False) -> bytes:
    buffer = io.BytesIO()
    fmt = tarfile.GNU_FORMAT if gnu else tarfile.PAX_FORMAT
    with tarfile.open(
        fileobj=buffer, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape"
    ) as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.mode = 0o644
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return buffer.getvalue()


def hostile_layers() -> list[bytes]:
    """Two uncompressed layers: the hostile UTF-8 names, then the name that is not UTF-8."""
    return [_tar(list(HOSTILE_NAMES)), _tar([BYTE_NAME], gnu=True)]


def clean_layers() -> list[bytes]:
    """One plain layer, the other side of a ``diff``."""
    return [_tar(["etc/plain"])]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _config(layers: Sequence[bytes], *, hostile: bool) -> bytes:
    config: dict[str, Any] = {
        "created": "2024-01-02T03:04:05Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ENV, "Labels": LABELS} if hostile else {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [_digest(t) for t in layers]},
        "history": [{"created_by": CREATED_BY if hostile else "/bin/sh -c true"}]
        + [{"created_by": "/bin/sh -c #(nop) ADD file in /"}] * (len(layers) - 1),
    }
    return json.dumps(config).encode()


def write_oci_layout(
    layout: Path, layers: Sequence[bytes], *, hostile: bool = True, media_type: str = ""
) -> str:
    """An OCI layout of ``layers`` (gzip) with hostile labels, env and history (``hostile``);
    ``media_type`` replaces the layers' media type. Returns its ``oci:`` reference."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def blob(data: bytes) -> dict[str, Any]:
        (blobs / _digest(data)[7:]).write_bytes(data)
        return {"digest": _digest(data), "size": len(data)}

    layer_type = media_type or "application/vnd.oci.image.layer.v1.tar+gzip"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **blob(_config(layers, hostile=hostile)),
        },
        "layers": [{"mediaType": layer_type, **blob(gzip.compress(t, mtime=0))} for t in layers],
    }
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **blob(json.dumps(manifest).encode()),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return f"oci:{layout}:latest"


def write_docker_archive(path: Path, repo_tags: Sequence[Sequence[str]]) -> str:
    """A docker archive of one image per entry of ``repo_tags`` (each with those RepoTags),
    all of the same single clean layer. Returns its ``docker-archive:`` reference."""
    layer = clean_layers()[0]
    config = _config([layer], hostile=False)
    items = [
        {"Config": "config.json", "RepoTags": list(tags), "Layers": ["layer.tar"]}
        for tags in repo_tags
    ]
    files = {
        "manifest.json": json.dumps(items).encode(),
        "config.json": config,
        "layer.tar": layer,
    }
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(data))
    return f"docker-archive:{path}"


#: What a terminal obeys or reorders by: C0 controls but the newline, DEL, C1 controls
#: (UTF-8 encoded), and the bidirectional overrides and isolates (UTF-8 encoded).
_RAW_CONTROL = re.compile(
    rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]"
)


def raw_controls(printed: bytes) -> list[bytes]:
    """Every raw control character or bidi override in ``printed`` (empty when it is safe)."""
    return _RAW_CONTROL.findall(printed)
