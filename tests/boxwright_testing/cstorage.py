"""Running podman, buildah and skopeo on private containers-storage stores, for the
containers-storage transport's tests.

Each store lives under the test's own directory (``--root``/``--runroot``, and the same
paths in the references' ``[DRIVER@ROOT+RUNROOT]``), so no test touches the machine's store.
podman on this machine needs a ``CONTAINERS_CONF`` with ``default_ulimits = []``, the
``cgroupfs`` manager and runc.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from boxwright.transport.image import open_image
from boxwright.transport.reference import parse_transport_reference
from boxwright_testing.layouts import LAYER_TAR, Layout
from boxwright_testing.podman import store_argv

PODMAN = shutil.which("podman")
BUILDAH = shutil.which("buildah")
SKOPEO = shutil.which("skopeo")
BUSYBOX = shutil.which("busybox") or "/bin/busybox"

needs_peers = [
    pytest.mark.peers,
    pytest.mark.skipif(
        PODMAN is None or BUILDAH is None or SKOPEO is None,
        reason="podman, buildah and skopeo are needed",
    ),
    pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox is needed"),
]


@dataclass(frozen=True)
class PeerStore:
    """A private containers-storage store and the peer command lines that use it."""

    root: Path
    runroot: Path
    driver: str
    env: dict[str, str]

    def ref(self, name: str) -> str:
        return f"containers-storage:[{self.driver}@{self.root}+{self.runroot}]{name}"

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.podman_argv(*args), self.env, check)

    def podman_argv(self, *args: str) -> list[str]:
        """The command line of ``podman ARGS`` on this store."""
        assert PODMAN is not None
        return [
            *store_argv(PODMAN, self.root, self.runroot, self.driver),
            "--runtime",
            "runc",
            *args,
        ]

    def buildah(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert BUILDAH is not None
        return run(
            [*store_argv(BUILDAH, self.root, self.runroot, self.driver), *args], self.env, check
        )

    def release(self) -> None:
        """Undo the private bind mount podman's overlay driver leaves on ``ROOT/overlay``."""
        mounted = Path("/proc/mounts").read_text().split()
        target = str(self.root / "overlay")
        if target in mounted:
            subprocess.run(["umount", target], check=False, capture_output=True)
        shutil.rmtree(self.runroot, ignore_errors=True)

    def skopeo(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert SKOPEO is not None
        return run([SKOPEO, *args], self.env, True)


def run(argv: list[str], env: dict[str, str], check: bool) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done


def diff_ids(ref: str) -> list[str]:
    """The diff IDs of the image ``ref`` (any transport) names, as boxwright reads them."""
    source = parse_transport_reference(ref).open_source()
    try:
        return [str(d) for d in open_image(source).diff_ids]
    finally:
        source.close()


def peer_store(base: Path, driver: str) -> PeerStore:
    """A new private store under ``base``."""
    base.mkdir(parents=True, exist_ok=True)
    conf = base / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    env.pop("CONTAINERS_STORAGE_CONF", None)
    # podman refuses a run root longer than 50 characters: a short one under /tmp.
    runroot = Path(tempfile.mkdtemp(prefix="bxcs-", dir="/tmp"))
    return PeerStore(base / "root", runroot, driver, env)


BUSYBOX_FILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /etc /data/sub && echo hi > /data/sub/f \
&& echo m > /etc/motd && /bin/busybox ln -s /data/sub/f /data/link"]
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox rm -rf /data /etc/motd && /bin/busybox mkdir /data \
&& echo new > /data/g"]
"""
"""Three layers: busybox; files, a symlink; a removed file (a whiteout) and a directory
removed and made again (opaque)."""


def busybox_context(base: Path) -> Path:
    """A build context of :data:`BUSYBOX_FILE`."""
    ctx = base / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    shutil.copy(BUSYBOX, ctx / "busybox")
    (ctx / "Containerfile").write_text(BUSYBOX_FILE)
    return ctx


def add_busybox(tar: tarfile.TarFile) -> None:
    """Add :data:`BUSYBOX` to ``tar`` as ``bin/busybox`` (mode 0755, owned by 0:0)."""
    content = Path(BUSYBOX).read_bytes()
    info = tarfile.TarInfo("bin/busybox")
    info.size, info.mode = len(content), 0o755
    tar.addfile(info, io.BytesIO(content))


def busybox_index(layout: Path) -> dict[str, str]:
    """An OCI layout at ``layout``, tag ``x``: an index of two images (linux/amd64 and
    linux/arm64) of one busybox layer, each config's Cmd echoing its architecture. Returns
    each architecture's config digest hex (the image ID a store gives it)."""
    out = Layout(layout)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add_busybox(tar)
    layer = out.blob(buf.getvalue(), LAYER_TAR)
    ids: dict[str, str] = {}
    entries = []
    for arch in ("amd64", "arm64"):
        config = out.config(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": ["/bin/busybox", "echo", arch]},
                "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
            }
        )
        ids[arch] = str(config["digest"]).removeprefix("sha256:")
        manifest = out.manifest(config, [layer])
        entries.append({**manifest, "platform": {"architecture": arch, "os": "linux"}})
    out.tag(out.index(entries), "x")
    return ids
