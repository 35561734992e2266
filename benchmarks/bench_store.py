#!/usr/bin/env python3
"""A step-by-step build on the local store, boxwright beside buildah (a benchmark, not a test).

The base image is a Debian bookworm minbase rootfs (mmdebstrap, cached in ``benchmarks/.cache``
like ``bench_foundation.py``'s) put into an OCI layout by umoci. It is loaded once into a
boxwright store and once into a buildah store (``--storage-driver overlay``), both under the
work directory; then, best of N warm runs, alternating the tools:

    from BASE  →  copy DIR /data  (a few thousand small files)  →  commit NAME

``buildah from``/``copy``/``commit`` against ``boxwright container from``/``copy``/``commit``,
the three commands timed together. After each run (untimed) the working container and the new
image are removed, so every run commits the same change into a store in the same state. The
issue's target: at most 0.8x buildah's wall time. Run as root (buildah's overlay driver and
mmdebstrap need it):
``sudo python3 benchmarks/bench_store.py [--runs 5] [--files 3000]``
``[--workdir /dev/shm/bench-store] [--write-docs]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_foundation import (
    CACHE,
    TAG,
    Row,
    Timing,
    boxwright_cmd,
    debian_rootfs_tar,
    machine,
    report,
    require_tools,
    run,
    section_text,
    small_files_tar,
    umoci_image,
)

START = "<!-- bench_store: start -->"
END = "<!-- bench_store: end -->"
TARGET = 0.8


def base_layout() -> Path:
    """The Debian minbase image as an OCI layout (tag ``bench``), built by umoci, cached."""
    rootfs = debian_rootfs_tar()
    layout = CACHE / f"store-base-{rootfs.stem}"
    if not layout.exists():
        umoci_image(layout, [rootfs])
    return layout


def source_files(workdir: Path, count: int) -> Path:
    """``count`` small files (1-20 KB) under ``workdir/files/app/dNN/``."""
    target = workdir / "files"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            tar = Path(tmp, "small.tar")
            small_files_tar(tar, count)
            partial = workdir / "files.partial"
            shutil.rmtree(partial, ignore_errors=True)
            with tarfile.open(tar) as archive:
                archive.extractall(partial, filter="data")
            partial.rename(target)
    return target


class Tool:
    """One side of the comparison: how to load the base, build once, and clean up."""

    def __init__(self, name: str, prefix: Sequence[str], verbs: dict[str, list[str]]) -> None:
        self.name, self.prefix, self.verbs = name, list(prefix), verbs

    def cmd(self, verb: str, *args: str) -> list[str]:
        return [*self.prefix, *self.verbs[verb], *args]

    def build(self, files: Path, image: str) -> tuple[float, str]:
        """One timed from + copy + commit; returns the seconds and the container name."""
        start = time.perf_counter()
        name = run(self.cmd("from", "localhost/base:latest")).stdout.decode().split()[-1]
        run(self.cmd("copy", name, str(files), "/data"))
        run(self.cmd("commit", name, image))
        return time.perf_counter() - start, name

    def clean(self, container: str, image: str) -> None:
        run(self.cmd("rm", container))
        run(self.cmd("rmi", image))


def tools(workdir: Path) -> tuple[Tool, Tool]:
    bw_root = workdir / "boxwright-root"
    ours = Tool(
        "boxwright",
        [*boxwright_cmd(), "--root", str(bw_root)],
        {
            "from": ["container", "from"],
            "copy": ["container", "copy"],
            "commit": ["container", "commit"],
            "rm": ["container", "rm"],
            "rmi": ["rmi"],
        },
    )
    peer = Tool(
        "buildah",
        [
            "buildah",
            "--root",
            str(workdir / "buildah-root"),
            "--runroot",
            str(workdir / "buildah-run"),
            "--storage-driver",
            "overlay",
        ],
        {
            "from": ["from", "--pull-never"],
            "copy": ["copy", "--quiet"],
            "commit": ["commit", "--quiet"],
            "rm": ["rm"],
            "rmi": ["rmi"],
        },
    )
    return ours, peer


def load_base(ours: Tool, peer: Tool, layout: Path) -> None:
    ref = f"oci:{layout}:{TAG}"
    run([*ours.prefix, "copy", ref, "store:localhost/base:latest"])
    root, runroot = peer.prefix[2], peer.prefix[4]
    storage = f"containers-storage:[overlay@{root}+{runroot}]localhost/base:latest"
    run(["skopeo", "copy", "--quiet", ref, storage])


def bench(args: argparse.Namespace) -> tuple[list[Row], dict[str, str]]:
    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    layout = base_layout()
    files = source_files(workdir, args.files)
    ours, peer = tools(workdir)
    load_base(ours, peer, layout)
    timings = {ours.name: Timing(), peer.name: Timing()}
    try:
        for n in range(args.runs + 1):  # the first round is the warm-up
            for tool in (ours, peer):
                image = f"localhost/bench-out-{n}:latest"
                seconds, container = tool.build(files, image)
                tool.clean(container, image)
                if n:
                    timings[tool.name].samples.append(seconds)
    finally:
        subprocess.run([*peer.prefix, "rm", "--all"], capture_output=True, check=False)
        subprocess.run(["umount", "-R", str(workdir / "buildah-root")], capture_output=True)
    a, b = timings[ours.name], timings[peer.name]
    ratio = a.best / b.best
    rows = [
        Row(
            f"container from + copy {args.files} files + commit / buildah (overlay)",
            f"{a.best:.3f} s (mean {a.mean:.3f})",
            f"{b.best:.3f} s (mean {b.mean:.3f})",
            f"{ratio:.2f}x",
            f"<= {TARGET}x",
            ratio <= TARGET,
        )
    ]
    info = machine()
    info["buildah"] = run(["buildah", "--version"]).stdout.decode().strip()
    info["boxwright driver"] = _driver(workdir / "boxwright-root")
    info["base"] = "Debian bookworm minbase (mmdebstrap), one layer, loaded into both stores"
    info["work directory"] = str(workdir)
    return rows, info


def _driver(root: Path) -> str:
    """The rootfs driver boxwright chose for its containers in this run (from the probe)."""
    import json

    probe = root / "overlay-probe.json"
    if not probe.exists():
        return "copy (no overlay probe recorded)"
    return "overlay" if json.loads(probe.read_text()).get("overlay") else "copy"


def section(rows: list[Row], info: dict[str, str], runs: int, files: int) -> str:
    intro = [
        "Measured by `benchmarks/bench_store.py`: `container from` + `container copy` of "
        f"{files} small files + `container commit`, beside `buildah from`/`copy`/`commit` "
        f"(overlay driver) on the same base, alternating, best of {runs} warm runs:",
        "`python3 benchmarks/bench_store.py --workdir /dev/shm/bench-store --write-docs`.",
    ]
    return section_text((START, END), "Local store: step-by-step build", intro, info, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (best of)")
    parser.add_argument("--files", type=int, default=3000, help="small files copied in")
    parser.add_argument(
        "--workdir", type=Path, default=CACHE / "store-run", help="stores and source files"
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    require_tools("buildah", "umoci", "mmdebstrap")
    rows, info = bench(args)
    return report(section(rows, info, args.runs, args.files), rows, (START, END), args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
