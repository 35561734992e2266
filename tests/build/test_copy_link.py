"""``COPY --link`` / ``ADD --link``: a layer made as if copied into an empty directory, and a
cache entry that outlives a change of the steps below it.

buildah 1.28 has no ``--link``, so these tests hold boxwright to exact expectations written from
BuildKit's rules (``docs/building.md``): the linked layer holds the copied files and every
parent directory of the destination (0755, the copy's owner, the build's time: 0 here), whatever
the image below has at those paths; a plain COPY of the same files writes through the image's
symlink and keeps its directory's mode and owner.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import pytest

from boxwright.build.context import BuildEvent, BuildOptions
from boxwright.build.executor import build
from boxwright.errors import BuildError
from boxwright.store.pullpush import pull
from boxwright.store.store import Store
from boxwright_testing.builds import (
    BASE,
    history_of,
    run_build,
    tree_of,
    write_context,
)
from boxwright_testing.users import User, as_user, chown_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")

#: The image below: /app a symlink to /tmp, /data a 0700 directory of 1000:1000 holding a
#: file, /srv a directory.
BELOW = f"""FROM {BASE}
RUN ln -s /tmp /app && mkdir -m 0700 /data /srv && echo old > /data/old && chown -R 1000:1000 /data
"""
FILES = {"a.txt": "A\n", "d/x": "X\n", "d/sub/y": "Y\n"}

#: (name, type, mode, uid, gid, mtime, content or link target) of a tar entry.
Entry = tuple[str, str, int, int, int, int, str]


def _entries(store: Store, image: str, index: int) -> list[Entry]:
    """Every entry of the image's layer ``index``, in tar order."""
    record = store.images.get(image)
    out: list[Entry] = []
    with (
        store.blobs.open(record.layers[index]) as blob,
        tarfile.open(fileobj=blob, mode="r|gz") as tar,
    ):
        for member in tar:
            data = ""
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                data = extracted.read().decode()
            elif member.issym():
                data = member.linkname
            kind = {tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l", tarfile.REGTYPE: "f"}
            out.append(
                (
                    member.name,
                    kind.get(member.type, "?"),
                    member.mode,
                    member.uid,
                    member.gid,
                    member.mtime,
                    data,
                )
            )
    return out


def _build(store: Store, tmp_path: Path, steps: str, events: list[BuildEvent] | None = None) -> str:
    ctx = write_context(tmp_path / "ctx", BELOW + steps, FILES)
    return run_build(store, ctx, events, timestamp=0).image_id


def test_a_linked_copy_does_not_look_at_the_image_below(bstore: Store, tmp_path: Path) -> None:
    image = _build(
        bstore,
        tmp_path,
        "COPY --link a.txt /app/a.txt\nCOPY --link --chown=7:8 d/ /data/\nCOPY --link a.txt /srv\n",
    )
    assert _entries(bstore, image, 2) == [
        ("app", "d", 0o755, 0, 0, 0, ""),
        ("app/a.txt", "f", 0o644, 0, 0, 0, "A\n"),
    ]
    assert _entries(bstore, image, 3) == [
        ("data", "d", 0o755, 7, 8, 0, ""),
        ("data/sub", "d", 0o755, 7, 8, 0, ""),
        ("data/sub/y", "f", 0o644, 7, 8, 0, "Y\n"),
        ("data/x", "f", 0o644, 7, 8, 0, "X\n"),
    ]
    # no '/': /srv is the file's new name, even where the image has a directory
    assert _entries(bstore, image, 4) == [("srv", "f", 0o644, 0, 0, 0, "A\n")]
    tree = tree_of(bstore, image)
    assert tree["app"] == ("d", 0o755, 0, 0, "")
    assert tree["app/a.txt"] == ("f", 0o644, 0, 0, "A\n")
    assert "tmp/a.txt" not in tree
    assert tree["data"] == ("d", 0o755, 7, 8, "")
    assert tree["data/old"] == ("f", 0o644, 1000, 1000, "old\n")  # merged, not replaced
    assert tree["srv"] == ("f", 0o644, 0, 0, "A\n")


def test_a_plain_copy_of_the_same_files_follows_the_image_below(
    bstore: Store, tmp_path: Path
) -> None:
    image = _build(bstore, tmp_path, "COPY a.txt /app/a.txt\nCOPY --chown=7:8 d/ /data/\n")
    assert [e[0] for e in _entries(bstore, image, 2)] == ["tmp", "tmp/a.txt"]
    assert ("data", "d", 0o700, 1000, 1000, 0, "") in _entries(bstore, image, 3)
    tree = tree_of(bstore, image)
    assert tree["app"] == ("l", 0o777, 0, 0, "/tmp")
    assert tree["tmp/a.txt"] == ("f", 0o644, 0, 0, "A\n")
    assert tree["data"] == ("d", 0o700, 1000, 1000, "")
    assert tree["data/x"] == ("f", 0o644, 7, 8, "X\n")


def test_missing_parents_and_a_relative_destination(bstore: Store, tmp_path: Path) -> None:
    image = _build(
        bstore,
        tmp_path,
        "WORKDIR /w\nCOPY --link --chown=5 --chmod=0600 a.txt deep/er/\n"
        "ADD --link a.txt /opt/b.txt\n",
    )
    # WORKDIR's own /w is an empty layer-less step in the container; the linked layer makes
    # every parent itself, owned like the copy (BuildKit's MkdirAll with the --chown user)
    assert _entries(bstore, image, 2) == [
        ("w", "d", 0o755, 5, 5, 0, ""),
        ("w/deep", "d", 0o755, 5, 5, 0, ""),
        ("w/deep/er", "d", 0o755, 5, 5, 0, ""),
        ("w/deep/er/a.txt", "f", 0o600, 5, 5, 0, "A\n"),
    ]
    assert _entries(bstore, image, 3) == [
        ("opt", "d", 0o755, 0, 0, 0, ""),
        ("opt/b.txt", "f", 0o644, 0, 0, 0, "A\n"),
    ]


@pytest.mark.parametrize("after", ["", "ENV X=1\n", "RUN touch /t\n"])
def test_a_workdir_before_a_linked_copy_is_kept(bstore: Store, tmp_path: Path, after: str) -> None:
    """WORKDIR makes its directory in the working container, which a linked commit does not
    read: it is made again for the next commit (a step after, or the stage's last commit)."""
    image = _build(bstore, tmp_path, "WORKDIR /w/v\nCOPY --link a.txt /o/\n" + after)
    tree = tree_of(bstore, image)
    assert tree["w/v"] == ("d", 0o755, 0, 0, "")
    assert tree["o/a.txt"] == ("f", 0o644, 0, 0, "A\n")
    assert "w" not in [e[0] for e in _entries(bstore, image, 2)]  # not in the linked layer
    if not after:  # the stage's last commit holds it, named after the WORKDIR
        assert history_of(bstore, image)[-1] == ("/bin/sh -c #(nop) WORKDIR /w/v", False)


def test_a_workdir_the_linked_layer_holds_needs_no_commit_of_its_own(
    bstore: Store, tmp_path: Path
) -> None:
    image = _build(bstore, tmp_path, "WORKDIR /w/v\nCOPY --link a.txt ./\n")
    assert [e[0] for e in _entries(bstore, image, 2)] == ["w", "w/v", "w/v/a.txt"]
    assert len(bstore.images.get(image).layers) == 3
    assert history_of(bstore, image)[-1][0].endswith(" in ./ ")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("COPY --link --chown=alice a.txt /x\n", r"--chown=alice: a linked layer cannot"),
        ("COPY --link a.txt d/x /srv\n", r"needs a directory destination"),
    ],
)
def test_what_a_linked_copy_refuses(
    bstore: Store, tmp_path: Path, steps: str, message: str
) -> None:
    with pytest.raises(BuildError, match=message):
        _build(bstore, tmp_path, steps)


LINKED = """RUN echo {version} > /version
COPY --link d/ /data/
COPY a.txt /plain/
"""


def _carriers(store: Store) -> list[str]:
    """The one-layer images of the store but the base: linked layers' carrier images."""
    base = store.images.get(BASE).id
    return [r.id for r in store.images.list() if len(r.layers) == 1 and r.id != base]


def _parent_of(store: Store, image: str, layers: int) -> str:
    """The ID of the image under ``image`` that has its first ``layers`` layers."""
    wanted = store.images.get(image).layers[:layers]
    return next(r.id for r in store.images.list() if r.layers == wanted)


def _cache_events(events: list[BuildEvent]) -> list[str]:
    return [e.text for e in events if e.kind == "cache"]


def test_a_changed_earlier_step_reuses_the_linked_layer_blob(bstore: Store, tmp_path: Path) -> None:
    first = _build(bstore, tmp_path, LINKED.format(version=1))
    images_before = {r.id for r in bstore.images.list()}
    events: list[BuildEvent] = []
    second = _build(bstore, tmp_path, LINKED.format(version=2), events)
    old, new = bstore.images.get(first), bstore.images.get(second)
    assert new.layers[:2] == old.layers[:2]  # the base and the first RUN: cached
    assert new.layers[2] != old.layers[2]  # the changed RUN
    assert new.layers[3] == old.layers[3]  # the linked layer: the same blob
    assert new.diff_ids[3] == old.diff_ids[3]
    assert len(_carriers(bstore)) == 1  # the carrier of the first build, reused
    made = {r.id for r in bstore.images.list()} - images_before
    # new: the RUN's image, the linked step's image (old blob, new parent), the plain COPY's
    # image and nothing else: no second carrier, so the linked layer was not made again
    assert len(made) == 3
    texts = _cache_events(events)
    assert len(texts) == 2 and texts[0].startswith("--> Using cache ")  # the first RUN
    assert texts[1].endswith("(linked layer)")
    assert _entries(bstore, second, 3) == _entries(bstore, first, 3)
    assert tree_of(bstore, second)["version"] == ("f", 0o644, 0, 0, "2\n")
    # an unchanged rebuild reuses every step, the linked one by its ordinary key
    events = []
    again = _build(bstore, tmp_path, LINKED.format(version=2), events)
    assert again == second and not any("(linked layer)" in t for t in _cache_events(events))


def test_without_link_a_changed_earlier_step_remakes_the_copy(
    bstore: Store, tmp_path: Path
) -> None:
    steps = LINKED.replace("--link ", "")
    first = _build(bstore, tmp_path, steps.format(version=1))
    events: list[BuildEvent] = []
    second = _build(bstore, tmp_path, steps.format(version=2), events)
    assert _cache_events(events) == [f"--> Using cache {_parent_of(bstore, second, 2)}"]
    assert _carriers(bstore) == []  # a plain COPY makes no one-layer carrier image
    assert bstore.images.get(second).layers[:2] == bstore.images.get(first).layers[:2]


def test_no_cache_makes_the_linked_layer_again(bstore: Store, tmp_path: Path) -> None:
    first = _build(bstore, tmp_path, LINKED.format(version=1))
    ctx = tmp_path / "ctx"
    (ctx / "Containerfile").write_text(BELOW + LINKED.format(version=2))
    events: list[BuildEvent] = []
    second = run_build(bstore, ctx, events, timestamp=0, no_cache=True)
    assert _cache_events(events) == []
    # made again, from the same files at the same timestamp: the same bytes
    assert bstore.images.get(second.image_id).layers[3] == bstore.images.get(first).layers[3]


def _linked_build(root: str, context: str, layout: str) -> tuple[str, list[Entry], int]:
    store = Store(root)
    pull(f"oci:{layout}:1", store=store, name=BASE)
    result = build(BuildOptions(context=Path(context), timestamp=0), store)
    return result.digest, _entries(store, result.image_id, 2), len(store.containers.list())


ROOTLESS = f"""FROM {BASE}
RUN ln -s /tmp /app && mkdir -m 0700 /data
COPY --link --chown=7:8 --chmod=0750 d/ /app/
"""


def test_a_rootless_linked_copy_gives_the_root_layer(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    ctx = user_dir / "ctx"
    write_context(ctx, ROOTLESS, FILES)
    layout = user_dir / "layout"
    shutil.copytree(base_layout, layout)
    chown_tree(user_dir, unprivileged_user)
    as_root = _linked_build(str(user_dir / "root-store"), str(ctx), str(layout))
    rootless = as_user(
        unprivileged_user, _linked_build, str(user_dir / "user-store"), str(ctx), str(layout)
    )
    assert rootless == as_root
    assert as_root[2] == 0  # no working container (nor the empty one) left behind
    # the destination is made (0755, as every made parent), the copied tree gets --chmod
    assert as_root[1] == [
        ("app", "d", 0o755, 7, 8, 0, ""),
        ("app/sub", "d", 0o750, 7, 8, 0, ""),
        ("app/sub/y", "f", 0o750, 7, 8, 0, "Y\n"),
        ("app/x", "f", 0o750, 7, 8, 0, "X\n"),
    ]
