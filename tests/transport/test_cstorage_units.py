"""The containers-storage transport's parts that need no peer: references, storage.conf,
tar-split records, lock files."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from boxwright.errors import InvalidReferenceError, LayerError
from boxwright.transport.cstorage.location import StoreSpec, resolve
from boxwright.transport.cstorage.lockfile import LAST_WRITE_SIZE, locked
from boxwright.transport.cstorage.naming import parse
from boxwright.transport.cstorage.records import big_data_file
from boxwright.transport.cstorage.tarsplit import Crc64, TarSplitAssembler, TarSplitRecorder
from boxwright.transport.reference import parse_transport_reference

ID = "a3898195e562f3aea1a5985f305b42f6109c35b9ef5df0d2d17f26d26b05cc25"


@pytest.mark.parametrize(
    ("text", "spec", "name", "image_id"),
    [
        ("busybox", StoreSpec(), "docker.io/library/busybox:latest", ""),
        ("localhost/app:1", StoreSpec(), "localhost/app:1", ""),
        (
            "[overlay@/r+/run:a=1,b=2]localhost/app",
            StoreSpec("overlay", "/r", "/run", ("a=1", "b=2")),
            "localhost/app:latest",
            "",
        ),
        ("[/r]app:2", StoreSpec("", "/r"), "docker.io/library/app:2", ""),
        (ID, StoreSpec(), None, ID),
        (f"localhost/app:1@{ID}", StoreSpec(), "localhost/app:1", ID),
    ],
)
def test_references_parse_as_containers_image_does(
    text: str, spec: StoreSpec, name: str | None, image_id: str
) -> None:
    ref = parse(text, text)
    assert ref.spec == spec
    assert (str(ref.name) if ref.name is not None else None) == name
    assert ref.image_id == image_id


def test_transport_reference_keeps_the_whole_text() -> None:
    ref = parse_transport_reference("containers-storage:[vfs@/r+/x]localhost/app:1")
    assert (ref.transport, ref.path) == ("containers-storage", "[vfs@/r+/x]localhost/app:1")
    assert str(ref) == "containers-storage:[vfs@/r+/x]localhost/app:1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[overlay@/r", "does not end with ]"),
        ("[@/r]app", "no storage driver before @"),
        ("[overlay@rel]app", "is not absolute"),
        ("[/r]", "needs an image name or ID"),
        ("app@xyz!", "is not an image ID or a digest"),
    ],
)
def test_bad_references_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        parse_transport_reference(f"containers-storage:{text}")


def test_storage_conf_as_podman_reads_it(tmp_path: Path) -> None:
    conf = tmp_path / "storage.conf"
    conf.write_text('[storage]\ndriver = "vfs"\ngraphroot = "/g"\nrunroot = "/rr"\n')
    env = {"CONTAINERS_STORAGE_CONF": str(conf), "HOME": str(tmp_path)}
    location = resolve(StoreSpec(), env)
    if os.geteuid() == 0:
        assert (location.driver, str(location.graphroot), str(location.runroot)) == (
            "vfs",
            "/g",
            "/rr",
        )
    # A specifier wins over the file, field by field.
    location = resolve(StoreSpec("overlay", "/x"), env)
    assert (location.driver, str(location.graphroot)) == ("overlay", "/x")


def test_root_defaults_without_storage_conf(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("root's defaults")
    env = {"CONTAINERS_STORAGE_CONF": str(tmp_path / "none.conf")}
    location = resolve(StoreSpec(), env)
    assert (location.driver, str(location.graphroot), str(location.runroot)) == (
        "overlay",
        "/var/lib/containers/storage",
        "/run/containers/storage",
    )


def test_big_data_file_names() -> None:
    assert big_data_file("manifest") == "manifest"
    key = f"sha256:{ID}"
    assert big_data_file(key) == "=" + base64.b64encode(key.encode()).decode()


def test_crc64_is_gos_iso_crc() -> None:
    # Go: crc64.Checksum([]byte("123456789"), crc64.MakeTable(crc64.ISO)) == 0xb90956c775a41001
    crc = Crc64()
    crc.update(b"1234")
    crc.update(b"56789")
    assert crc.digest() == (0xB90956C775A41001).to_bytes(8, "big")


def _tar_with_everything() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("a.txt", b"x" * 700), ("d/" + "n" * 150, b"long"), ("d/é", b"")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.uid, info.gid = 7, 9
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("d/.wh.gone")
        tar.addfile(link)
    return buf.getvalue()


def test_recorded_tar_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    data = _tar_with_everything()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp_path / "files", filter="tar")
    out = io.BytesIO()
    recorder = TarSplitRecorder(out)
    for i in range(0, len(data), 333):
        recorder.feed(data[i : i + 333])
    recorder.close()
    assert recorder.uids == {0, 7} and recorder.gids == {0, 9}
    entries = [json.loads(line) for line in gzip.decompress(out.getvalue()).splitlines()]
    files = [(e.get("name"), e.get("size")) for e in entries if e["type"] == 1]
    assert files == [("a.txt", 700), ("d/" + "n" * 150, 4), ("d/é", None), ("d/.wh.gone", None)]

    def opener(name: bytes) -> io.BufferedReader:
        return open(tmp_path / "files" / os.fsdecode(name), "rb")

    rebuilt = TarSplitAssembler(io.BytesIO(out.getvalue()), opener, "test").read()
    assert hashlib.sha256(rebuilt).digest() == hashlib.sha256(data).digest()

    (tmp_path / "files" / "a.txt").write_bytes(b"y" * 700)
    with pytest.raises(LayerError, match="no longer matches the layer's tar-split record"):
        TarSplitAssembler(io.BytesIO(out.getvalue()), opener, "test").read()


def test_trailing_bytes_are_recorded_in_pieces(tmp_path: Path) -> None:
    # Bytes after the end-of-archive blocks (a writer's padding, or junk) are kept exactly,
    # as segments of about a MiB: the recorder never piles them up in memory.
    data = _tar_with_everything() + bytes(3 << 20) + b"tail"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp_path / "files", filter="tar")
    out = io.BytesIO()
    recorder = TarSplitRecorder(out)
    for i in range(0, len(data), 1 << 16):
        recorder.feed(data[i : i + (1 << 16)])
    recorder.close()
    entries = [json.loads(line) for line in gzip.decompress(out.getvalue()).splitlines()]
    sizes = [len(base64.b64decode(e["payload"])) for e in entries if e["type"] == 2]
    assert max(sizes) < (1 << 20) + (1 << 17)
    assert sum(sizes) == len(data) - 700 - 4

    def opener(name: bytes) -> io.BufferedReader:
        return open(tmp_path / "files" / os.fsdecode(name), "rb")

    assembler = TarSplitAssembler(io.BytesIO(out.getvalue()), opener, "test")
    rebuilt = b"".join(iter(lambda: assembler.read(1 << 16), b""))
    assert rebuilt == data


def test_lock_records_a_new_last_write(tmp_path: Path) -> None:
    path = tmp_path / "layers.lock"
    with locked(path, exclusive=True) as held:
        assert held.last_write() == b""
        held.record_write()
        first = held.last_write()
    assert len(first) == LAST_WRITE_SIZE
    assert int.from_bytes(first[16:20], "little") == os.getpid()
    with locked(path, exclusive=False) as a, locked(path, exclusive=False) as b:
        assert a.last_write() == b.last_write() == first
    with locked(path, exclusive=True) as held:
        held.record_write()
        assert held.last_write() != first
