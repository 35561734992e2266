"""Files of an image that are not regular files: a FIFO (which would block a read forever), a
symlink to ``/dev/zero`` or outside, a directory, a socket, a device. In place of a blob, an
``index.json``, ``oci-layout``, a ``dir:`` ``manifest.json`` or ``version``, or an archive,
each is refused with :class:`NotRegularFileError` within a short time, and the CLI prints one
line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import NotRegularFileError
from boxwright.inspect import inspect_image
from boxwright.transport.image import open_image
from boxwright.transport.reference import parse_transport_reference
from boxwright.transport.regular import open_regular, read_regular

pytestmark = pytest.mark.timeout(20)

Replace = Callable[[Path], str]
"""Puts something that is not a regular file at a path; returns what the error calls it."""


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "a FIFO"


def _dev_zero(path: Path) -> str:
    path.symlink_to("/dev/zero")
    return "a symbolic link"


def _outside(path: Path) -> str:
    outside = path.parent.parent / f"outside-{path.name}"
    outside.write_bytes(b"{}")
    path.symlink_to(outside)
    return "a symbolic link"


def _directory(path: Path) -> str:
    path.mkdir()
    return "a directory"


def _socket(path: Path) -> str:
    short = Path(tempfile.mkdtemp(prefix="bx-", dir="/tmp"))
    try:
        sock = socket.socket(socket.AF_UNIX)
        _SOCKETS.append(sock)
        sock.bind(str(short / "s"))  # a socket path is limited to 107 bytes
        os.rename(short / "s", path)
    finally:
        shutil.rmtree(short)
    return "a socket"


def _char_device(path: Path) -> str:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    return "a character device"


_SOCKETS: list[socket.socket] = []
KINDS: dict[str, Replace] = {
    "fifo": _fifo,
    "symlink-dev-zero": _dev_zero,
    "symlink-outside": _outside,
    "directory": _directory,
    "socket": _socket,
    "char-device": _char_device,
}


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _SOCKETS:
        _SOCKETS.pop().close()


def _swap(path: Path, kind: str) -> str:
    path.unlink()
    return KINDS[kind](path)


@pytest.mark.parametrize("kind", KINDS)
def test_open_regular_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "f"
    what = KINDS[kind](path)
    with pytest.raises(NotRegularFileError) as refused:
        open_regular(path, "the blob")
    assert str(refused.value) == f"the blob is {what}, not a regular file; refusing to read it"


def test_open_regular_reads_regular_files_blocking(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    with open_regular(path) as f:
        assert f.read() == b"data"
        assert os.get_blocking(f.fileno())  # O_NONBLOCK is cleared once it is known regular
    link = tmp_path / "link"
    link.symlink_to(path)
    with open_regular(link, follow_symlinks=True) as f:
        assert f.read() == b"data"
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "fifo-link").symlink_to(tmp_path / "fifo")
    with pytest.raises(NotRegularFileError, match="is a FIFO, not a regular file"):
        open_regular(tmp_path / "fifo-link", follow_symlinks=True)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")
    assert read_regular(path, 4) == b"data"


def _blob(layout: Path, role: str) -> Path:
    """The blob file of ``role`` (manifest, config, layer) of the layout's only image."""
    index = json.loads((layout / "index.json").read_bytes())
    manifest_digest = index["manifests"][0]["digest"]
    blobs = layout / "blobs" / "sha256"
    if role == "manifest":
        return blobs / manifest_digest.split(":")[1]
    manifest = json.loads((blobs / manifest_digest.split(":")[1]).read_bytes())
    digest = manifest["config"]["digest"] if role == "config" else manifest["layers"][0]["digest"]
    return blobs / digest.split(":")[1]


def _read_everything(ref: str) -> None:
    """What ``inspect`` and a copy read: manifest, config and every layer to its end."""
    inspect_image(ref)
    source = parse_transport_reference(ref).open_source()
    try:
        image = open_image(source)
        for layer in image.layers:
            with image.open_layer(layer) as stream:
                while stream.read(1 << 20):
                    pass
    finally:
        source.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ["index.json", "oci-layout", "manifest", "config", "layer"])
def test_oci_layout_files(peer_images: Any, tmp_path: Path, role: str, kind: str) -> None:
    layout = shutil.copytree(peer_images.oci, tmp_path / "layout", symlinks=True)
    path = layout / role if role in ("index.json", "oci-layout") else _blob(layout, role)
    what = _swap(path, kind)
    with pytest.raises(NotRegularFileError) as refused:
        _read_everything(f"oci:{layout}:latest")
    assert str(refused.value) == f"{path} is {what}, not a regular file; refusing to read it"


def _dir_blob(image: Path, role: str) -> Path:
    manifest = json.loads((image / "manifest.json").read_bytes())
    if role == "manifest.json":
        return image / "manifest.json"
    if role == "version":
        return image / "version"
    digest = manifest["config"]["digest"] if role == "config" else manifest["layers"][0]["digest"]
    return image / digest.split(":")[1]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ["manifest.json", "version", "config", "layer"])
def test_dir_files(peer_images: Any, tmp_path: Path, role: str, kind: str) -> None:
    image = shutil.copytree(peer_images.dir, tmp_path / "dir", symlinks=True)
    path = _dir_blob(image, role)
    what = _swap(path, kind)
    with pytest.raises(NotRegularFileError) as refused:
        _read_everything(f"dir:{image}")
    assert str(refused.value) == f"{path} is {what}, not a regular file; refusing to read it"


@pytest.mark.parametrize("kind", ["fifo", "symlink-dev-zero", "directory", "socket"])
def test_archive_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "image.tar"
    path.touch()
    what = _swap(path, kind)
    if kind == "symlink-dev-zero":
        what = "a character device"  # the user named the path: the link is followed
    for transport in ("oci-archive", "docker-archive"):
        with pytest.raises(NotRegularFileError) as refused:
            inspect_image(f"{transport}:{path}")
        assert str(refused.value) == f"{path} is {what}, not a regular file; refusing to read it"


def test_inspect_cli_prints_one_line_for_a_fifo_blob(peer_images: Any, tmp_path: Path) -> None:
    layout = shutil.copytree(peer_images.oci, tmp_path / "layout", symlinks=True)
    config = _blob(layout, "config")
    _swap(config, "fifo")
    done = subprocess.run(
        [sys.executable, "-m", "boxwright", "inspect", f"oci:{layout}:latest"],
        capture_output=True,
        text=True,
        timeout=20,
        stdin=subprocess.DEVNULL,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"Error: {config} is a FIFO, not a regular file; refusing to read it\n"


def test_writing_into_a_layout_whose_index_is_a_fifo(peer_images: Any, tmp_path: Path) -> None:
    from boxwright.copy import copy_image

    layout = shutil.copytree(peer_images.oci, tmp_path / "layout", symlinks=True)
    _swap(layout / "index.json", "fifo")
    with pytest.raises(NotRegularFileError) as refused:
        copy_image(peer_images.refs["oci"], f"oci:{layout}:copy")
    message = f"{layout / 'index.json'} is a FIFO, not a regular file; refusing to read it"
    assert str(refused.value) == message
    assert stat.S_ISFIFO((layout / "index.json").lstat().st_mode)
