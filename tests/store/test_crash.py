"""kill -9 in the middle of a pull: the store opens, keeps every earlier image, prune cleans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from boxwright.store import Store, prune, pull
from boxwright_testing.store_images import MadeImage

BIG_MIB = 200


@pytest.fixture
def big_image(tmp_path: Path) -> Iterator[MadeImage]:
    """An image with a 200 MiB random layer, on /dev/shm when there is room (fast to write)."""
    from boxwright_testing.store_images import make_oci_image

    shm = Path("/dev/shm")
    base = tmp_path
    if shm.is_dir() and os.statvfs(shm).f_bavail * os.statvfs(shm).f_frsize > 3 * (BIG_MIB << 20):
        base = Path(os.path.realpath(shm))
    layout = base / f"bw-crash-{os.getpid()}-{time.monotonic_ns()}"
    try:
        yield make_oci_image(layout, "big", seed="big", layers=1, big_layer_mib=BIG_MIB)
    finally:
        import shutil

        shutil.rmtree(layout, ignore_errors=True)


def _partial_blob(tmp: Path) -> int:
    sizes = [p.stat().st_size for p in tmp.glob(".tmp-*") if p.is_file()]
    return max(sizes, default=0)


@pytest.mark.slow
def test_kill_9_during_a_pull(
    tmp_path: Path, make_image: Callable[..., MadeImage], big_image: MadeImage
) -> None:
    root = tmp_path / "store"
    store = Store(root)
    earlier = [pull(make_image(str(i)).ref, store=store, name=f"early:{i}") for i in range(3)]
    before = set(store.blobs.iter_digests())

    env = {**os.environ, "BOXWRIGHT_ROOT": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "boxwright", "pull", "-q", big_image.ref],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while _partial_blob(root / "tmp") < (8 << 20):  # well inside the 200 MiB transfer
            assert proc.poll() is None, f"pull ended before it was killed: {proc.stderr}"
            assert time.monotonic() < deadline, "the big blob transfer never started"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    reopened = Store(root)
    assert reopened.images.list() == earlier  # every earlier image, nothing half-added
    for record in earlier:
        assert reopened.images.manifest(record)  # still readable and verified
    leftovers = set(reopened.blobs.iter_digests()) - before
    assert _partial_blob(root / "tmp") > 0  # the half-written layer is still in tmp

    result = prune(reopened)

    assert result.tmp >= 1 and result.blobs == len(leftovers)
    assert os.listdir(root / "tmp") == []
    assert set(reopened.blobs.iter_digests()) == before
    assert reopened.images.list() == earlier
    again = pull(big_image.ref, store=reopened)  # and the pull works when run again
    assert again.id == big_image.id
