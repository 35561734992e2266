"""A small image for the network and run-flag tests: busybox, an ``alice`` user, a port.

:func:`make_run_image` writes an OCI layout holding one image: static busybox with its
applets as links in ``/bin``, ``/lib`` and ``/lib64`` as links into ``/usr`` (so the host's
``/usr`` bound read-only at ``/usr`` brings a working ``python3``), ``/etc/passwd`` and
``/etc/group`` naming ``alice`` (1000), a sticky ``/tmp``, and ``EXPOSE 8000/tcp``.
:data:`HTTP_SERVER` is a Python program that answers one GET on port 8000 and exits.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"
APPLETS = [
    "sh",
    "cat",
    "echo",
    "id",
    "ls",
    "stat",
    "touch",
    "mkdir",
    "grep",
    "cut",
    "tr",
    "head",
    "sleep",
    "mount",
    "wc",
    "env",
    "hostname",
    "readlink",
    "chown",
    "true",
    "false",
    "test",
    "wget",
    "nc",
]
HTTP_SERVER = (
    "import http.server as h\n"
    "class H(h.BaseHTTPRequestHandler):\n"
    "    def do_GET(s):\n"
    "        s.send_response(200); s.end_headers()\n"
    "        s.wfile.write(b'from the container ' + s.path.encode())\n"
    "    def log_message(s, *a): pass\n"
    "h.HTTPServer(('0.0.0.0', 8000), H).handle_request()\n"
)
#: The ``-v`` that brings the host's Python into the image.
HOST_USR = "/usr:/usr:ro"


def _add(tar: tarfile.TarFile, name: str, kind: bytes, *, data: bytes = b"", mode: int = 0o755,
         link: str = "", uid: int = 0) -> None:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.linkname = kind, mode, uid, uid, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def make_run_image(layout: Path, tag: str = "latest", *, compress: bool = True) -> str:
    """Write the image into ``layout`` (its layer gzipped, or plain without ``compress``:
    a child that dropped privileges cannot load the gzip codec late); return its ``oci:``
    reference."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("bin", "etc", "usr", "home", "srv"):
            _add(tar, name, tarfile.DIRTYPE)
        _add(tar, "tmp", tarfile.DIRTYPE, mode=0o1777)
        _add(tar, "home/alice", tarfile.DIRTYPE, uid=1000)
        _add(tar, "bin/busybox", tarfile.REGTYPE, data=Path(BUSYBOX).read_bytes())
        for applet in APPLETS:
            _add(tar, f"bin/{applet}", tarfile.SYMTYPE, link="busybox")
        _add(tar, "lib", tarfile.SYMTYPE, link="usr/lib")
        _add(tar, "lib64", tarfile.SYMTYPE, link="usr/lib64")
        passwd = b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
        _add(tar, "etc/passwd", tarfile.REGTYPE, data=passwd, mode=0o644)
        _add(tar, "etc/group", tarfile.REGTYPE, data=b"root:x:0:\nalice:x:1000:\n", mode=0o644)
    raw = buf.getvalue()
    layer = gzip.compress(raw, mtime=0) if compress else raw
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin:/usr/bin"],
            "Cmd": ["sh"],
            "ExposedPorts": {"8000/tcp": {}},
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
    }
    config_raw = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _blob(layout, config_raw),
            "size": len(config_raw),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar"
                + ("+gzip" if compress else ""),
                "digest": _blob(layout, layer),
                "size": len(layer),
            }
        ],
    }
    manifest_raw = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _blob(layout, manifest_raw),
                "size": len(manifest_raw),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return f"oci:{layout}:{tag}"


def needs_helper(name: str) -> str:
    """``name`` (a network helper program), or skip the test when it is not installed."""
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    return name


@pytest.fixture
def host_server() -> Iterator[int]:
    """An HTTP server on the host's 127.0.0.1 only, answering ``host says hi PATH``; its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host says hi " + self.path.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
