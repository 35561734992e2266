"""Hostile build contexts and Containerfiles: sources, mounts and secrets stay where they belong.

A host directory outside the context (``outside``) holds a sentinel; each test points a
Containerfile at it through a symlink or a climbing path and asserts the exact refusal, or that
what was written landed only inside the store.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from boxwright.build.context import BuildOptions
from boxwright.build.executor import build
from boxwright.errors import BuildError
from boxwright.store.pullpush import pull
from boxwright.store.store import Store
from boxwright_testing.builds import (
    BASE,
    config_of,
    run_build,
    tree_of,
    write_context,
)
from boxwright_testing.users import User, as_user, chown_tree

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
    # the link's absolute target is looked up inside the context, where it is not
    assert str(caught.value) == (
        f"{where}:2: COPY: COPY source 'esc/secret': no such file in the build context"
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
        f"{ctx / 'Containerfile'}:4: COPY: COPY source '/esc/secret': no such file in "
        "stage or image 'a'"
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
    # the link's absolute target is looked up inside the context, where it is not
    assert str(caught.value) == f"{where}:2: RUN: RUN --mount source 'esc' does not exist"
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


RW_WRITES = (
    "echo pwned > /ctx/data.txt && echo more > /ctx/sub/new && rm /ctx/gone.txt"
    " && echo pwned > /one && cat /ctx/data.txt /ctx/sub/new /one > /seen"
    " && test ! -e /ctx/gone.txt && touch /removed"
)
RW_CONTAINERFILE = (
    f"FROM {BASE}\n"
    "RUN --mount=type=bind,source=.,target=/ctx,rw=true"
    f" --mount=type=bind,source=file.txt,target=/one,rw {RW_WRITES}\n"
)
RW_FILES = {"data.txt": "original\n", "gone.txt": "keep\n", "file.txt": "single\n", "sub/k": ""}


def _without_overlay(store: Store) -> None:
    """Make ``store`` find that overlays cannot be mounted (its cached probe says so)."""
    import json
    import platform

    doc = {"euid": os.geteuid(), "kernel": platform.release(), "overlay": False}
    (store.root / "overlay-probe.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("isolation", ["native", "oci"])
@pytest.mark.parametrize("overlay", [True, False], ids=["overlay", "copy"])
def test_a_rw_bind_mount_writes_nothing_into_the_context(
    bstore: Store, tmp_path: Path, isolation: str, overlay: bool
) -> None:
    if isolation == "oci" and shutil.which("runc") is None and shutil.which("crun") is None:
        pytest.skip("no OCI runtime installed")
    if not overlay:
        _without_overlay(bstore)
    ctx = write_context(tmp_path / "ctx", RW_CONTAINERFILE, RW_FILES)
    before = _context_state(ctx)
    tree = tree_of(bstore, run_build(bstore, ctx, isolation=isolation).image_id)
    # The RUN saw its writes (and its removal) on both mounts...
    assert tree["seen"] == ("f", 0o644, 0, 0, "pwned\nmore\npwned\n")
    assert tree["removed"] == ("f", 0o644, 0, 0, "")
    # ...and the context on the host is byte for byte, inode for inode, what it was; the
    # throwaway layers are gone and nothing of the mounts is in the image.
    assert _context_state(ctx) == before
    assert list(bstore.layout.tmp_dir.glob("run-mounts-*")) == []
    assert not any(path == "ctx" or path.startswith(("ctx/", "one")) for path in tree)


def _rootless_rw_build(root: str, context: str, layout: str) -> str:
    store = Store(root)
    pull(f"oci:{layout}:1", store=store, name=BASE)
    return build(BuildOptions(context=Path(context)), store).image_id


def test_a_rw_bind_mount_writes_nothing_into_the_context_rootless(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    check = 'test "$(cat /seen)" = "$(printf \'pwned\\nmore\\npwned\')" && test -e /removed'
    ctx = write_context(user_dir / "ctx", f"{RW_CONTAINERFILE}RUN {check}\n", RW_FILES)
    layout = user_dir / "layout"
    shutil.copytree(base_layout, layout)
    chown_tree(user_dir, unprivileged_user)
    before = _context_state(ctx)
    store = user_dir / "store"
    as_user(unprivileged_user, _rootless_rw_build, str(store), str(ctx), str(layout))
    assert _context_state(ctx) == before
    assert list((store / "tmp").glob("run-mounts-*")) == []


def _context_state(ctx: Path) -> dict[str, tuple[int, bytes]]:
    """Every path under ``ctx``: its inode and its bytes (``b""`` for a directory)."""
    state = {}
    for path in sorted(ctx.rglob("*")):
        data = b"" if path.is_dir() else path.read_bytes()
        state[str(path.relative_to(ctx))] = (path.lstat().st_ino, data)
    return state


@pytest.mark.parametrize("isolation", ["native", "oci"])
def test_a_read_only_bind_mount_refuses_writes(
    bstore: Store, tmp_path: Path, isolation: str
) -> None:
    if isolation == "oci" and shutil.which("runc") is None and shutil.which("crun") is None:
        pytest.skip("no OCI runtime installed")
    script = "echo pwned > /ctx/data.txt 2>/dev/null || touch /refused"
    text = f"FROM {BASE}\nRUN --mount=type=bind,source=.,target=/ctx {script}\n"
    ctx = write_context(tmp_path / "ctx", text, {"data.txt": "original\n"})
    before = _context_state(ctx)
    tree = tree_of(bstore, run_build(bstore, ctx, isolation=isolation).image_id)
    assert tree["refused"] == ("f", 0o644, 0, 0, "")
    assert _context_state(ctx) == before


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "type=bind,source=.,target=/m,bind-propagation=rshared",
            "RUN --mount=type=bind,source=.,target=/m,bind-propagation=rshared: unknown option "
            "'bind-propagation' for type=bind (expected one of destination, dst, from, readonly, "
            "readwrite, ro, rw, source, src, target, type)",
        ),
        (
            "type=tmpfs,target=/t,mode=1777",
            "RUN --mount=type=tmpfs,target=/t,mode=1777: unknown option 'mode' for type=tmpfs "
            "(expected one of destination, dst, size, target, type)",
        ),
        (
            "type=cache,target=/c,sharing=everyone",
            "RUN --mount=type=cache,target=/c,sharing=everyone: sharing must be one of shared, "
            "private, locked, not 'everyone'",
        ),
        (
            "type=bind,target=/m,rw=maybe",
            "RUN --mount=type=bind,target=/m,rw=maybe: rw must be true or false, not 'maybe'",
        ),
        (
            "type=cache,target=/c,uid=4294967295",
            "RUN --mount=type=cache,target=/c,uid=4294967295: uid 4294967295 is out of range: "
            "IDs are 0 to 4294967294",
        ),
        (
            "type=cache,target=/c,gid=-1",
            "RUN --mount=type=cache,target=/c,gid=-1: gid '-1' is not a number from 0 to "
            "4294967294",
        ),
    ],
)
def test_unknown_or_malformed_mount_options_are_refused(
    bstore: Store, tmp_path: Path, flag: str, message: str
) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN --mount={flag} touch /x\n")
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    assert str(caught.value) == f"{ctx / 'Containerfile'}:2: RUN: {message}"


def test_a_secret_given_as_env_reaches_the_command_only(bstore: Store, tmp_path: Path) -> None:
    value = "s3cret-" + "8" * 20
    secret = tmp_path / "token.txt"
    secret.write_text(value)
    check = 'case "$TOKEN" in s3cret-8*8) touch /ok;; esac; test ! -e /run/secrets/token'
    text = f"FROM {BASE}\nRUN --mount=type=secret,id=token,env=TOKEN {check}\n"
    result = run_build(bstore, write_context(tmp_path / "ctx", text), secrets={"token": secret})
    assert tree_of(bstore, result.image_id)["ok"] == ("f", 0o644, 0, 0, "")
    assert "TOKEN" not in str(config_of(bstore, result.image_id)["config"].get("Env"))
    blobs = [p for p in (bstore.layout.root / "blobs").rglob("*") if p.is_file()]
    assert [p for p in blobs if value.encode() in p.read_bytes()] == []
