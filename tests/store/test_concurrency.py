"""Many processes on one store: no lost update, images.json always whole."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from boxwright.store import Store, pull
from boxwright_testing.store_images import MadeImage, run_in_processes

WORKERS = 10
TAGS = 5


def _work(root: str, ref: str, i: int) -> None:
    store = Store(root)
    pull(ref, store=store, name=f"w{i}:base")
    for j in range(TAGS):
        store.images.tag(f"w{i}:base", f"w{i}:t{j}")
        store.images.tag(f"w{i}:base", "shared:last")  # every worker fights for this name
    store.images.untag(f"w{i}:base", f"w{i}:t0")
    os._exit(0)


def _read(
    root: str, stop: multiprocessing.synchronize.Event, out: multiprocessing.Queue[int]
) -> None:
    path = Path(root) / "images.json"
    parses = 0
    while not stop.is_set():
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue
        json.loads(raw)  # raises, and the process exits non-zero, on a torn file
        parses += 1
    out.put(parses)


def test_parallel_adds_tags_and_untags_lose_nothing(
    tmp_path: Path, make_image: Callable[..., MadeImage]
) -> None:
    images = [make_image(str(i)) for i in range(WORKERS)]
    root = tmp_path / "store"
    Store(root)
    ctx = multiprocessing.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_read, args=(str(root), stop, out))
    reader.start()
    workers = [
        ctx.Process(target=_work, args=(str(root), image.ref, i)) for i, image in enumerate(images)
    ]
    for p in workers:
        p.start()
    deadline = time.monotonic() + 120
    for p in workers:
        p.join(max(1.0, deadline - time.monotonic()))
        assert p.exitcode == 0, f"worker {p.pid} failed ({p.exitcode})"
    stop.set()
    reader.join(10)
    assert reader.exitcode == 0, "a reader saw a torn images.json"
    assert out.get(timeout=5) > 0

    records = {r.id: r for r in Store(root).images.list()}
    assert len(records) == WORKERS
    holders = []
    for i, image in enumerate(images):
        record = records[image.id]
        expected = {f"localhost/w{i}:base", *(f"localhost/w{i}:t{j}" for j in range(1, TAGS))}
        names = set(record.names)
        assert expected <= names, f"worker {i} lost updates: {sorted(expected - names)}"
        assert names - expected <= {"localhost/shared:last"}
        if "localhost/shared:last" in names:
            holders.append(i)
    assert len(holders) == 1  # a name belongs to one image at a time


@pytest.mark.parametrize("workers", [8])
def test_parallel_pulls_of_one_image_store_it_once(
    tmp_path: Path, oci_image: MadeImage, workers: int
) -> None:
    root = tmp_path / "store"

    def one(i: int) -> None:
        pull(oci_image.ref, store=Store(root), name=f"same:{i}")
        os._exit(0)

    run_in_processes(one, [(i,) for i in range(workers)])
    (record,) = Store(root).images.list()
    assert sorted(record.names) == sorted(f"localhost/same:{i}" for i in range(workers))
    assert os.listdir(root / "tmp") == []
    assert sorted(d.hex for d in Store(root).blobs.iter_digests()) == sorted(
        d.hex for d in record.digests
    )
