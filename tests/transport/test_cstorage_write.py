"""Images boxwright writes into a containers-storage store (overlay), used by the peers:
``podman images`` lists it, ``podman run`` runs it (the whiteout and the opaque directory
hold), ``buildah from`` starts from it, and skopeo copies it back out with the same diff_ids
(the tar-split records boxwright wrote rebuild each layer's exact tar)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.copy import copy_image
from boxwright.oci.platform import Platform
from boxwright_testing.cstorage import (
    PeerStore,
    busybox_context,
    busybox_index,
    diff_ids,
    needs_peers,
    peer_store,
)

pytestmark = needs_peers


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PeerStore, PeerStore]]:
    """A podman store holding the busybox image, and an empty store to write into."""
    base = tmp_path_factory.mktemp("cs-write")
    built = peer_store(base / "built", "overlay")
    built.podman("build", "-q", "-t", "localhost/built:1", str(busybox_context(base)))
    target = peer_store(base / "target", "overlay")
    yield built, target
    built.release()
    target.release()


def test_podman_runs_what_boxwright_wrote(
    stores: tuple[PeerStore, PeerStore], tmp_path: Path
) -> None:
    built, target = stores
    copy_image(built.ref("localhost/built:1"), f"oci:{tmp_path / 'lay'}:x")
    copy_image(f"oci:{tmp_path / 'lay'}:x", target.ref("localhost/app:1"))
    image_id = built.podman("images", "-q", "--no-trunc", "localhost/built:1").stdout.strip()
    listed = target.podman("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    assert listed.split() == ["localhost/app:1", image_id.removeprefix("sha256:")[:12]]
    script = "/bin/busybox ls /data; /bin/busybox cat /data/g; /bin/busybox ls /etc/motd"
    done = target.podman(
        "run", "--rm", "localhost/app:1", "/bin/busybox", "sh", "-c", script, check=False
    )
    assert done.stdout == "g\nnew\n"
    assert "/etc/motd: No such file or directory" in done.stderr
    assert target.buildah("from", "localhost/app:1").stdout.strip() == "app-working-container"
    target.buildah("rm", "app-working-container")

    target.skopeo("copy", "--quiet", target.ref("localhost/app:1"), f"oci:{tmp_path / 'back'}:x")
    assert diff_ids(f"oci:{tmp_path / 'back'}:x") == diff_ids(built.ref("localhost/built:1"))
    assert diff_ids(target.ref("localhost/app:1")) == diff_ids(built.ref("localhost/built:1"))
    # Writing it again reuses every layer and moves nothing.
    layers = (target.root / "overlay-layers" / "layers.json").read_bytes()
    copy_image(f"oci:{tmp_path / 'lay'}:x", target.ref("localhost/app:2"))
    assert (target.root / "overlay-layers" / "layers.json").read_bytes() == layers
    names = target.podman("images", "--format", "{{.Tag}}").stdout.split()
    assert sorted(names) == ["1", "2"]
    assert [layer["id"] for layer in json.loads(layers)][:1] == [
        diff_ids(built.ref("localhost/built:1"))[0].removeprefix("sha256:")
    ]


def test_push_from_the_store_and_copy_all(
    stores: tuple[PeerStore, PeerStore], tmp_path: Path
) -> None:
    _, target = stores
    ids = busybox_index(tmp_path / "multi")
    host = Platform.host().architecture
    root = str(tmp_path / "bw")
    pulled = CliRunner().invoke(main, ["--root", root, "pull", f"oci:{tmp_path / 'multi'}:x"])
    assert pulled.exit_code == 0, pulled.output
    pushed = CliRunner().invoke(
        main, ["--root", root, "push", ids[host], target.ref("localhost/pushed:1")]
    )
    assert pushed.exit_code == 0, pushed.output
    assert target.podman("run", "--rm", "localhost/pushed:1").stdout == f"{host}\n"

    # --all into podman's store copies the platform a plain copy would choose, as the host's
    # image, instead of refusing.
    copied = CliRunner().invoke(
        main, ["copy", "-q", "--all", f"oci:{tmp_path / 'multi'}:x", target.ref("localhost/all:1")]
    )
    assert copied.exit_code == 0, copied.output
    listed = target.podman(
        "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "localhost/all"
    ).stdout.splitlines()
    # The same image as the pushed one (one config): podman lists it under both names.
    assert sorted(listed) == [
        f"localhost/all:1 sha256:{ids[host]}",
        f"localhost/pushed:1 sha256:{ids[host]}",
    ]
    assert target.podman("run", "--rm", "localhost/all:1").stdout == f"{host}\n"


def test_vfs_store_written_as_the_vfs_driver_lays_it_out(
    stores: tuple[PeerStore, PeerStore], tmp_path: Path
) -> None:
    built, _ = stores
    target = peer_store(tmp_path / "vfs", "vfs")
    try:
        copy_image(built.ref("localhost/built:1"), f"oci:{tmp_path / 'lay'}:x")
        copy_image(f"oci:{tmp_path / 'lay'}:x", target.ref("localhost/app:1"))
        image_id = built.podman("images", "-q", "--no-trunc", "localhost/built:1").stdout.strip()
        listed = target.podman(
            "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"
        )
        assert listed.stdout.split() == ["localhost/app:1", image_id]
        script = "/bin/busybox ls /data; /bin/busybox cat /data/g; /bin/busybox ls /etc/motd"
        done = target.podman(
            "run", "--rm", "localhost/app:1", "/bin/busybox", "sh", "-c", script, check=False
        )
        assert "/etc/motd: No such file or directory" in done.stderr
        assert done.stdout == "g\nnew\n"
        assert target.buildah("from", "localhost/app:1").stdout.strip() == "app-working-container"
        target.buildah("rm", "app-working-container")

        # Each layer's directory is the whole tree up to it, whiteouts applied.
        layers = json.loads((target.root / "vfs-layers" / "layers.json").read_text())
        trees = []
        for layer in layers:
            top = target.root / "vfs" / "dir" / layer["id"]
            trees.append(sorted(str(p.relative_to(top)) for p in top.rglob("*")))
            assert oct(top.stat().st_mode & 0o7777) == "0o555"
        # The RUN steps' layers carry the mount points podman's build leaves (dev, proc, ...).
        mounts = ["dev", "etc", "etc/hostname", "etc/hosts", "etc/resolv.conf", "proc", "run"]
        assert trees[0] == ["bin", "bin/busybox"]
        first = ["bin", "bin/busybox", "data", "data/link", "data/sub", "data/sub/f", "etc/motd"]
        assert trees[1] == sorted([*first, *mounts, "sys"])
        assert trees[2] == sorted(["bin", "bin/busybox", "data", "data/g", *mounts, "sys"])
        assert "flags" not in layers[2]

        target.skopeo(
            "copy", "--quiet", target.ref("localhost/app:1"), f"oci:{tmp_path / 'back'}:x"
        )
        assert diff_ids(f"oci:{tmp_path / 'back'}:x") == diff_ids(built.ref("localhost/built:1"))
        assert diff_ids(target.ref("localhost/app:1")) == diff_ids(built.ref("localhost/built:1"))
    finally:
        target.release()
