#!/usr/bin/env python3
"""Start-to-exit time of ``boxwright run --rm IMAGE true`` beside ``podman run --rm`` (a
benchmark, not a test).

The image is the Debian bookworm minbase rootfs (mmdebstrap, cached in ``benchmarks/.cache``
like ``bench_store.py``'s base), put into an OCI layout by umoci and loaded once into a
boxwright store and once, with skopeo, into a podman containers-storage (overlay driver), both
under the work directory. Then, best of N warm runs, alternating the tools, each command is
timed from start to exit as a whole process:

    boxwright --root R run --rm --network host localhost/base:latest true
    podman --root R2 --runroot RR run --rm --network host localhost/base:latest true

Both share the host's network (the default of each would add the start of a network
helper, slirp4netns for boxwright, a bridge or slirp4netns for podman). podman on this
machine needs a ``CONTAINERS_CONF`` with ``default_ulimits = []`` under ``[containers]``,
written into the work directory. The issue's
target: at most 1.0x podman's time. Run as root:
``sudo python3 benchmarks/bench_run.py [--runs 10] [--workdir /dev/shm/bench-run]``
``[--write-docs]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_foundation import (
    CACHE,
    TAG,
    Row,
    Timing,
    boxwright_cmd,
    machine,
    ratio_row,
    report,
    require_tools,
    run,
    section_text,
)
from bench_store import base_layout

START = "<!-- bench_run: start -->"
END = "<!-- bench_run: end -->"
TARGET = 1.0
IMAGE = "localhost/base:latest"


def commands(workdir: Path) -> tuple[list[str], list[str], dict[str, str]]:
    """boxwright's and podman's command lines, and the environment podman needs."""
    conf = workdir / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    # An installed package has its bytecode compiled; let the warm-up run write it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ours = [*boxwright_cmd(), "--root", str(workdir / "boxwright-root")]
    podman = [
        "podman",
        "--root",
        str(workdir / "podman-root"),
        "--runroot",
        str(workdir / "podman-run"),
        "--storage-driver",
        "overlay",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
        "--runtime",
        "runc",  # Debian 12's crun refuses this machine's hybrid cgroup layout
    ]
    return ours, podman, env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{done.stderr.decode(errors='replace')}")
    return seconds


def _unmount(workdir: Path) -> None:
    """podman leaves its overlay storage mounted (a tmpfs) under its root: undo that."""
    overlay = workdir / "podman-root" / "overlay"
    subprocess.run(["umount", "-R", str(overlay)], capture_output=True, check=False)


def bench(args: argparse.Namespace) -> tuple[list[Row], dict[str, str]]:
    workdir: Path = args.workdir
    _unmount(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    layout = base_layout()
    ours, podman, env = commands(workdir)
    ref = f"oci:{layout}:{TAG}"
    run([*ours, "copy", ref, f"store:{IMAGE}"])
    storage = f"containers-storage:[overlay@{workdir / 'podman-root'}+{workdir / 'podman-run'}]"
    run(["skopeo", "copy", "--quiet", ref, f"{storage}{IMAGE}"])
    our_cmd = [*ours, "run", "--rm", "--network", "host", IMAGE, "true"]
    peer_cmd = [*podman, "run", "--rm", "--network", "host", IMAGE, "true"]
    a, b = Timing(), Timing()
    try:
        timed(our_cmd, env)
        timed(peer_cmd, env)
        for _ in range(args.runs):
            a.samples.append(timed(our_cmd, env))
            b.samples.append(timed(peer_cmd, env))
    finally:
        _unmount(workdir)
    rows = [ratio_row("run --rm IMAGE true, start to exit / podman run --rm", a, b, TARGET)]
    info = machine()
    info["podman"] = run(["podman", "--version"]).stdout.decode().strip()
    info["image"] = "Debian bookworm minbase (mmdebstrap), one layer, loaded into both stores"
    info["work directory"] = str(workdir)
    return rows, info


def section(rows: list[Row], info: dict[str, str], runs: int) -> str:
    intro = [
        "Measured by `benchmarks/bench_run.py`: `boxwright run --rm IMAGE true` beside "
        "`podman run --rm --network host IMAGE true` (overlay storage, runc, cgroupfs, no "
        f"events) on the same image, alternating, best of {runs} warm runs, each a whole "
        "process from start to exit:",
        "`python3 benchmarks/bench_run.py --workdir /dev/shm/bench-run --write-docs`. "
        "boxwright's bytecode is compiled (the warm-up writes it, as installing a package "
        "does); a profile of one run: ~45 ms interpreter and imports, ~2 ms container record "
        "made and removed, ~17 ms the run (overlay mount, two forks, namespaces, mounts).",
    ]
    return section_text((START, END), "Running a container: start to exit", intro, info, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per tool (best of)")
    parser.add_argument("--workdir", type=Path, default=CACHE / "run-bench", help="the two stores")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    require_tools("podman", "runc", "skopeo", "umoci", "mmdebstrap")
    rows, info = bench(args)
    return report(section(rows, info, args.runs), rows, (START, END), args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
