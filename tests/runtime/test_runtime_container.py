"""``container run``'s library half: a run in a working container is captured by the commit."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import pytest

from boxwright.layer.ownership import OwnershipRecord
from boxwright.runtime import RunOptions
from boxwright.runtime.container import run_in_container
from boxwright.store.store import open_store
from boxwright_testing.runtime import in_child

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


@pytest.mark.parametrize("driver", ["overlay", "copy"])
def test_files_made_by_a_run_are_in_the_next_commit(
    rootfs_template: Path, tmp_path: Path, driver: str
) -> None:
    store = open_store(tmp_path / "store")
    record = store.containers.create(None, driver=driver)

    def fill(root: Path, _ownership: OwnershipRecord) -> None:
        for item in rootfs_template.iterdir():
            if item.is_dir():
                shutil.copytree(item, root / item.name, symlinks=True)
            else:
                shutil.copy2(item, root / item.name, follow_symlinks=False)

    store.containers.with_rootfs(record.id, fill)
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]}}
    store.containers.update(record.id, config={**config, "rootfs": {"type": "layers"}})
    script = "hostname > /made; mkdir /home/alice/x; chown 1000:50 /home/alice/x; exit 3"
    options = RunOptions(args=("sh", "-c", script))
    assert in_child(run_in_container, store, record.id, options) == 3

    image = store.containers.commit(record.id, "localhost/runtime-test:1")
    with tarfile.open(store.blobs.path(image.layers[-1])) as layer:
        members = {m.name: m for m in layer.getmembers()}
        made = layer.extractfile("made")
        assert made is not None and made.read() == f"{record.id[:12]}\n".encode()
    assert (members["home/alice/x"].uid, members["home/alice/x"].gid) == (1000, 50)
    for absent in ("proc", "dev", "sys", "etc/hosts", "etc/resolv.conf", "work"):
        assert absent not in members
