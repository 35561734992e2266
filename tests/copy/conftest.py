"""Fixtures for the copy tests: images made by the real peers, and by hand.

* ``peer_layout``: an OCI layout built by umoci (two gzip layers, env, labels, history);
* ``multi_layout``: a hand-made two-platform index (linux/amd64 and linux/arm64);
* ``schema1_dir``: a ``dir:`` image whose manifest is Docker schema 1, over real layer blobs.

They are session-scoped and read-only: tests copy them before changing anything.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from copy_helpers import OCI_INDEX, UMOCI, LayoutWriter, MultiLayout, make_tar, run, sha256


@pytest.fixture(scope="session")
def peer_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout made by umoci, image ``latest``: two gzip layers, env, labels, cmd."""
    if UMOCI is None:
        pytest.skip("umoci is not installed")
    base = tmp_path_factory.mktemp("peer")
    layout = base / "layout"
    umoci = [UMOCI, "--log", "error"]
    run(*umoci, "init", "--layout", layout)
    run(*umoci, "new", "--image", f"{layout}:latest")
    first = base / "first"
    (first / "usr" / "share").mkdir(parents=True)
    # Incompressible-ish content larger than one 1 MiB chunk, so streams cross chunk edges.
    seed = hashlib.sha256(b"boxwright").digest()
    blob = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(50_000))
    (first / "usr" / "share" / "data.bin").write_bytes(blob)
    (first / "usr" / "share" / "hello.txt").write_text("hello\n" * 1000)
    run(*umoci, "insert", "--image", f"{layout}:latest", first / "usr", "/usr")
    second = base / "second"
    second.mkdir()
    (second / "etc").mkdir()
    (second / "etc" / "motd").write_text("welcome <&>\n")
    run(*umoci, "insert", "--image", f"{layout}:latest", second / "etc", "/etc")
    run(
        *umoci,
        "config",
        "--image",
        f"{layout}:latest",
        "--config.env",
        "FOO=bar",
        "--config.env",
        "PATH=/usr/bin",
        "--config.label",
        "org.example.team=a&b <c>",
        "--config.label",
        "version=1",
        "--config.cmd",
        "/bin/sh",
    )
    return layout


@pytest.fixture(scope="session")
def multi_layout(tmp_path_factory: pytest.TempPathFactory) -> MultiLayout:
    """A hand-made layout whose ref ``multi`` names an index of linux/amd64 and linux/arm64."""
    root = tmp_path_factory.mktemp("multi") / "layout"
    writer = LayoutWriter(root)
    children = {}
    for arch in ("amd64", "arm64"):
        desc = writer.image(arch, {f"etc/{arch}": arch.encode() * 100, "etc/common": b"same"})
        desc["platform"] = {"architecture": arch, "os": "linux"}
        children[arch] = desc
    index = writer.json_blob(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(children.values())},
        OCI_INDEX,
    )
    index_entry = dict(index, annotations={"org.opencontainers.image.ref.name": "multi"})
    writer.index_json([index_entry])
    return MultiLayout(root, index, children)


@pytest.fixture(scope="session")
def schema1_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``dir:`` image with an unsigned Docker schema 1 manifest and two gzip layers.

    Schema 1 lists layers newest first, with one ``v1Compatibility`` JSON per layer; the
    second entry is a "throwaway" layer (an empty tar), as docker wrote for ENV steps.
    """
    root = tmp_path_factory.mktemp("schema1") / "image"
    root.mkdir()
    (root / "version").write_text("Directory Transport Version: 1.1\n")
    base = gzip.compress(make_tar({"bin/tool": b"#!/bin/sh\necho tool\n"}), mtime=0)
    top = gzip.compress(make_tar({"etc/motd": b"schema one\n"}), mtime=0)
    empty = gzip.compress(make_tar({}), mtime=0)
    for data in (base, top, empty):
        (root / sha256(data)[7:]).write_bytes(data)
    ids = [hashlib.sha256(n.encode()).hexdigest() for n in ("l1", "l2", "l3")]
    v1 = [
        {
            "id": ids[2],
            "parent": ids[1],
            "created": "2020-05-06T07:08:09.5Z",
            "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ADD motd"]},
            "config": {"Env": ["A=1"], "Cmd": ["/bin/tool"], "Labels": {"s": "1"}},
            "architecture": "amd64",
            "os": "linux",
            "docker_version": "1.13.1",
        },
        {
            "id": ids[1],
            "parent": ids[0],
            "created": "2020-05-06T07:08:08Z",
            "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ENV A=1"]},
            "throwaway": True,
        },
        {
            "id": ids[0],
            "created": "2020-05-06T07:08:07Z",
            "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ADD tool"]},
        },
    ]
    manifest = {
        "schemaVersion": 1,
        "name": "example/schema1",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256(d)} for d in (top, empty, base)],
        "history": [{"v1Compatibility": json.dumps(h, separators=(",", ":"))} for h in v1],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=3))
    return root


@pytest.fixture()
def layout_copy(tmp_path: Path, peer_layout: Path) -> Iterator[Path]:
    """A private copy of the peer layout, for tests that corrupt or change it."""
    dest = tmp_path / "layout-copy"
    shutil.copytree(peer_layout, dest)
    yield dest


@pytest.fixture(autouse=True)
def _private_blob_info_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own blob-info cache file (copies that recompress record digest
    pairs there), so no test sees what another one, or the user's own copies, recorded."""
    path = tmp_path / "blob-info-cache.json"
    monkeypatch.setenv("BOXWRIGHT_BLOB_INFO_CACHE", str(path))
    return path
