"""Intermediate images: which unnamed images ``images`` hides (podman's rule, see
``boxwright.store.images.intermediate_ids``), and which it keeps listed as dangling.

Images are made here from real (tiny) tar layers and configs whose diff_ids and history are
chosen per test, and recorded in a real store.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from typing import Any

import pytest

from boxwright.oci import mediatype as mt
from boxwright.oci.config import ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.manifest import ImageManifest
from boxwright.store import Store
from boxwright.store.images import LINK_CARRIER_LABEL, ImageRecord, intermediate_ids

BASE = {"created": "2024-01-01T00:00:00Z", "created_by": "base"}
ENV = {"created": "2024-01-02T00:00:00Z", "created_by": "ENV A=1", "empty_layer": True}
RUN = {"created": "2024-01-02T00:00:01Z", "created_by": "RUN make", "comment": "FROM base"}
LABEL = {"created": "2024-01-02T00:00:02Z", "created_by": "LABEL x=y", "empty_layer": True}
RUN2 = {"created": "2024-01-02T00:00:03Z", "created_by": "RUN test"}
COPY = {"created": "2024-01-02T00:00:04Z", "created_by": "COPY a /a"}


def _layer(store: Store, name: str) -> tuple[Descriptor, Digest]:
    """A one-file uncompressed tar layer stored as a blob: its descriptor and diff_id."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        data = name.encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    desc = store.blobs.put_bytes(raw, None)
    layer = Descriptor(mt.OCI_LAYER, desc.digest, desc.size)
    return layer, desc.digest


def add_image(
    store: Store,
    layers: Sequence[str],
    history: Sequence[dict[str, Any]],
    names: Sequence[str] = (),
    labels: dict[str, str] | None = None,
    env: Sequence[str] = (),
) -> ImageRecord:
    """Record an image of the given layers (one file each), history, names and labels."""
    made = [_layer(store, name) for name in layers]
    inner: dict[str, Any] = {"Env": list(env)} if env else {}
    if labels:
        inner["Labels"] = labels
    config = ImageConfig.from_data(
        {
            "created": history[-1]["created"] if history else "2024-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": inner,
            "rootfs": {"type": "layers", "diff_ids": [str(d) for _, d in made]},
            "history": list(history),
        }
    )
    config_desc = store.blobs.put_bytes(config.raw, config.descriptor())
    manifest = ImageManifest.build(mt.OCI_MANIFEST, config_desc, [d for d, _ in made])
    return store.images.add(manifest.raw, mt.OCI_MANIFEST, names)


def _ids(records: Sequence[ImageRecord]) -> list[str]:
    return [r.id for r in records]


@pytest.fixture
def chain(store: Store) -> dict[str, ImageRecord]:
    """A build with layers: a named base, its cache images, the named final image."""
    return {
        "base": add_image(store, ["a"], [BASE], names=["base:1"]),
        # the RUN step's image: one more layer, two more history entries (ENV went with it)
        "run": add_image(store, ["a", "b"], [BASE, ENV, RUN]),
        # the LABEL+RUN step: one more layer again
        "run2": add_image(store, ["a", "b", "c"], [BASE, ENV, RUN, LABEL, RUN2]),
        # the final image: the same layers as its parent, one more (empty) history entry
        "final": add_image(
            store,
            ["a", "b", "c"],
            [BASE, ENV, RUN, LABEL, RUN2, COPY | {"empty_layer": True}],
            names=["app:1"],
        ),
    }


def test_unnamed_images_with_children_are_hidden(
    store: Store, chain: dict[str, ImageRecord]
) -> None:
    assert store.images.intermediate_ids() == {chain["run"].id, chain["run2"].id}
    assert _ids(store.images.list(all=False)) == [chain["base"].id, chain["final"].id]
    every = [chain["base"].id, chain["run"].id, chain["run2"].id, chain["final"].id]
    assert _ids(store.images.list()) == every  # the default: every image
    assert _ids(store.images.list(all=True)) == every


def test_a_tagged_intermediate_is_listed_and_hidden_again_once_untagged(
    store: Store, chain: dict[str, ImageRecord]
) -> None:
    store.images.tag(chain["run"].id, "mid:1")
    assert _ids(store.images.list(all=False)) == [
        chain["base"].id,
        chain["run"].id,
        chain["final"].id,
    ]
    store.images.untag("mid:1", "mid:1")
    assert store.images.intermediate_ids() == {chain["run"].id, chain["run2"].id}


def test_an_image_whose_name_moved_off_and_has_no_child_is_dangling(
    store: Store, chain: dict[str, ImageRecord]
) -> None:
    # a rebuild with another last step: app:1 moves to the new image, the old one keeps its
    # layers and history but nothing is built on it
    new = add_image(
        store,
        ["a", "b", "c"],
        [BASE, ENV, RUN, LABEL, RUN2, COPY | {"created_by": "CMD x"}],
        names=["app:1"],
    )
    assert store.images.get(chain["final"].id).names == ()
    assert _ids(store.images.list(all=False)) == [chain["base"].id, chain["final"].id, new.id]
    # the base losing its name: images are built on it, so it becomes intermediate
    store.images.untag("base:1", "base:1")
    assert store.images.intermediate_ids() == {chain["base"].id, chain["run"].id, chain["run2"].id}


def test_shared_layers_with_another_history_are_no_parent(store: Store) -> None:
    lone = add_image(store, ["a"], [BASE])
    other = add_image(store, ["a", "b"], [BASE | {"created_by": "elsewhere"}, RUN], names=["o"])
    same = add_image(store, ["a"], [BASE], env=["X=1"], names=["same"])  # same history length
    assert store.images.get(lone.id).names == ()
    assert store.images.intermediate_ids() == set()
    assert _ids(store.images.list(all=False)) == [lone.id, other.id, same.id]
    # a child whose history starts with lone's: lone is intermediate now
    add_image(store, ["a", "b"], [BASE, RUN], names=["child"])
    assert store.images.intermediate_ids() == {lone.id}


def test_a_child_with_a_history_entry_of_other_time_is_no_child(store: Store) -> None:
    parent = add_image(store, ["a"], [BASE])
    add_image(store, ["a", "b"], [BASE | {"created": "2024-01-01T00:00:01Z"}, RUN], names=["c"])
    assert store.images.intermediate_ids() == set()
    add_image(store, ["a", "b"], [BASE | {"comment": "x"}, RUN], names=["d"])
    assert store.images.intermediate_ids() == set()
    add_image(store, ["a", "b"], [BASE, RUN], names=["e"])
    assert store.images.intermediate_ids() == {parent.id}


def test_link_carriers_are_hidden_unless_tagged(store: Store) -> None:
    carrier = add_image(store, ["x"], [COPY], labels={LINK_CARRIER_LABEL: "true"})
    empty_carrier = add_image(store, [], [COPY], labels={LINK_CARRIER_LABEL: "true"})
    plain = add_image(store, ["y"], [COPY])
    other_value = add_image(store, ["z"], [COPY], labels={LINK_CARRIER_LABEL: "false"})
    two_layers = add_image(store, ["x", "y"], [COPY, RUN], labels={LINK_CARRIER_LABEL: "true"})
    assert store.images.intermediate_ids() == {carrier.id, empty_carrier.id}
    assert _ids(store.images.list(all=False)) == [plain.id, other_value.id, two_layers.id]
    store.images.tag(carrier.id, "kept:1")
    assert store.images.intermediate_ids() == {empty_carrier.id}


def test_images_without_layers_are_parents_of_images_without_layers_only(
    store: Store,
) -> None:
    nothing = add_image(store, [], [])  # no layer, no history
    add_image(store, ["a"], [BASE], names=["layered"])
    assert store.images.intermediate_ids() == set()  # not the parent of a layered image
    empty = add_image(store, [], [ENV])
    assert store.images.intermediate_ids() == {nothing.id}  # its history: [] + one entry
    add_image(store, [], [ENV, LABEL], names=["empty-child"])
    assert store.images.intermediate_ids() == {nothing.id, empty.id}


def test_a_damaged_config_relates_to_nothing_and_fails_no_listing(
    store: Store, chain: dict[str, ImageRecord]
) -> None:
    store.blobs.path(chain["run2"].config).unlink()
    # run2 is unreadable: nobody's parent (listed) and nobody's child (run is hidden still,
    # as the final image is built on it too)
    assert store.images.intermediate_ids() == {chain["run"].id}
    assert _ids(store.images.list(all=False)) == [
        chain["base"].id,
        chain["run2"].id,
        chain["final"].id,
    ]
    store.blobs.path(chain["final"].config).unlink()
    assert store.images.intermediate_ids() == set()


def test_configs_are_read_only_when_needed(store: Store, chain: dict[str, ImageRecord]) -> None:
    read: list[str] = []

    def config_of(record: ImageRecord) -> ImageConfig | None:
        read.append(record.id)
        return store.images.config(record)

    records = store.images.list()
    assert intermediate_ids(records, config_of) == {chain["run"].id, chain["run2"].id}
    assert len(read) == len(set(read))  # each config at most once
    named = [r for r in records if r.names]
    read.clear()
    assert intermediate_ids(named, config_of) == set()
    assert read == []  # no unnamed image: no config read at all
    lone = add_image(store, ["q"], [BASE])
    read.clear()
    assert intermediate_ids([*named, lone], config_of) == set()
    assert read == [lone.id]  # no other image starts with its layer
