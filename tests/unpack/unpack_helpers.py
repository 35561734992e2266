"""Helpers for the unpack/repack tests: umoci-built images, a tree describer, layer readers.

The images are made by the real peer (umoci) so that what boxwright unpacks is compared with
what umoci itself unpacks from the very same layout. They are session-scoped: building them
costs a few umoci runs, and every test only reads them (tests copy a layout before writing).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

UMOCI = shutil.which("umoci")
needs_umoci = pytest.mark.skipif(UMOCI is None, reason="umoci is not installed")

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
    "bob:x:1001:1001::/home/bob:/bin/sh\n"
)
GROUP = "root:x:0:\nalice:x:1000:\nwheel:x:10:alice\nstaff:x:50:alice,bob\nbob:x:1001:\n"


def run(*args: str | os.PathLike[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a peer tool; fail the test with its stderr when it fails."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, **kwargs
    )
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


def umoci(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    assert UMOCI is not None
    return run(UMOCI, "--log", "error", *args)


# ---------------------------------------------------------------------------------------------
# Describing a tree: everything umoci and boxwright must agree on.


@dataclass(frozen=True)
class Entry:
    """What one path of a tree is: type, mode, owner, content/target/device, mtime, links."""

    kind: str
    mode: int
    uid: int
    gid: int
    payload: str
    mtime: int | None
    nlink: int


def describe_tree(root: Path, *, mtimes: bool = True) -> dict[str, Entry]:
    """Every path below ``root`` (not the root itself) with its :class:`Entry`.

    Hardlink identity is kept as the payload of regular files: the content hash plus the
    sorted list of every path sharing the inode, so two trees agree only if the same files
    are linked together. Directory mtimes are left out (both tools touch them while writing
    children); file, symlink and device mtimes are compared when ``mtimes``.
    """
    out: dict[str, Entry] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            mtime = None if stat.S_ISDIR(st.st_mode) or not mtimes else int(st.st_mtime)
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(full.read_bytes()).hexdigest()
                inodes.setdefault(st.st_ino, []).append(rel)
                out[rel] = Entry("file", mode, st.st_uid, st.st_gid, digest, mtime, st.st_nlink)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = Entry("dir", mode, st.st_uid, st.st_gid, "", None, 0)
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(full)
                out[rel] = Entry("symlink", 0, st.st_uid, st.st_gid, target, mtime, 0)
            elif stat.S_ISFIFO(st.st_mode):
                out[rel] = Entry("fifo", mode, st.st_uid, st.st_gid, "", mtime, 0)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                kind = "chr" if stat.S_ISCHR(st.st_mode) else "blk"
                dev = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
                out[rel] = Entry(kind, mode, st.st_uid, st.st_gid, dev, mtime, 0)
            else:
                out[rel] = Entry("other", mode, st.st_uid, st.st_gid, "", mtime, 0)
    for paths in inodes.values():
        group = ",".join(sorted(paths))
        for rel in paths:
            e = out[rel]
            out[rel] = Entry(e.kind, e.mode, e.uid, e.gid, f"{e.payload} [{group}]", e.mtime, 0)
    return out


def assert_same_tree(left: Path, right: Path, *, mtimes: bool = True) -> None:
    """Fail with a readable diff unless the two trees are identical (see describe_tree)."""
    a = describe_tree(left, mtimes=mtimes)
    b = describe_tree(right, mtimes=mtimes)
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    differ = {k: (a[k], b[k]) for k in sorted(set(a) & set(b)) if a[k] != b[k]}
    assert not only_a and not only_b and not differ, (
        f"only in {left}: {only_a}\nonly in {right}: {only_b}\ndiffering: {differ}"
    )


# ---------------------------------------------------------------------------------------------
# Images made by umoci.


def _write(path: Path, text: str, mode: int = 0o644, owner: tuple[int, int] = (0, 0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chown(path, *owner)
    os.chmod(path, mode)


def _populate_base(rootfs: Path) -> None:
    """Layer 1: every kind of entry, owners, modes, links, a device and an xattr."""
    _write(rootfs / "etc/passwd", PASSWD)
    _write(rootfs / "etc/group", GROUP)
    _write(rootfs / "etc/hostname", "box\n")
    _write(rootfs / "usr/bin/suid", "#!/bin/sh\n", 0o4755)
    _write(rootfs / "usr/bin/sgid", "#!/bin/sh\n", 0o2711, (0, 50))
    _write(rootfs / "home/alice/notes.txt", "alice's\n", 0o600, (1000, 1000))
    os.chown(rootfs / "home/alice", 1000, 1000)
    os.chmod(rootfs / "home/alice", 0o700)
    _write(rootfs / "srv/odd", "odd owner\n", 0o640, (123, 456))
    (rootfs / "tmp").mkdir()
    os.chmod(rootfs / "tmp", 0o1777)
    _write(rootfs / "data/big.bin", "x" * 300_000)
    _write(rootfs / "data/links/h1", "hardlinked\n")
    os.link(rootfs / "data/links/h1", rootfs / "data/links/h2")
    os.symlink("h1", rootfs / "data/links/rel")
    os.symlink("/etc/hostname", rootfs / "data/links/abs")
    os.symlink("../nowhere", rootfs / "data/links/dangling")
    os.mkfifo(rootfs / "data/fifo")
    os.chmod(rootfs / "data/fifo", 0o620)  # explicit modes: mkfifo/mknod honour the umask
    (rootfs / "dev").mkdir()
    os.mknod(rootfs / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(rootfs / "dev/null", 0o666)
    _write(rootfs / "data/xattr", "with xattr\n")
    os.setxattr(rootfs / "data/xattr", "user.boxwright", b"yes")
    _write(rootfs / "old/a/one", "1\n")
    _write(rootfs / "old/a/two", "2\n")
    _write(rootfs / "old/keep", "keep\n")
    _write(rootfs / "gone.txt", "soon gone\n")
    _write(rootfs / "becomes_dir", "file now\n")
    _write(rootfs / "becomes_file/x", "x\n")
    _write(rootfs / "chmod_me", "c\n", 0o644)
    _write(rootfs / "chown_me", "c\n", 0o644)
    _write(rootfs / "change_me", "before\n")
    (rootfs / "empty").mkdir(mode=0o750)
    for i, name in enumerate(sorted(str(p) for p in rootfs.rglob("*"))):
        if not os.path.islink(name) and not os.path.isdir(name):
            os.utime(name, (1_600_000_000 + i, 1_600_000_000 + i))


def _modify(rootfs: Path) -> None:
    """Layer 2: deletions, replacements, content, mode and owner changes, additions."""
    (rootfs / "gone.txt").unlink()
    shutil.rmtree(rootfs / "old/a")
    (rootfs / "becomes_dir").unlink()
    _write(rootfs / "becomes_dir/inner", "inner\n")
    shutil.rmtree(rootfs / "becomes_file")
    _write(rootfs / "becomes_file", "was a dir\n")
    os.chmod(rootfs / "chmod_me", 0o600)
    os.chown(rootfs / "chown_me", 1001, 1001)
    _write(rootfs / "change_me", "after, longer\n")
    _write(rootfs / "new/deep/file", "new\n")
    os.link(rootfs / "data/links/h1", rootfs / "new/h3")
    os.utime(rootfs / "change_me", (1_700_000_000, 1_700_000_000))


def _opaque_layer(path: Path) -> None:
    """Layer 3, hand-made: an opaque directory and a whiteout, as overlay-based tools write."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in [("old/", tarfile.DIRTYPE), ("old/.wh..wh..opq", tarfile.REGTYPE)]:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.type = kind
            info.mode = 0o755
            info.mtime = 1_650_000_000
            tar.addfile(info)
        data = b"fresh\n"
        info = tarfile.TarInfo("old/fresh")
        info.size = len(data)
        info.mode = 0o644
        info.mtime = 1_650_000_000
        import io

        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("data/.wh.fifo")
        info.mtime = 1_650_000_000
        tar.addfile(info)


@dataclass(frozen=True)
class UmociImage:
    """An OCI layout made by umoci, and the tag of the image in it."""

    layout: Path
    tag: str

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"

    def copy_to(self, where: Path) -> UmociImage:
        shutil.copytree(self.layout, where, symlinks=True)
        return UmociImage(where, self.tag)


def build_umoci_image(work: Path) -> UmociImage:
    """A three-layer image: a rich base, changes with deletions, then an opaque directory.

    The config has a user from the image's passwd, args, env and a working directory, so the
    bundle's config.json has something to resolve.
    """
    layout = work / "layout"
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:t")
    bundle = work / "bundle"
    umoci("unpack", "--image", f"{layout}:t", bundle)
    _populate_base(bundle / "rootfs")
    umoci("repack", "--image", f"{layout}:t", bundle)
    shutil.rmtree(bundle)
    umoci("unpack", "--image", f"{layout}:t", bundle)
    _modify(bundle / "rootfs")
    umoci("repack", "--image", f"{layout}:t", bundle)
    shutil.rmtree(bundle)
    _opaque_layer(work / "opaque.tar")
    umoci("raw", "add-layer", "--image", f"{layout}:t", work / "opaque.tar")
    umoci(
        "config",
        "--image",
        f"{layout}:t",
        "--config.user",
        "alice",
        "--config.entrypoint",
        "/bin/sh",
        "--config.cmd",
        "-c",
        "--config.cmd",
        "echo hi",
        "--config.env",
        "FOO=bar",
        "--config.workingdir",
        "/home/alice",
    )
    return UmociImage(layout, "t")


def manifest_of(layout: Path, tag: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest and config JSON of ``tag`` in an OCI layout (top level of index.json)."""
    index = json.loads((layout / "index.json").read_text())
    for desc in index["manifests"]:
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            algo, hexd = desc["digest"].split(":")
            manifest = json.loads((layout / "blobs" / algo / hexd).read_text())
            algo, hexd = manifest["config"]["digest"].split(":")
            config = json.loads((layout / "blobs" / algo / hexd).read_text())
            return manifest, config
    raise AssertionError(f"no tag {tag} in {layout}")


def layer_entries(layout: Path, digest: str) -> dict[str, tarfile.TarInfo]:
    """The tar entries of a layer blob in a layout, by cleaned name (gzip, zstd or plain)."""
    algo, hexd = digest.split(":")
    blob = layout / "blobs" / algo / hexd
    with blob.open("rb") as raw:
        if raw.read(4) == b"\x28\xb5\x2f\xfd":
            import zstandard

            raw.seek(0)
            stream: Any = zstandard.ZstdDecompressor().stream_reader(raw)
            mode = "r|"
        else:
            raw.seek(0)
            stream, mode = raw, "r|*"
        with tarfile.open(fileobj=stream, mode=mode) as tar:
            return {m.name.removeprefix("./").rstrip("/"): m for m in tar}
