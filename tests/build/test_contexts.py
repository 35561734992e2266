"""Named build contexts (``--build-context NAME=VALUE``, ``boxwright.build.contexts``): what
FROM, ``COPY --from`` and ``RUN --mount=from`` see, before any stage or image of that name."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from boxwright.build.contextnames import parse_build_context
from boxwright.errors import BuildContextError, BuildError, UsageError
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, run_build, tree_of, write_context

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


def _files(store: Store, image: str, under: str) -> dict[str, str]:
    return {
        path: (data if kind == "f" else f"<{kind}>")
        for path, (kind, _mode, _uid, _gid, data) in tree_of(store, image).items()
        if path == under or path.startswith(under + "/")
    }


def test_a_local_directory_with_its_own_ignore_file(bstore: Store, tmp_path: Path) -> None:
    other = write_context(
        tmp_path / "other",
        "FROM scratch\n",
        {
            "keep.txt": "keep\n",
            "drop.log": "drop\n",
            "sub/x.log": "x\n",
            ".dockerignore": "*.log\n",
        },
    )
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY --from=other / /o/\n")
    result = run_build(bstore, ctx, build_contexts={"other": str(other)})
    assert _files(bstore, result.image_id, "o") == {
        "o": "<d>",
        "o/.dockerignore": "*.log\n",
        "o/Containerfile": "FROM scratch\n",
        "o/keep.txt": "keep\n",
        "o/sub": "<d>",
        "o/sub/x.log": "x\n",
    }
    assert (other / "drop.log").exists()  # the directory itself is left as it was
    assert sorted(p.name for p in bstore.layout.tmp_dir.iterdir() if "context-" in p.name) == []


def test_an_image_context_overrides_a_stage_of_that_name(bstore: Store, tmp_path: Path) -> None:
    """The stage ``base`` would fail (its source is missing): it is not built at all."""
    ctx = write_context(
        tmp_path / "ctx",
        "FROM scratch AS base\nCOPY not-there /\n"
        "FROM base\nRUN cat /etc/group > /copied\n"
        "COPY --from=base /etc/passwd /passwd\n",
    )
    result = run_build(bstore, ctx, build_contexts={"base": f"docker-image://{BASE}"})
    assert sorted(result.stage_images) == [1]
    files = _files(bstore, result.image_id, "copied")
    assert files == {"copied": "root:x:0:\nalice:x:1000:\n"}
    assert _files(bstore, result.image_id, "passwd")["passwd"].startswith("root:x:0:0:")


def test_run_mount_from_a_directory_context_and_copy_from_an_image_context(
    bstore: Store, tmp_path: Path
) -> None:
    src = write_context(tmp_path / "src", "unused\n", {"in.txt": "mounted\n"})
    ctx = write_context(
        tmp_path / "ctx",
        f"FROM {BASE}\nRUN --mount=from=src,target=/m cat /m/in.txt > /out\n"
        "COPY --from=img /etc/group /g\n",
    )
    result = run_build(
        bstore, ctx, build_contexts={"src": str(src), "img": f"container-image://{BASE}"}
    )
    assert _files(bstore, result.image_id, "out") == {"out": "mounted\n"}
    assert _files(bstore, result.image_id, "g") == {"g": "root:x:0:\nalice:x:1000:\n"}


def test_oci_layout_contexts_by_tag_and_by_digest(
    bstore: Store, tmp_path: Path, base_layout: Path
) -> None:
    index = json.loads((base_layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    ctx = write_context(tmp_path / "ctx", "FROM layout\nRUN cat /etc/group > /copied\n")
    by_tag = run_build(bstore, ctx, build_contexts={"layout": f"oci-layout://{base_layout}:1"})
    by_digest = run_build(
        bstore, ctx, build_contexts={"layout": f"oci-layout://{base_layout}@{digest}"}
    )
    assert by_tag.image_id == by_digest.image_id  # the same base, and the step from the cache
    assert _files(bstore, by_tag.image_id, "copied") == {"copied": "root:x:0:\nalice:x:1000:\n"}


def test_a_tarball_url_context(bstore: Store, tmp_path: Path, http_dir: tuple[Path, str]) -> None:
    root, base = http_dir
    data = b"from the web\n"
    with tarfile.open(root / "web.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("w.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY --from=web w.txt /\n")
    result = run_build(bstore, ctx, build_contexts={"web": f"{base}/web.tar.gz"})
    assert _files(bstore, result.image_id, "w.txt") == {"w.txt": "from the web\n"}


def test_from_a_directory_context_is_refused(bstore: Store, tmp_path: Path) -> None:
    other = write_context(tmp_path / "other", "FROM scratch\n")
    ctx = write_context(tmp_path / "ctx", "FROM other\n")
    with pytest.raises(UsageError) as caught:
        run_build(bstore, ctx, build_contexts={"other": str(other)})
    assert str(caught.value) == (
        f"{ctx / 'Containerfile'}:1: FROM other: the build context other={other} is a "
        "directory; FROM takes an image (docker-image://, container-image://, oci-layout://)"
    )


def test_named_contexts_that_name_nothing(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", "FROM scratch\n")
    with pytest.raises(BuildContextError) as caught:
        run_build(bstore, ctx, build_contexts={"x": str(tmp_path / "missing")})
    assert str(caught.value) == f"--build-context x={tmp_path / 'missing'}: no such directory"
    with pytest.raises(UsageError) as refused:
        run_build(bstore, ctx, build_contexts={"x": "docker-image://"})
    assert str(refused.value) == "--build-context x=docker-image://: names no image"
    c2 = write_context(tmp_path / "c2", "FROM scratch\nCOPY --from=x nope /\n")
    with pytest.raises(BuildError) as missing:
        run_build(bstore, c2, build_contexts={"x": str(ctx)})
    assert str(missing.value) == (
        f"{c2 / 'Containerfile'}:2: COPY: COPY source 'nope': no such file in stage or image 'x'"
    )


@pytest.mark.parametrize("text", ["noequals", "=value", "name=", "a/b=dir"])
def test_build_context_flags_are_name_equals_value(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_build_context(text)
    assert str(caught.value) == f"--build-context {text!r}: expected NAME=VALUE"
    assert parse_build_context("n=docker-image://a=b") == ("n", "docker-image://a=b")
