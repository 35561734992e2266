#!/usr/bin/env python3
"""The containers-storage transport beside skopeo (a benchmark, not a test).

One image with a single layer of ``--mb`` MB (half random, half text-like, gzip-compressed by
umoci; ``bench_foundation.big_image``, cached in ``benchmarks/.cache``) is

* written from its OCI layout into an empty containers-storage store (overlay driver):
  ``boxwright copy oci:… containers-storage:[overlay@ROOT+RUNROOT]…`` against
  ``skopeo copy`` of the same (each layer unpacked, its tar-split record written);
* read back out of a store into a fresh OCI layout, each tool from the store the other wrote
  (each layer rebuilt from its tar-split record and the files, verified, compressed as the
  OCI layout receives it).

Alternating, best of N runs after one warm-up, each run into a fresh store or layout; the peak
resident memory of one boxwright run of each. Run as root (the overlay layout, and skopeo's
overlay driver): ``sudo python3 benchmarks/bench_cstorage.py [--runs 3] [--mb 200]``
``[--workdir /var/tmp/bench-cstorage] [--write-docs]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_foundation import (
    CACHE,
    TAG,
    Row,
    Timing,
    big_image,
    boxwright_cmd,
    machine,
    peak_rss,
    report,
    require_tools,
    run,
    section_text,
    side_by_side,
)

START = "<!-- bench_cstorage: start -->"
END = "<!-- bench_cstorage: end -->"
TARGET = 1.0


def _store(workdir: Path, name: str) -> str:
    root, runroot = workdir / name, workdir / f"{name}-run"
    return f"containers-storage:[overlay@{root}+{runroot}]localhost/big:1"


def _fresh(*paths: Path) -> Callable[[], None]:
    def prepare() -> None:
        for path in paths:
            subprocess.run(["umount", str(path / "overlay")], capture_output=True, check=False)
            shutil.rmtree(path, ignore_errors=True)

    return prepare


def _row(what: str, ours: Timing, peer: Timing, rss: int) -> Row:
    ratio = ours.best / peer.best
    return Row(
        what,
        f"{ours.best:.2f} s (mean {ours.mean:.2f}), peak RSS {rss >> 20} MB",
        f"{peer.best:.2f} s (mean {peer.mean:.2f})",
        f"{ratio:.2f}x",
        f"<= {TARGET}x",
        ratio <= TARGET,
    )


def bench(args: argparse.Namespace) -> tuple[list[Row], dict[str, str]]:
    workdir: Path = args.workdir
    _fresh(workdir)()
    workdir.mkdir(parents=True)
    CACHE.mkdir(exist_ok=True)
    layout = f"oci:{big_image(args.mb)}:{TAG}"
    ours_cmd = [*boxwright_cmd(), "copy", "--quiet"]
    written = _fresh(workdir / "bw", workdir / "bw-run", workdir / "sk", workdir / "sk-run")
    write = side_by_side(
        [*ours_cmd, layout, _store(workdir, "bw")],
        ["skopeo", "copy", "--quiet", layout, _store(workdir, "sk")],
        args.runs,
        written,
    )
    write_rss = peak_rss([*ours_cmd, layout, _store(workdir, "bw")], written)
    run(["skopeo", "copy", "--quiet", layout, _store(workdir, "sk")])
    out_bw, out_sk = workdir / "out-bw", workdir / "out-sk"
    emptied = _fresh(out_bw, out_sk)
    read = side_by_side(
        [*ours_cmd, _store(workdir, "sk"), f"oci:{out_bw}:x"],
        ["skopeo", "copy", "--quiet", _store(workdir, "bw"), f"oci:{out_sk}:x"],
        args.runs,
        emptied,
    )
    read_rss = peak_rss([*ours_cmd, _store(workdir, "sk"), f"oci:{out_bw}:x"], emptied)
    assert write[1] is not None and read[1] is not None
    rows = [
        _row(
            f"write a {args.mb} MB layer into containers-storage / skopeo copy",
            write[0],
            write[1],
            write_rss,
        ),
        _row(
            f"read a {args.mb} MB layer out of containers-storage / skopeo copy",
            read[0],
            read[1],
            read_rss,
        ),
    ]
    written()
    _fresh(workdir)()
    info = machine()
    info["image"] = f"one {args.mb} MB layer (half random, half text), gzip, from umoci"
    info["work directory"] = str(workdir)
    return rows, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool (best of)")
    parser.add_argument("--mb", type=int, default=200, help="the layer's size in MB")
    parser.add_argument(
        "--workdir", type=Path, default=CACHE / "cstorage-run", help="the stores and layouts"
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    require_tools("skopeo", "umoci")
    rows, info = bench(args)
    intro = [
        "Measured by `benchmarks/bench_cstorage.py`: an image of one layer written into an "
        "empty containers-storage store (overlay) and read back out into an OCI layout, "
        f"beside `skopeo copy` of the same, alternating, best of {args.runs} runs:",
        "`python3 benchmarks/bench_cstorage.py --write-docs`. The tar-split CRC-64 of every "
        "file is `fastcrc`'s (see dependencies.md); memory stays flat (the layer is streamed: "
        "blob file → decompress → unpack + tar-split record, and tar-split + files → verify → "
        "compress).",
    ]
    text = section_text((START, END), "containers-storage: write and read", intro, info, rows)
    return report(text, rows, (START, END), args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
