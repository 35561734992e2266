"""Images of two architectures, made from Debian's ``busybox-static`` packages, and qemu.

``busybox_platforms`` (session) writes one OCI layout with a one-layer image per architecture
(``/bin/busybox`` and ``/bin/sh`` → busybox, a ``/tmp``): tag ``amd64`` from the host's
``busybox-static`` (``/bin/busybox``), tag ``arm64`` from ``busybox-static:arm64``, fetched once
with ``apt-get download`` into ``$XDG_CACHE_HOME/boxwright-tests`` (kept between runs), and
tag ``multi``, an OCI index of both. ``scripts/install-test-deps`` adds the arm64 architecture
and fetches the package; the fixture skips when it cannot get it.

``arm64_emulation`` (session) makes sure the kernel can run arm64 programs through
qemu-user-static: it mounts ``binfmt_misc`` on ``/proc/sys/fs/binfmt_misc`` when it is not
mounted (root only, here in the test setup, never in boxwright) and enables Debian's
``qemu-aarch64`` entry; it skips when qemu-user-static is not installed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from boxwright_testing.layouts import LAYER_GZIP, Descriptor, Layout

HOST_BUSYBOX = Path("/bin/busybox")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
CREATED = "2024-01-02T03:04:05Z"


@dataclass(frozen=True)
class BusyboxPlatforms:
    """The layout and what each tag holds."""

    layout: Path
    digests: dict[str, str]
    """tag → manifest digest (``multi``: the index's)."""

    def ref(self, tag: str) -> str:
        return f"oci:{self.layout}:{tag}"


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "boxwright-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path


def arm64_busybox() -> Path | None:
    """busybox of Debian's ``busybox-static:arm64``, unpacked in the cache (None: unavailable)."""
    cache = _cache_dir()
    binary = cache / "busybox-arm64" / "bin" / "busybox"
    if binary.exists():
        return binary
    debs = sorted(cache.glob("busybox-static_*_arm64.deb"))
    if not debs:
        done = subprocess.run(
            ["apt-get", "download", "busybox-static:arm64"],
            cwd=cache,
            capture_output=True,
            check=False,
        )
        debs = sorted(cache.glob("busybox-static_*_arm64.deb"))
        if done.returncode != 0 or not debs:
            return None
    unpacked = cache / "busybox-arm64.tmp"
    shutil.rmtree(unpacked, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], check=True)
    os.replace(unpacked, cache / "busybox-arm64")
    return binary


def _layer(busybox: Path) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("bin", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = (
                tarfile.DIRTYPE,
                0o1777 if name == "tmp" else 0o755,
                0,
            )
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link)
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0), f"sha256:{hashlib.sha256(plain).hexdigest()}"


def _image(layout: Layout, busybox: Path, arch: str, variant: str) -> Descriptor:
    layer, diff_id = _layer(busybox)
    config = layout.config(
        {
            "created": CREATED,
            "architecture": arch,
            "os": "linux",
            **({"variant": variant} if variant else {}),
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": CREATED, "created_by": f"busybox-static {arch}"}],
        }
    )
    manifest = layout.manifest(config, [layout.blob(layer, LAYER_GZIP)])
    platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
    return {**manifest, "platform": platform}


def write_busybox_layout(layout: Path, arm64: Path) -> BusyboxPlatforms:
    """Write the layout of the module docstring at ``layout`` (the arm64 busybox given)."""
    out = Layout(layout)
    amd = _image(out, HOST_BUSYBOX, "amd64", "")
    arm = _image(out, arm64, "arm64", "v8")
    tagged = (("amd64", amd), ("arm64", arm), ("multi", out.index([amd, arm])))
    for tag, desc in tagged:
        out.tag(desc, tag)
    return BusyboxPlatforms(layout, {tag: str(d["digest"]) for tag, d in tagged})


@pytest.fixture(scope="session")
def busybox_platforms(tmp_path_factory: pytest.TempPathFactory) -> BusyboxPlatforms:
    """An OCI layout with busybox-static images for amd64 and arm64 (module docstring)."""
    arm64 = arm64_busybox()
    if arm64 is None or not HOST_BUSYBOX.exists():
        pytest.skip(
            "busybox-static (amd64) or busybox-static:arm64 is not available "
            "(scripts/install-test-deps adds the arm64 architecture and fetches it)"
        )
    return write_busybox_layout(tmp_path_factory.mktemp("busybox-platforms") / "layout", arm64)


@pytest.fixture(scope="session")
def arm64_emulation() -> None:
    """The kernel runs arm64 programs through qemu-user-static (module docstring)."""
    if not Path("/usr/share/binfmts/qemu-aarch64").exists():
        pytest.skip("qemu-user-static is not installed (scripts/install-test-deps installs it)")
    if not (BINFMT / "register").exists():
        if os.geteuid() != 0:
            pytest.skip("binfmt_misc is not mounted, and only root can mount it")
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=False)
    if not (BINFMT / "qemu-aarch64").exists() and shutil.which("update-binfmts"):
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], check=False)
    if not (BINFMT / "qemu-aarch64").exists():
        pytest.skip("no binfmt_misc entry qemu-aarch64 could be registered")
