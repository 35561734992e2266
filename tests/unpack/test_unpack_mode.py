"""The unpacked directory is ``0700``: an image's setuid-root programs are never reachable by
other local users, not while the layers are written and not after (unless ``mode`` asks)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from unpack_helpers import layer_entries

from boxwright.errors import UsageError
from boxwright.unpack import repack_image, unpack_image
from boxwright_testing.users import User, as_user

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a root unpack needs root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _put(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(entries: list[tuple[str, int, bytes | None]]) -> bytes:
    """A plain tar of ``(name, mode, content or None for a directory)`` owned by root."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode, data in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 1_600_000_000
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="module")
def root_entry_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout whose two layers each hold a ``./`` entry of mode 0755 (the root
    directory) and a setuid-root program."""
    layout = tmp_path_factory.mktemp("root-entry") / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    layers = [
        _layer([("./", 0o755, None), ("usr/", 0o755, None), ("usr/suid", 0o4755, b"#!/bin/sh\n")]),
        _layer([("./", 0o755, None), ("etc/", 0o755, None), ("etc/motd", 0o644, b"hi\n")]),
    ]
    diff_ids = [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_put(layout, json.dumps(config).encode()),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", **_put(layout, layer)}
            for layer in layers
        ],
    }
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_put(layout, json.dumps(manifest).encode()),
        "annotations": {"org.opencontainers.image.ref.name": "t"},
    }
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return layout


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A root-owned directory every user can search (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="bx-unpack-", dir="/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.mark.parametrize("bundle", [False, True])
@pytest.mark.parametrize("exists", [False, True])
def test_the_target_is_0700_throughout(
    root_entry_layout: Path, tmp_path: Path, bundle: bool, exists: bool
) -> None:
    """Checked at every layer's start and end: no moment at 0755, though each layer's ``./``
    entry says 0755; a given empty directory (made 0755) is narrowed before anything."""
    dest = tmp_path / "dest"
    if exists:
        dest.mkdir(mode=0o755)
        os.chmod(dest, 0o755)
    seen: list[tuple[str, int]] = []
    result = unpack_image(
        f"oci:{root_entry_layout}:t",
        dest,
        bundle=bundle,
        rootless=False,
        on_progress=lambda kind, *_: seen.append((kind, _mode(dest))),
    )
    assert seen == [("start", 0o700), ("done", 0o700)] * 2
    assert _mode(dest) == 0o700
    suid = result.rootfs / "usr" / "suid"
    assert (_mode(suid), suid.stat().st_uid) == (0o4755, 0)
    if bundle:  # as umoci: the rootfs inside the private bundle has the image's mode
        assert _mode(result.rootfs) == 0o755


def test_mode_asks_for_another_mode_at_the_end(root_entry_layout: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    dest = tmp_path / "dest"
    unpack_image(
        f"oci:{root_entry_layout}:t",
        dest,
        rootless=False,
        mode=0o755,
        on_progress=lambda *_: seen.append(_mode(dest)),
    )
    assert seen == [0o700] * 4
    assert _mode(dest) == 0o755


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (0o644, "invalid mode 0644 for the unpacked directory: its owner needs rwx (0700)"),
        (0o4755, "invalid mode 4755 for the unpacked directory: expected 0 to 0777"),
    ],
)
def test_invalid_modes_are_refused(
    root_entry_layout: Path, tmp_path: Path, mode: int, message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        unpack_image(f"oci:{root_entry_layout}:t", tmp_path / "dest", mode=mode)
    assert str(refused.value) == message
    assert not (tmp_path / "dest").exists()


def test_a_directory_another_user_owns_is_refused(
    root_entry_layout: Path, tmp_path: Path, unprivileged_user: User
) -> None:
    """Its owner could chmod it open again once the setuid programs are inside."""
    dest = tmp_path / "theirs"
    dest.mkdir()
    os.chown(dest, unprivileged_user.uid, unprivileged_user.gid)
    with pytest.raises(UsageError) as refused:
        unpack_image(f"oci:{root_entry_layout}:t", dest, rootless=False)
    assert str(refused.value) == (
        f"cannot unpack into {dest}: it belongs to uid {unprivileged_user.uid}, who could open "
        "it to others (unpack into a new directory, or one you own)"
    )
    assert os.listdir(dest) == []


def _reach(path: str) -> str:
    """What an unprivileged user gets when trying to run ``path``."""
    try:
        os.stat(path)
    except PermissionError:
        return "denied"
    return "reachable"


@pytest.mark.peers
@pytest.mark.parametrize("bundle", [False, True])
def test_other_users_cannot_reach_the_setuid_program(
    peer_images: Any, shared_tmp: Path, unprivileged_user: User, bundle: bool
) -> None:
    dest = shared_tmp / "image"
    result = unpack_image(peer_images.refs["oci"], dest, bundle=bundle, rootless=False)
    suid = result.rootfs / "usr" / "bin" / "suid"
    assert (_mode(suid), suid.stat().st_uid) == (0o4755, 0)
    assert as_user(unprivileged_user, _reach, str(suid)) == "denied"
    # The same test sees the program when the directory is opened: it can fail.
    os.chmod(dest, 0o755)
    assert as_user(unprivileged_user, _reach, str(suid)) == "reachable"


def test_repack_after_a_private_unpack_adds_only_the_changes(
    root_entry_layout: Path, tmp_path: Path
) -> None:
    layout = shutil.copytree(root_entry_layout, tmp_path / "layout")
    unpack_image(f"oci:{layout}:t", tmp_path / "root", rootless=False)
    (tmp_path / "root" / "hello").write_text("hi\n")
    result = repack_image(tmp_path / "root", f"oci:{layout}:next")
    assert sorted(layer_entries(layout, str(result.layer.digest))) == ["hello"]
