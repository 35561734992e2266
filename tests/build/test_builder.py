"""The Builder end to end: a step-by-step build on a buildah-made base, checked by the peers.

The image is committed into a private store, copied to ``oci:`` with boxwright's copy, then
read by ``skopeo inspect --config`` and unpacked by ``umoci``. The same build as an
unprivileged user must give the same layer digest with a fixed timestamp, and a rootless
``chown 1000:1000`` must reach the tar headers.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from boxwright.build import Builder
from boxwright.copy import copy_image
from boxwright.errors import ContainerNotFoundError
from boxwright.store.store import Store
from boxwright_testing.users import User, as_user, chown_tree

SKOPEO = shutil.which("skopeo")
UMOCI = shutil.which("umoci")
pytestmark = pytest.mark.peers


def _layer_members(store: Store, digest: Any) -> dict[str, tarfile.TarInfo]:
    raw = store.blobs.read(digest, limit=64 << 20)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        return {m.name: m for m in tar.getmembers()}


def _build(store_root: str, base: str, source: str) -> dict[str, Any]:
    """The issue's build, as a function so that it can run as another user."""
    store = Store(store_root)
    with Builder.from_image(base, store=store) as b:
        b.copy([source], "/srv/app/", chown="1000:1000", chmod="0640")
        b.copy([source], "/data/by-name.txt", chown="alice")
        b.config(
            env=["MODE=prod"],
            cmd='["--serve"]',
            entrypoint='["/bin/sh", "-c"]',
            workingdir="/srv/app",
            user="1000:1000",
            port=["8080"],
            volume=["/var/lib/app"],
            label=["org.example.app=demo"],
            annotation=["org.example.note=hi"],
            stop_signal="SIGTERM",
            author="Jane Doe",
            created_by="COPY app.conf /srv/app/",
        )
        image = b.commit("app:1", timestamp=0)
    return {
        "layers": [str(d) for d in image.layers],
        "id": image.id,
        "containers": len(store.containers.list()),
    }


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "app.conf"
    path.write_text("port = 8080\n")
    os.utime(path, (1_600_000_000, 1_600_000_000))
    return path


@pytest.mark.skipif(SKOPEO is None or UMOCI is None, reason="skopeo and umoci are needed")
def test_step_by_step_build_opened_by_skopeo_and_umoci(
    peer_images: Any, tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    monkeypatch.setenv("BOXWRIGHT_ROOT", str(root))
    built = _build(str(root), peer_images.refs["oci"], str(source))
    assert built["containers"] == 0  # the context manager removed the working container
    assert len(built["layers"]) == peer_images.layer_count + 1

    store = Store(root)
    members = _layer_members(store, store.images.get("app:1").layers[-1])
    conf = members["srv/app/app.conf"]
    assert (conf.uid, conf.gid, conf.mode, conf.mtime) == (1000, 1000, 0o640, 0)
    by_name = members["data/by-name.txt"]
    assert (by_name.uid, by_name.gid, by_name.mode) == (1000, 1000, 0o644)

    layout = tmp_path / "out"
    copy_image("store:app:1", f"oci:{layout}:app")
    assert SKOPEO is not None and UMOCI is not None
    inspected = subprocess.run(
        [SKOPEO, "inspect", "--config", f"oci:{layout}:app"],
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(inspected.stdout)
    cfg = config["config"]
    assert cfg["Env"] == [*peer_images.env, "MODE=prod"]
    assert (cfg["Entrypoint"], cfg["Cmd"]) == (["/bin/sh", "-c"], ["--serve"])
    assert (cfg["WorkingDir"], cfg["User"], cfg["StopSignal"]) == (
        "/srv/app",
        "1000:1000",
        "SIGTERM",
    )
    assert cfg["ExposedPorts"] == {"8080/tcp": {}}
    assert cfg["Volumes"] == {"/var/lib/app": {}}
    assert cfg["Labels"] == {
        **peer_images.labels,
        "io.buildah.version": cfg["Labels"]["io.buildah.version"],  # buildah's, from the base
        "org.example.app": "demo",
    }
    assert config["author"] == "Jane Doe"
    assert config["created"] == "1970-01-01T00:00:00Z"
    assert config["history"][-1]["created_by"] == "COPY app.conf /srv/app/"
    raw_manifest = subprocess.run(
        [SKOPEO, "inspect", "--raw", f"oci:{layout}:app"], capture_output=True, check=True
    ).stdout
    assert json.loads(raw_manifest)["annotations"] == {"org.example.note": "hi"}

    bundle = tmp_path / "bundle"
    subprocess.run(
        [UMOCI, "--log", "error", "unpack", "--image", f"{layout}:app", str(bundle)],
        check=True,
        capture_output=True,
    )
    unpacked = bundle / "rootfs" / "srv" / "app" / "app.conf"
    st = unpacked.lstat()
    assert unpacked.read_text() == "port = 8080\n"
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 1000, 1000)
    assert (bundle / "rootfs" / "etc" / "motd").read_text() == "welcome\n"  # the base is there


def test_rootless_build_gives_the_same_layers(
    peer_images: Any, unprivileged_user: User, user_dir: Path, tmp_path: Path, source: Path
) -> None:
    layout = user_dir / "base"
    shutil.copytree(peer_images.oci, layout)
    user_source = user_dir / "app.conf"
    shutil.copy2(source, user_source)
    chown_tree(user_dir, unprivileged_user)
    base = f"oci:{layout}:{peer_images.tag}"
    as_root = _build(str(tmp_path / "store"), base, str(source))
    rootless = as_user(unprivileged_user, _build, str(user_dir / "store"), base, str(user_source))
    assert rootless["layers"] == as_root["layers"]
    assert rootless["id"] == as_root["id"]

    store = Store(user_dir / "store")
    members = _layer_members(store, store.images.get("app:1").layers[-1])
    assert (members["srv/app/app.conf"].uid, members["srv/app/app.conf"].gid) == (1000, 1000)
    assert (members["srv/app"].uid, members["srv"].uid) == (1000, 1000)


def test_mount_edits_appear_in_the_next_commit(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with Builder.from_image("scratch", store=store) as b:
        path = b.mount()
        (path / "edited.txt").write_text("by hand\n")
        assert b.record.mounted
        b.umount()
        assert not b.record.mounted
        image = b.commit("edited:1", timestamp=0)
    members = _layer_members(store, image.layers[-1])
    assert sorted(members) == ["edited.txt"]
    assert members["edited.txt"].size == len("by hand\n")


def test_context_manager_keep_and_attach(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with Builder.from_image(None, store=store, name="kept", keep=True) as kept:
        assert kept.name == "kept"
    with Builder.attach("kept", store) as again:
        assert again.id == kept.id
    assert [r.name for r in store.containers.list()] == ["kept"]
    with pytest.raises(RuntimeError, match="boom"), Builder.from_image(None, store=store) as b:
        raise RuntimeError("boom")
    with pytest.raises(ContainerNotFoundError):
        store.containers.get(b.id)
    kept.remove()
    assert store.containers.list() == []


def test_config_history_notes_and_annotations(tmp_path: Path, source: Path) -> None:
    store = Store(tmp_path / "store")
    with Builder.from_image(None, store=store) as b:
        b.copy(source, "/a.conf", add_history=True)
        b.config(created_by="step one", history_comment="why")
        b.config(annotation=["a=1", "b=2"])
        b.config(annotation="a-")
        assert b.annotations == {"b": "2"}
        history = b.record.history
        assert history[0]["empty_layer"] is True
        assert history[0]["created_by"].startswith("/bin/sh -c #(nop) COPY file:")
        assert history[1] == {"created_by": "step one", "comment": "why"}
        image = b.commit("noted:1", timestamp=0)
    config = json.loads(store.blobs.read(image.config))
    assert [h.get("created_by") for h in config["history"]] == [
        history[0]["created_by"],
        "step one",
    ]
    assert config["history"][1]["comment"] == "why"
    manifest = json.loads(store.blobs.read(image.manifest))
    assert manifest["annotations"] == {"b": "2"}


def test_add_extracts_archives_and_copies_files(tmp_path: Path, source: Path) -> None:
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="etc/app.conf")
    store = Store(tmp_path / "store")
    with Builder.from_image(None, store=store) as b:
        written = b.add([archive, source], "/opt/")
        assert "opt/etc/app.conf" in written and "opt/app.conf" in written
        image = b.commit("added:1", timestamp=0)
    members = _layer_members(store, image.layers[-1])
    assert {"opt/etc/app.conf", "opt/app.conf"} <= set(members)


def _set_env(root: str, container: str, n: int) -> None:
    Builder.attach(container, Store(root)).config(
        env=[f"K{n}=v{n}"], label=[f"l{n}=x"], annotation=[f"a{n}=y"]
    )


def test_parallel_config_changes_are_never_lost(tmp_path: Path) -> None:
    """Eight processes change one container's config at once: every change is there."""
    import multiprocessing

    store = Store(tmp_path / "store")
    with Builder.from_image(None, store=store) as b:
        context = multiprocessing.get_context("fork")
        workers = [
            context.Process(target=_set_env, args=(str(store.root), b.id, n)) for n in range(8)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
            assert worker.exitcode == 0
        config = b.record.config["config"]
        assert sorted(e for e in config["Env"] if e.startswith("K")) == [
            f"K{n}=v{n}" for n in range(8)
        ]
        assert config["Labels"] == {f"l{n}": "x" for n in range(8)}
        assert b.annotations == {f"a{n}": "y" for n in range(8)}
