#!/usr/bin/env python3
"""``boxwright explain --files`` on a realistic image, timed (a benchmark, not a test).

The image is the one ``bench_foundation.py`` builds and caches (Debian bookworm minbase from
mmdebstrap, then a few thousand small files, then a layer of whiteouts, rewrites and an
opaque directory: ~250 MB uncompressed, ~12,000 entries); its building functions are reused
by import, so both benchmarks measure the same bytes. The target comes from issue 7:
explaining such an image takes under 3 s on a 2-core machine.

Best of N warm runs of the installed command (output to /dev/null), after one warm-up:
``python3 benchmarks/bench_explain.py [--runs 5] [--files 3000]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_foundation import TAG, boxwright_cmd, main_image, side_by_side

TARGET_SECONDS = 3.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs (best is reported)")
    parser.add_argument("--files", type=int, default=3000, help="small files in layer 2")
    args = parser.parse_args(argv)
    layout, about = main_image(args.files)
    ref = f"oci:{layout}:{TAG}"
    print(f"image: {about}")
    rows = []
    for what, extra in (("explain --files", ["--files"]), ("explain", [])):
        cmd = [*boxwright_cmd(), "explain", *extra, ref]
        timing, _ = side_by_side(cmd, None, args.runs)
        rows.append((what, timing.best, timing.mean))
    cmd = [*boxwright_cmd(), "diff", ref, ref]
    timing, _ = side_by_side(cmd, None, args.runs)
    rows.append(("diff (the image with itself)", timing.best, timing.mean))
    print(f"{'benchmark':32} {'best':>8} {'mean':>8}  target")
    for what, best, mean in rows:
        target = f"< {TARGET_SECONDS:.0f} s: {'yes' if best < TARGET_SECONDS else 'NO'}"
        if not what.startswith("explain --files"):
            target = "-"
        print(f"{what:32} {best:7.3f}s {mean:7.3f}s  {target}")
    return 0 if rows[0][1] < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
