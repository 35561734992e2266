"""Images for the SBOM tests: OCI layouts written from layer tar files (uncompressed, streamed
from disk), a cached Debian rootfs from mmdebstrap, wheels made on the spot."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from boxwright_testing.layouts import LAYER_TAR, Layout

MTIME = 1_700_000_000

#: Where the Debian rootfs is cached between sessions (one file per day, like the benchmarks').
CACHE = Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "boxwright-tests"
DEBIAN_PACKAGES = ("python3-pip",)


def write_layout(layout: Path, layers: list[Path], tag: str = "latest") -> str:
    """An OCI layout at ``layout`` holding one image of the uncompressed ``layers``; returns
    the manifest digest."""
    out = Layout(layout)
    descs = [out.blob(layer, LAYER_TAR) for layer in layers]
    config = out.config(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]},
            "config": {},
        }
    )
    manifest = out.manifest(config, descs)
    out.tag(manifest, tag)
    return str(manifest["digest"])


def tar_of(path: Path, files: dict[str, bytes | None], mode: int = 0o644) -> Path:
    """A layer tar at ``path`` of ``files`` (name → content; None makes a directory, and a
    name ``dir/.wh.x`` a whiteout)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
    return path


def tar_directory(path: Path, root: Path) -> Path:
    """A layer tar at ``path`` of everything under ``root`` (owned by root, fixed mtimes)."""

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = MTIME
        return info

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=child.name, filter=reset)
    return path


def debian_rootfs_tar() -> Path:
    """A bookworm minbase rootfs with python3-pip from mmdebstrap, cached for the day."""
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = f"bookworm-minbase-{'-'.join(DEBIAN_PACKAGES)}"
    today = CACHE / f"{stem}-{dt.date.today():%Y%m%d}.tar"
    if today.exists():
        return today
    for old in CACHE.glob(f"{stem}-*.tar"):
        old.unlink()
    partial = today.with_suffix(".partial.tar")
    subprocess.run(
        [
            "mmdebstrap",
            "--variant=minbase",
            "--include=" + ",".join(DEBIAN_PACKAGES),
            "bookworm",
            str(partial),
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    partial.rename(today)
    return today


def debian_rootfs_or_skip() -> Path:
    """:func:`debian_rootfs_tar`, or a skip of the calling test saying what is missing:
    mmdebstrap, root (mmdebstrap keeps the owners only as root) or a reachable mirror."""
    import pytest

    if shutil.which("mmdebstrap") is None or os.geteuid() != 0:
        pytest.skip("needs mmdebstrap and root")
    try:
        return debian_rootfs_tar()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"mmdebstrap failed (no Debian mirror?): {exc.stderr[-500:]!r}")


def make_wheel(where: Path, name: str, version: str, license_text: str = "MIT") -> Path:
    """A pure-Python wheel of distribution ``name`` with one module (``name``.py)."""
    module = name.lower().replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    files = {
        f"{module}.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"License: {license_text}\nAuthor: Test Author\n\n"
        ).encode(),
        f"{dist}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={b64},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = where / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


#: A dpkg status file: two installed packages (one with a source of another version), one not.
STATUS = b"""\
Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: login
Status: install ok installed
Architecture: amd64
Source: shadow (1:4.13+dfsg1-1)
Version: 1:4.13+dfsg1-1+b1
"""


def _rpm_header(strings: dict[int, str], ints: dict[int, int]) -> bytes:
    """An rpm header blob as rpm stores it in the sqlite database."""
    entries, data = [], b""
    for tag, value in strings.items():
        entries.append(struct.pack(">iIiI", tag, 6, len(data), 1))
        data += value.encode() + b"\0"
    for tag, number in ints.items():
        data += b"\0" * (-len(data) % 4)
        entries.append(struct.pack(">iIiI", tag, 4, len(data), 1))
        data += struct.pack(">i", number)
    return struct.pack(">II", len(entries), len(data)) + b"".join(entries) + data


def make_rpmdb(path: Path) -> Path:
    """A sqlite rpm database with bash (epoch 0 absent), vim (epoch 2) and a gpg-pubkey."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB)")
        for strings, ints in (
            ({1000: "bash", 1001: "5.2.15", 1002: "5.fc39", 1022: "x86_64",
              1014: "GPL-3.0-or-later", 1011: "Fedora Project",
              1044: "bash-5.2.15-5.fc39.src.rpm"}, {}),
            ({1000: "vim-minimal", 1001: "9.0.2120", 1002: "1.fc39", 1022: "x86_64",
              1044: "vim-9.0.2120-1.fc39.src.rpm"}, {1003: 2}),
            ({1000: "gpg-pubkey", 1001: "18b8e74c", 1002: "62f2920f"}, {}),
        ):  # fmt: skip
            db.execute("INSERT INTO Packages (blob) VALUES (?)", (_rpm_header(strings, ints),))
    db.close()
    return path


#: The wheels the pip image installs: (name as in METADATA, version).
WHEELS = (("alpha-tool", "1.2.0"), ("Beta_Lib", "0.3.1"))


@dataclass(frozen=True)
class ProofImage:
    """An image as an OCI layout reference and its merged filesystem, unpacked."""

    reference: str
    digest: str
    rootfs: Path


def run_inside(image: ProofImage, *argv: str) -> str:
    """Run ``argv`` chrooted in the image's unpacked filesystem; its stdout."""
    done = subprocess.run(
        ["chroot", str(image.rootfs), *argv],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
    )
    return done.stdout
