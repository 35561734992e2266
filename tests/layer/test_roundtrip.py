"""Random trees round-trip unchanged through generate_layer → apply_layer (hypothesis).

Stage one: a random tree becomes a base layer, applied to an empty directory: the two trees
must be equal in every respect a layer carries (types, modes, owners, mtimes to the second,
symlink targets, content, hardlink identity). Stage two: random changes to the tree (add,
rewrite, chmod, chown, delete, type changes, new hardlinks), a diff layer against a snapshot
taken before them; base + diff applied to a fresh directory must equal the changed tree.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.generate import GenerateOptions, generate_layer
from boxwright.layer.snapshot import Snapshot

ROOT = os.geteuid() == 0

# Odd but valid names: spaces, newlines, dots, non-ASCII, a byte that is not UTF-8.
NAME_CHARS = st.sampled_from(["a", "b", "c", "Z", "0", " ", "-", ".", "é", "\n", "\udcfe"])
NAMES = st.text(NAME_CHARS, min_size=1, max_size=6).filter(
    lambda n: n not in (".", "..") and not n.startswith(".wh.")
)
FILE_MODES = st.sampled_from([0o644, 0o600, 0o755, 0o4755, 0o2755, 0o444, 0o1644, 0o000])
DIR_MODES = st.sampled_from([0o755, 0o700, 0o1777, 0o2775, 0o555])
OWNERS = st.sampled_from([(0, 0), (1000, 1000), (65534, 65534), (0, 1234)])
MTIMES = st.integers(min_value=0, max_value=2**33)
CONTENT = st.binary(max_size=1500)


@dataclass
class Op:
    """One step that builds or changes a tree; ``where`` picks an existing path by index."""

    kind: str
    where: int
    name: str
    data: bytes
    mode: int
    dir_mode: int
    owner: tuple[int, int]
    mtime: int
    target: str


OPS = st.builds(
    Op,
    kind=st.sampled_from(["file", "file", "dir", "dir", "symlink", "hardlink", "fifo"]),
    where=st.integers(min_value=0, max_value=1000),
    name=NAMES,
    data=CONTENT,
    mode=FILE_MODES,
    dir_mode=DIR_MODES,
    owner=OWNERS,
    mtime=MTIMES,
    target=st.sampled_from(["", "../..", "/etc/passwd", "a", "missing/x", "./b"]),
)
CHANGES = st.builds(
    Op,
    kind=st.sampled_from(
        [
            "file",
            "dir",
            "symlink",
            "hardlink",
            "delete",
            "delete",
            "rewrite",
            "rewrite-same-size",
            "chmod",
            "chown",
            "to-dir",
            "to-file",
            "touch",
        ]
    ),
    where=st.integers(min_value=0, max_value=1000),
    name=NAMES,
    data=CONTENT,
    mode=FILE_MODES,
    dir_mode=DIR_MODES,
    owner=OWNERS,
    mtime=MTIMES,
    target=st.sampled_from(["", "a", "missing", "/abs/path"]),
)


def paths(root: Path) -> list[str]:
    """Every relative path under root, sorted (root itself is "")."""
    found = [""]
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel + "/"
        found.extend(prefix + n for n in dirnames + filenames)
    return sorted(found)


def dirs(root: Path) -> list[str]:
    return [p for p in paths(root) if stat.S_ISDIR(os.lstat(root / p).st_mode)]


def files(root: Path) -> list[str]:
    return [p for p in paths(root) if stat.S_ISREG(os.lstat(root / p).st_mode)]


def pick(items: list[str], index: int) -> str:
    return items[index % len(items)]


def set_meta(path: Path, op: Op, mode: int | None) -> None:
    if ROOT:
        os.chown(path, *op.owner, follow_symlinks=False)
    if mode is not None:
        os.chmod(path, mode)


def build(root: Path, ops: list[Op]) -> list[tuple[Path, int, int | None]]:
    """Apply creation steps; return (path, mtime, directory mode) to set at the end."""
    finish: list[tuple[Path, int, int | None]] = []
    for op in ops:
        parent = root / pick(dirs(root), op.where)
        path = parent / op.name
        if os.path.lexists(path):
            continue
        if op.kind == "file":
            path.write_bytes(op.data)
            set_meta(path, op, op.mode)
        elif op.kind == "dir":
            path.mkdir()
            set_meta(path, op, None)
            finish.append((path, op.mtime, op.dir_mode))
            continue
        elif op.kind == "symlink":
            target = op.target or (os.path.relpath(root / pick(paths(root), op.where), parent))
            path.symlink_to(target)
            set_meta(path, op, None)
        elif op.kind == "hardlink":
            existing = files(root)
            if not existing:
                continue
            os.link(root / pick(existing, op.where), path)
        elif op.kind == "fifo":
            os.mkfifo(path)
            set_meta(path, op, op.mode & 0o777)
        finish.append((path, op.mtime, None))
    return finish


def finish_tree(finish: list[tuple[Path, int, int | None]]) -> None:
    """Set directory modes and all mtimes, deepest paths first."""
    for path, mtime, mode in sorted(finish, key=lambda f: -len(f[0].parts)):
        if not os.path.lexists(path):
            continue
        if mode is not None:
            os.chmod(path, mode)
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def change(root: Path, changes: list[Op]) -> None:
    """Apply random modifications to a built tree."""
    for op in changes:
        everything = [p for p in paths(root) if p]
        if op.kind in ("file", "dir", "symlink", "hardlink"):
            finish_tree(build(root, [op]))
            continue
        if not everything:
            continue
        rel = pick(everything, op.where)
        path = root / rel
        st_ = os.lstat(path)
        is_dir = stat.S_ISDIR(st_.st_mode)
        if op.kind == "delete":
            if is_dir:
                os.chmod(path, 0o700)
                for sub in [path, *[Path(p) for p in _subdirs(path)]]:
                    os.chmod(sub, 0o700)
                shutil.rmtree(path)
            else:
                path.unlink()
        elif op.kind in ("rewrite", "rewrite-same-size") and stat.S_ISREG(st_.st_mode):
            data = op.data
            if op.kind == "rewrite-same-size":
                data = bytes((b + 1) % 256 for b in path.read_bytes())
            os.chmod(path, stat.S_IMODE(st_.st_mode) | 0o200)
            path.write_bytes(data)
            os.chmod(path, stat.S_IMODE(st_.st_mode))
            if op.kind == "rewrite-same-size":
                os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns))
        elif op.kind == "chmod" and not stat.S_ISLNK(st_.st_mode):
            os.chmod(path, op.mode | (0o700 if is_dir else 0))
        elif op.kind == "chown" and ROOT:
            mode = stat.S_IMODE(st_.st_mode)
            os.chown(path, *op.owner, follow_symlinks=False)
            if not stat.S_ISLNK(st_.st_mode):
                os.chmod(path, mode)  # chown clears setuid/setgid
        elif op.kind == "to-dir" and not is_dir:
            path.unlink()
            path.mkdir()
            (path / op.name).write_bytes(op.data)
        elif op.kind == "to-file" and is_dir:
            for sub in [path, *[Path(p) for p in _subdirs(path)]]:
                os.chmod(sub, 0o700)
            shutil.rmtree(path)
            path.write_bytes(op.data)
        elif op.kind == "touch":
            os.utime(path, (op.mtime, op.mtime), follow_symlinks=False)


def _subdirs(path: Path) -> Iterator[str]:
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            yield os.path.join(dirpath, name)


def describe(root: Path) -> dict[str, Any]:
    """Everything a layer carries about each path, plus hardlink groups."""
    out: dict[str, Any] = {}
    inodes: dict[int, list[str]] = {}
    for rel in paths(root):
        if not rel:
            continue
        st_ = os.lstat(root / rel)
        kind = stat.S_IFMT(st_.st_mode)
        extra: Any = None
        if stat.S_ISREG(st_.st_mode):
            with open(root / rel, "rb") as handle:
                extra = hashlib.sha256(handle.read()).hexdigest()
            inodes.setdefault(st_.st_ino, []).append(rel)
        elif stat.S_ISLNK(st_.st_mode):
            extra = os.readlink(root / rel)
        mtime = st_.st_mtime_ns // 1_000_000_000
        owner = (st_.st_uid, st_.st_gid) if ROOT else None
        out[rel] = (kind, stat.S_IMODE(st_.st_mode), owner, mtime, extra)
    out["<hardlinks>"] = sorted(sorted(group) for group in inodes.values() if len(group) > 1)
    return out


@pytest.fixture
def scratch() -> Iterator[Path]:
    """Scratch space on tmpfs when available (creating inodes on a virtual disk is slow)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
    path = Path(tempfile.mkdtemp(prefix="bw-roundtrip-", dir=base))
    try:
        yield path
    finally:
        _force_rmtree(path)


def _force_rmtree(path: Path) -> None:
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def fresh(scratch: Path, name: str) -> Path:
    path = scratch / name
    if path.exists():
        _force_rmtree(path)
    path.mkdir()
    return path


def layer(root: Path, before: Snapshot | None = None) -> bytes:
    out = io.BytesIO()
    generate_layer(root, before, out, GenerateOptions(rootless=not ROOT))
    return out.getvalue()


def apply(root: Path, *layers: bytes) -> None:
    for data in layers:
        apply_layer(root, io.BytesIO(data), ApplyOptions(rootless=not ROOT))


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(ops=st.lists(OPS, min_size=1, max_size=25))
def test_base_layer_roundtrip(scratch: Path, ops: list[Op]) -> None:
    src = fresh(scratch, "src")
    finish_tree(build(src, ops))
    data = layer(src)
    dst = fresh(scratch, "dst")
    apply(dst, data)
    assert describe(dst) == describe(src)
    assert layer(dst) == data  # and the applied tree gives the very same layer back


@SETTINGS
@given(
    ops=st.lists(OPS, min_size=1, max_size=20),
    changes=st.lists(CHANGES, min_size=1, max_size=12),
)
def test_diff_layer_roundtrip(scratch: Path, ops: list[Op], changes: list[Op]) -> None:
    src = fresh(scratch, "src")
    finish_tree(build(src, ops))
    base = layer(src)
    before = Snapshot.take(src)
    change(src, changes)
    diff = layer(src, before)
    dst = fresh(scratch, "dst")
    apply(dst, base, diff)
    assert describe(dst) == describe(src)
