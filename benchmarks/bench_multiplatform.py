#!/usr/bin/env python3
"""A two-platform build, ``boxwright build`` beside ``podman build``, into a manifest list
(a benchmark, not a test).

Both tools build the same context for ``linux/amd64,linux/arm64`` with ``--manifest`` from the
same base: an OCI layout holding Debian's busybox-static for amd64 and for arm64 (made as the
tests make it, ``tests/boxwright_testing/multiarch.py``), read as ``oci:LAYOUT:multi``. The
arm64 RUN runs through qemu-user-static on an amd64 machine for both. The Containerfile:

    FROM oci:LAYOUT:multi
    RUN /bin/busybox sh -c 'for i in $(/bin/busybox seq 1 300); do echo $i > /tmp/f$i; done'
    COPY data/ /data/

Best of N runs, the tools alternating, each ``--no-cache`` into a fresh list name. Target: at
most 0.8x podman's wall time. Run as root on a quiet machine, with qemu-user-static's binfmt
entries registered: ``sudo python3 benchmarks/bench_multiplatform.py [--runs 3]
[--workdir /dev/shm/bench-multiplatform]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_foundation import boxwright_cmd, require_tools  # noqa: E402

from boxwright_testing.multiarch import arm64_busybox, write_busybox_layout  # noqa: E402

TARGET = 0.8
PLATFORMS = "linux/amd64,linux/arm64"
CONTAINERFILE = """FROM oci:{layout}:multi
RUN /bin/busybox sh -c 'for i in $(/bin/busybox seq 1 300); do echo $i > /tmp/f$i; done'
COPY data/ /data/
"""


def prepare(workdir: Path) -> Path:
    """The base layout and the build context under ``workdir``."""
    arm64 = arm64_busybox()
    if arm64 is None:
        sys.exit("busybox-static:arm64 is not available (scripts/install-test-deps fetches it)")
    layout = workdir / "layout"
    if not layout.exists():
        write_busybox_layout(layout, arm64)
    ctx = workdir / "context"
    (ctx / "data").mkdir(parents=True, exist_ok=True)
    for i in range(200):
        (ctx / "data" / f"file{i}.txt").write_text(f"file {i}\n" * 50)
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(layout=layout))
    return ctx


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{done.stderr.decode(errors='replace')}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/bench-multiplatform"))
    args = parser.parse_args(argv)
    require_tools("podman", "qemu-aarch64-static")
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        sys.exit("no binfmt_misc entry qemu-aarch64: install qemu-user-static and binfmt-support")
    args.workdir.mkdir(parents=True, exist_ok=True)
    ctx = prepare(args.workdir)
    ours_root = args.workdir / "boxwright-root"
    peer_root = args.workdir / "podman"
    # podman on this machine needs default_ulimits = [] and runc with cgroupfs (Debian 12's
    # crun refuses a hybrid cgroup layout), as bench_run.py sets it up
    conf = args.workdir / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    podman = [
        "podman", "--root", str(peer_root / "root"), "--runroot", str(peer_root / "run"),
        "--storage-driver", "overlay", "--events-backend", "none",
        "--cgroup-manager", "cgroupfs", "--runtime", "runc",
    ]  # fmt: skip
    ours: list[float] = []
    peer: list[float] = []
    for n in range(args.runs):
        common = ["build", "-q", "--no-cache", "--platform", PLATFORMS, "--manifest", f"m{n}"]
        ours.append(timed([*boxwright_cmd(), "--root", str(ours_root), *common, str(ctx)]))
        peer.append(timed([*podman, *common, str(ctx)], env))
    best_ours, best_peer = min(ours), min(peer)
    ratio = best_ours / best_peer
    verdict = "ok" if ratio <= TARGET else "over target"
    print(f"two-platform build: boxwright {best_ours:.2f}s, podman {best_peer:.2f}s")
    print(f"ratio {ratio:.2f}x (target <= {TARGET}x): {verdict}")
    shutil.rmtree(ours_root, ignore_errors=True)
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
