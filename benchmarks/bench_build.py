#!/usr/bin/env python3
"""``boxwright build`` beside ``buildah bud --layers`` on a realistic Containerfile (a benchmark).

The base is the Debian bookworm minbase image of ``bench_store.py`` (mmdebstrap + umoci,
cached in ``benchmarks/.cache``), loaded once into a boxwright store and once into a buildah
store (``--storage-driver overlay``). The Containerfile copies a few thousand small files and
runs steps that write and delete files:

    FROM localhost/base:latest
    ENV APP=/srv/app
    COPY app/ /srv/app/
    RUN mkdir -p /var/cache/gen && for i in $(seq 1 500); do echo $i > /var/cache/gen/f$i; done
    RUN rm -rf /usr/share/doc /var/cache/gen/f1* && echo done > /srv/app/done
    WORKDIR /srv/app
    CMD ["/bin/sh"]

Two figures, best of N warm runs, the tools alternating: the first build (``--no-cache``: every
step runs and is committed) and the cached rebuild of the unchanged context (every step reused).
Targets (issue 6): first build <= 0.8x buildah's wall time, cached rebuild <= 0.3x. Run as root:
``sudo python3 benchmarks/bench_build.py [--runs 3] [--files 3000]``
``[--workdir /dev/shm/bench-build] [--write-docs]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
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
    machine,
    ratio_row,
    report,
    require_tools,
    run,
    section_text,
)
from bench_store import base_layout, source_files

START = "<!-- bench_build: start -->"
END = "<!-- bench_build: end -->"
FIRST_TARGET = 0.8
CACHED_TARGET = 0.3
CONTAINERFILE = """FROM localhost/base:latest
ENV APP=/srv/app
COPY app/ /srv/app/
RUN mkdir -p /var/cache/gen && for i in $(seq 1 500); do echo $i > /var/cache/gen/f$i; done
RUN rm -rf /usr/share/doc /var/cache/gen/f1* && echo done > /srv/app/done
WORKDIR /srv/app
CMD ["/bin/sh"]
"""


def context(workdir: Path, files: int) -> Path:
    """The build context: the Containerfile and ``files`` small files under ``app/``."""
    ctx = workdir / "context"
    if not ctx.exists():
        source = source_files(workdir, files)
        ctx.mkdir()
        shutil.copytree(source, ctx / "app", symlinks=True)
        (ctx / "Containerfile").write_text(CONTAINERFILE)
    return ctx


def commands(workdir: Path) -> tuple[list[str], list[str]]:
    """The build command prefixes: boxwright's and buildah's (overlay driver)."""
    ours = [*boxwright_cmd(), "--root", str(workdir / "boxwright-root"), "build", "-q"]
    peer = [
        "buildah",
        "--root",
        str(workdir / "buildah-root"),
        "--runroot",
        str(workdir / "buildah-run"),
        "--storage-driver",
        "overlay",
        "bud",
        "-q",
        "--layers",
        "--isolation",
        "chroot",
    ]
    return ours, peer


def load_base(workdir: Path, layout: Path) -> None:
    ref = f"oci:{layout}:{TAG}"
    run(
        [
            *boxwright_cmd(),
            "--root",
            str(workdir / "boxwright-root"),
            "copy",
            ref,
            "store:localhost/base:latest",
        ]
    )
    storage = (
        f"containers-storage:[overlay@{workdir / 'buildah-root'}+{workdir / 'buildah-run'}]"
        "localhost/base:latest"
    )
    run(["skopeo", "copy", "--quiet", ref, storage])


def timed(cmd: Sequence[str]) -> float:
    start = time.perf_counter()
    run(cmd)
    return time.perf_counter() - start


def bench(args: argparse.Namespace) -> tuple[list[Row], dict[str, str]]:
    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ctx = context(workdir, args.files)
    load_base(workdir, base_layout())
    ours, peer = commands(workdir)
    first = {"boxwright": Timing(), "buildah": Timing()}
    cached = {"boxwright": Timing(), "buildah": Timing()}
    try:
        for n in range(args.runs + 1):  # the first round is the warm-up
            for name, cmd in (("boxwright", ours), ("buildah", peer)):
                tag = ["-t", f"localhost/bench-build-{n}:latest"]
                seconds = timed([*cmd, "--no-cache", *tag, str(ctx)])
                again = timed([*cmd, *tag, str(ctx)])
                if n:
                    first[name].samples.append(seconds)
                    cached[name].samples.append(again)
    finally:
        buildah = peer[:7]
        subprocess.run([*buildah, "rm", "--all"], capture_output=True, check=False)
        subprocess.run(["umount", "-R", str(workdir / "buildah-root")], capture_output=True)
    rows = [
        ratio_row(
            f"build, first (--no-cache), {args.files} files / buildah bud --layers",
            first["boxwright"],
            first["buildah"],
            FIRST_TARGET,
        ),
        ratio_row(
            "build, cached rebuild of the same context / buildah bud --layers",
            cached["boxwright"],
            cached["buildah"],
            CACHED_TARGET,
        ),
    ]
    info = machine()
    info["buildah"] = run(["buildah", "--version"]).stdout.decode().strip()
    info["base"] = "Debian bookworm minbase (mmdebstrap), one layer, loaded into both stores"
    info["work directory"] = str(workdir)
    return rows, info


def section(rows: list[Row], info: dict[str, str], runs: int, files: int) -> str:
    intro = [
        "Measured by `benchmarks/bench_build.py`: the Containerfile in its docstring (COPY of "
        f"{files} small files, two RUN steps that write and delete files, config steps), "
        "`boxwright build` beside `buildah bud --layers --isolation chroot` (overlay driver) "
        f"on the same Debian base, alternating, best of {runs} warm runs:",
        "`python3 benchmarks/bench_build.py --workdir /dev/shm/bench-build --write-docs`.",
    ]
    return section_text((START, END), "Building a Containerfile", intro, info, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool (best of)")
    parser.add_argument("--files", type=int, default=3000, help="small files copied in")
    parser.add_argument(
        "--workdir", type=Path, default=CACHE / "build-run", help="stores and the context"
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    require_tools("buildah", "umoci", "mmdebstrap", "skopeo")
    rows, info = bench(args)
    return report(section(rows, info, args.runs, args.files), rows, (START, END), args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
