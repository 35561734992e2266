"""diff_images on images buildah built (the peer_images fixture): its stage 1 against the
final image, across transports (an OCI layout against a docker archive)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from boxwright.explain.diff import diff_images


@pytest.fixture(scope="module")
def stage1(peer_images: object, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Stage 1 of the peer image (layer 1 only, no config), exported by skopeo."""
    skopeo = shutil.which("skopeo")
    assert skopeo is not None  # peer_images skipped otherwise
    layout = tmp_path_factory.mktemp("stage1") / "oci"
    storage = peer_images.storage.replace(":latest", ":stage1")  # type: ignore[attr-defined]
    subprocess.run([skopeo, "copy", "--quiet", storage, f"oci:{layout}:s1"], check=True)
    return f"oci:{layout}:s1"


def _paths(changes: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (c["path"], tuple(c.get("changes", ())))  # type: ignore[arg-type]
        for c in changes
    ]


@pytest.mark.parametrize("final", ["oci", "docker-archive"])
def test_stage1_against_final(peer_images: object, stage1: str, final: str) -> None:
    ref = peer_images.refs[final]  # type: ignore[attr-defined]
    result = diff_images(stage1, ref)
    assert result.differs
    assert [c.field for c in result.config] == [
        "created",
        "config.Labels[org.example.layers]",
        "config.Labels[org.example.role]",
        "config.User",
        "config.Env[GREETING]",
        "config.Env[PATH]",
        "config.Entrypoint",
        "config.Cmd",
        "config.WorkingDir",
    ]
    assert {c.field: c.b for c in result.config if c.field != "created"} == {
        "config.Labels[org.example.layers]": "3",
        "config.Labels[org.example.role]": "test",
        "config.User": "0:0",
        "config.Env[GREETING]": "hello world",
        "config.Env[PATH]": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "config.Entrypoint": ["/bin/sh", "-c"],
        "config.Cmd": ["echo $GREETING"],
        "config.WorkingDir": "/data",
    }
    assert result.history.common == 1
    assert result.history.a == ()
    assert [h.created_by for h in result.history.b] == [
        "RUN rm /data/b.txt && echo c > /data/c.txt && echo changed > /data/a.txt",
        "COPY motd /etc/motd",
    ]
    assert result.layers.common == 1
    shared = "digest" if final == "oci" else "diff_id"  # the docker archive stores tars
    assert [(r.shared, r.other_index) for r in result.layers.a] == [(shared, 0)]
    assert [(r.shared, r.other_index) for r in result.layers.b] == [
        (shared, 0),
        (None, None),
        (None, None),
    ]
    files = result.files.to_dict()
    # buildah run leaves its mount points and the files it bind-mounts behind in the layer
    assert _paths(files["added"]) == [
        ("/data/c.txt", ()),
        ("/dev", ()),
        ("/etc/hostname", ()),
        ("/etc/hosts", ()),
        ("/etc/motd", ()),
        ("/etc/resolv.conf", ()),
        ("/proc", ()),
        ("/run", ()),
        ("/sys", ()),
    ]
    assert _paths(files["removed"]) == [("/data/b.txt", ())]
    assert _paths(files["modified"]) == [("/data/a.txt", ("size",))]
    assert files["summary"] == {
        "added": 9,
        "removed": 1,
        "modified": 1,
        "added_bytes": len("c\n") + len("welcome\n"),
        "removed_bytes": len("b\n"),
        "modified_bytes_delta": len("changed\n") - len("a\n"),
    }


def test_same_image_on_two_transports(peer_images: object) -> None:
    refs = peer_images.refs  # type: ignore[attr-defined]
    result = diff_images(refs["oci-zstd"], refs["docker-archive"])
    assert not result.differs  # same config, same tars: only the storage differs
    assert result.a.config_digest == result.b.config_digest
    assert [r.shared for r in result.layers.a] == ["diff_id"] * 3
