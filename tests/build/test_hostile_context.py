"""Hostile build contexts and Containerfiles: sources, mounts and secrets stay where they belong.

A host directory outside the context (``outside``) holds a sentinel; each test points a
Containerfile at it through a symlink or a climbing path and asserts the exact refusal, or that
what was written landed only inside the store.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from executor_helpers import BASE, base_layout, bstore, run_build, tree_of, write_context

from boxwright.errors import BuildError
from boxwright.store.store import Store

__all__ = ["base_layout", "bstore"]  # fixtures used by name
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory beside the context, holding ``secret`` (``host only``)."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_text("host only\n")
    return path


def test_copy_sources_cannot_leave_the_context(
    bstore: Store, tmp_path: Path, outside: Path
) -> None:
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY esc/secret /x\n")
    (ctx / "esc").symlink_to(outside)
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    where = ctx / "Containerfile"
    assert (
        str(caught.value) == f"{where}:2: COPY: COPY source 'esc/secret' leaves the build context"
    )
    climb = "../" * 8 + str(outside / "secret").lstrip("/")
    (ctx / "Containerfile").write_text(f"FROM scratch\nCOPY {climb} /x\n")
    # ``..`` is clamped at the context: the name is looked up inside it, and is not there.
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    assert str(caught.value) == (
        f"{where}:2: COPY: COPY source {climb!r}: no such file in the build context"
    )


def test_links_inside_a_copied_directory_are_copied_not_followed(
    bstore: Store, tmp_path: Path, outside: Path
) -> None:
    text = "FROM scratch AS a\nCOPY d /\nFROM scratch\nCOPY --from=a /esc/secret /x\n"
    ctx = write_context(tmp_path / "ctx", text, {"d/keep": "k"})
    (ctx / "d" / "esc").symlink_to(outside)
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    assert str(caught.value) == (
        f"{ctx / 'Containerfile'}:4: COPY: COPY source '/esc/secret' leaves the build context"
    )
    first = write_context(tmp_path / "ctx2", "FROM scratch\nCOPY d /\n", {"d/keep": "k"})
    (first / "d" / "esc").symlink_to(outside)
    tree = tree_of(bstore, run_build(bstore, first).image_id)
    assert tree["esc"] == ("l", 0o777, 0, 0, str(outside))
    assert "esc/secret" not in tree


def test_run_bind_mount_sources_cannot_leave_the_context(
    bstore: Store, tmp_path: Path, outside: Path
) -> None:
    text = "FROM scratch\nRUN --mount=type=bind,source=esc,target=/m true\n"
    ctx = write_context(tmp_path / "ctx", text)
    (ctx / "esc").symlink_to(outside)
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    where = ctx / "Containerfile"
    assert str(caught.value) == f"{where}:2: RUN: RUN --mount source 'esc' leaves its root"
    climb = "../" * 8 + str(outside).lstrip("/")
    (ctx / "Containerfile").write_text(
        f"FROM scratch\nRUN --mount=type=bind,source={climb},target=/m true\n"
    )
    cleaned = str(outside).lstrip("/")
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    assert str(caught.value) == f"{where}:2: RUN: RUN --mount source {cleaned!r} does not exist"


def test_a_cache_mount_id_is_a_name_not_a_path(bstore: Store, tmp_path: Path) -> None:
    ident = "../../../../../../../.." + str(tmp_path / "pwned")
    text = f"FROM {BASE}\nRUN --mount=type=cache,id={ident},target=/c touch /c/made\n"
    run_build(bstore, write_context(tmp_path / "ctx", text))
    cache_root = bstore.layout.root / "build-cache-mounts"
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    assert os.listdir(cache_root) == [digest]
    assert os.listdir(cache_root / digest) == ["made"]
    assert not (tmp_path / "pwned").exists()


def test_a_secret_reaches_no_layer_config_or_history(bstore: Store, tmp_path: Path) -> None:
    value = "s3cret-" + "7" * 20
    secret = tmp_path / "token.txt"
    secret.write_text(value)
    text = (
        f"FROM {BASE}\nRUN --mount=type=secret,id=token test -s /run/secrets/token && touch /ok\n"
    )
    result = run_build(bstore, write_context(tmp_path / "ctx", text), secrets={"token": secret})
    tree = tree_of(bstore, result.image_id)
    assert tree["ok"] == ("f", 0o644, 0, 0, "")  # the command saw a non-empty secret
    assert not any(path.startswith("run/secrets") for path in tree)
    # No blob of the store (config with its history, manifest, layers) holds the value.
    blobs = [p for p in (bstore.layout.root / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) >= 4
    assert [p for p in blobs if value.encode() in p.read_bytes()] == []
