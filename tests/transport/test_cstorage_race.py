"""A boxwright write into a containers-storage store racing a ``podman pull`` into the same
store: both take containers/storage's locks, so afterwards the store is consistent (every
record parses, every layer is complete and has its files, every image's layers are there),
podman lists and runs both images, and boxwright reads both back with their diff_ids.

The two images share their base layer (the same layer ID), so the writers also race to
create it: whichever comes second finds it in ``layers.json`` under the lock and reuses it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright.copy import copy_image
from boxwright_testing.cstorage import (
    PeerStore,
    busybox_context,
    diff_ids,
    needs_peers,
    peer_store,
)

pytestmark = needs_peers

ROUNDS = 3

OTHER_FILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo other > /other"]
"""


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict]]:
    """Two OCI layouts (tag ``x``) of podman-built images with the same base layer: ``a``
    (three layers) and ``b`` (two); and each image's config digest hex."""
    base = tmp_path_factory.mktemp("cs-race")
    built = peer_store(base / "built", "overlay")
    ctx = busybox_context(base)
    built.podman("build", "-q", "-t", "localhost/a:1", str(ctx))
    (ctx / "Other").write_text(OTHER_FILE)
    built.podman("build", "-q", "-f", str(ctx / "Other"), "-t", "localhost/b:1", str(ctx))
    ids = {}
    for name in ("a", "b"):
        built.skopeo("copy", "--quiet", built.ref(f"localhost/{name}:1"), f"oci:{base / name}:x")
        ids[name] = built.podman("images", "-q", "--no-trunc", f"localhost/{name}:1").stdout
        ids[name] = ids[name].strip().removeprefix("sha256:")
    built.release()
    yield base / "a", base / "b", ids


def _check_consistent(store: PeerStore) -> None:
    """What ``podman system check`` would: the records parse, each layer is complete with
    its directory, link and tar-split record, each parent and each image's top layer exist."""
    layers = json.loads((store.root / "overlay-layers" / "layers.json").read_text())
    images = json.loads((store.root / "overlay-images" / "images.json").read_text())
    ids = {layer["id"] for layer in layers}
    assert len(ids) == len(layers)
    for layer in layers:
        assert "flags" not in layer, layer
        assert layer.get("parent", "") in ids | {""}
        home = store.root / "overlay" / layer["id"]
        assert (home / "diff").is_dir()
        link = (home / "link").read_text().strip()
        assert (store.root / "overlay" / "l" / link).resolve() == (home / "diff").resolve()
        assert (store.root / "overlay-layers" / f"{layer['id']}.tar-split.gz").is_file()
    assert all(image["layer"] in ids for image in images)


def test_push_racing_podman_pull(layouts: tuple[Path, Path, dict], tmp_path: Path) -> None:
    a, b, ids = layouts
    for round_ in range(ROUNDS):
        store = peer_store(tmp_path / f"round{round_}", "overlay")
        try:
            pull = subprocess.Popen(
                store.podman_argv("pull", "-q", f"oci:{b}:x"),
                env=store.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            copy_image(f"oci:{a}:x", store.ref("localhost/a:1"))
            out, err = pull.communicate(timeout=120)
            assert pull.returncode == 0, err
            assert out.strip() == ids["b"]

            _check_consistent(store)
            listed = store.podman("images", "--no-trunc", "--format", "{{.ID}}").stdout.split()
            assert sorted(listed) == sorted(f"sha256:{i}" for i in ids.values())
            assert (
                store.podman(
                    "run", "--rm", "localhost/a:1", "/bin/busybox", "cat", "/data/g"
                ).stdout
                == "new\n"
            )
            assert (
                store.podman("run", "--rm", ids["b"], "/bin/busybox", "cat", "/other").stdout
                == "other\n"
            )
            layers = json.loads((store.root / "overlay-layers" / "layers.json").read_text())
            assert len(layers) == 4  # the shared base, two of a's, one of b's
            assert diff_ids(store.ref("localhost/a:1")) == diff_ids(f"oci:{a}:x")
            assert diff_ids(store.ref(ids["b"])) == diff_ids(f"oci:{b}:x")
        finally:
            store.release()


def test_a_writer_that_dies_leaves_a_layer_podman_removes(
    layouts: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    a, _, ids = layouts
    store = peer_store(tmp_path / "died", "overlay")
    try:
        pid = os.fork()
        if pid == 0:  # the child dies in the middle of unpacking its first layer
            import boxwright.transport.cstorage.destination as destination

            def die(*args: object, **kwargs: object) -> None:
                os._exit(3)

            destination.apply_layer = die  # type: ignore[assignment]
            try:
                copy_image(f"oci:{a}:x", store.ref("localhost/a:1"))
            finally:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
        layers = json.loads((store.root / "overlay-layers" / "layers.json").read_text())
        assert [(layer["id"], layer["flags"]) for layer in layers] == [
            (diff_ids(f"oci:{a}:x")[0].removeprefix("sha256:"), {"incomplete": True})
        ]
        # podman's next load takes the write lock and deletes the incomplete layer.
        assert store.podman("images", "-q").stdout == ""
        assert json.loads((store.root / "overlay-layers" / "layers.json").read_text()) == []
        copy_image(f"oci:{a}:x", store.ref("localhost/a:1"))
        _check_consistent(store)
        assert store.podman("images", "-q", "--no-trunc").stdout.split() == [f"sha256:{ids['a']}"]
    finally:
        store.release()
