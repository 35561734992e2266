#!/usr/bin/env python3
"""boxwright against skopeo on a loopback registry, side by side in one run (not a test).

The registry is Debian's ``docker-registry`` (CNCF distribution 2.8), started on 127.0.0.1 with
filesystem storage in the work directory by the same helper the tests use
(``tests/boxwright_testing/registry_servers.py``). The image is the foundation benchmark's
three-layer image (Debian minbase rootfs, 3000 small files, a layer of whiteouts and rewrites; see
``bench_foundation.py``) plus a fourth layer of 32 MB of random bytes, so it is about 100 MB
compressed in four gzip layers, all made by umoci.

Best of N warm runs each, alternating boxwright and skopeo so drift hits both equally:

* push: ``copy oci:IMAGE docker://HOST/REPO:bench`` into an empty registry (wiped before
  every run, and boxwright's blob-location cache with it);
* pull: ``copy docker://HOST/REPO:bench oci:DEST`` into a fresh layout;
* no-op: the push again when the registry already holds the image (target < 0.2 s, process
  start included: one manifest check and nothing else);
* mount: the push to a repository of its own when another repository of the registry holds
  every blob and each tool's blob-info cache knows it (the tool pushed there first): every
  blob is mounted, nothing uploaded (the repository is deleted from the storage before
  every run);
* peak RSS (``wait4`` rusage of the one child) of pulling and pushing a 1 GB layer.

boxwright's bytecode is compiled first, as ``pip install`` does: with
``PYTHONDONTWRITEBYTECODE`` set (as on some sandboxes) every module edited since its ``.pyc``
was written would otherwise be compiled again in every timed run (~10 ms on a pull).

``--write-docs`` replaces the "Registry" section of ``docs/performance.md`` (between its
markers), leaving the rest of the page as the foundation benchmark wrote it. Run:
``python3 benchmarks/bench_registry.py --workdir /dev/shm/bench-registry [--write-docs]``.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "tests")]

from bench_foundation import (  # noqa: E402
    CACHE,
    TAG,
    Row,
    Timing,
    _add,
    _Chunks,
    big_image,
    boxwright_cmd,
    fresh,
    machine,
    main_image,
    peak_rss,
    ratio_row,
    report,
    require_tools,
    run,
    section_text,
    side_by_side,
)

from boxwright_testing.registry_servers import RegistryServer, start_registry  # noqa: E402

START = "<!-- bench_registry: start -->"
END = "<!-- bench_registry: end -->"
RANDOM_MB = 32


def registry_image(files: int) -> tuple[Path, str]:
    """The foundation image plus a layer of ``RANDOM_MB`` MB of random bytes (cached)."""
    base, description = main_image(files)
    layout = CACHE / f"{base.name}-registry-{RANDOM_MB}"
    if not layout.exists():
        partial = layout.with_name(layout.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(base, partial)
        tar_path = CACHE / f"random-{RANDOM_MB}.tar"
        rng = random.Random(7)
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, "opt")
            info = tarfile.TarInfo("opt/random.bin")
            info.size, info.mode = RANDOM_MB << 20, 0o644
            tar.addfile(info, io.BufferedReader(_Chunks(info.size, rng.randbytes)))
        run(["umoci", "raw", "add-layer", "--image", f"{partial}:{TAG}", tar_path])
        run(["umoci", "gc", "--layout", partial])
        tar_path.unlink()
        partial.rename(layout)
    size = sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())
    return (
        layout,
        f"{description}; layer 4: {RANDOM_MB} MB of random bytes ({size >> 20} MB in all)",
    )


def _env(cache_home: Path) -> Callable[[], None]:
    """Point boxwright's caches and auth lookups at ``cache_home`` (for this process's children)."""
    os.environ["XDG_CACHE_HOME"] = str(cache_home / "cache")
    os.environ["XDG_RUNTIME_DIR"] = str(cache_home / "runtime")
    os.environ["REGISTRY_AUTH_FILE"] = str(cache_home / "auth.json")
    (cache_home / "runtime").mkdir(parents=True, exist_ok=True)
    (cache_home / "auth.json").write_text('{"auths": {}}')

    def clear_cache() -> None:
        shutil.rmtree(cache_home / "cache", ignore_errors=True)

    return clear_cache


def _both(*steps: Callable[[], None]) -> Callable[[], None]:
    def prepare() -> None:
        for step in steps:
            step()

    return prepare


def _push_cmds(
    bw: list[str], layout: Path, server: RegistryServer, repo: str
) -> tuple[list[str | Path], list[str | Path]]:
    src, dst = f"oci:{layout}:{TAG}", f"docker://{server.host}/{repo}:{TAG}"
    ours: list[str | Path] = [*bw, "copy", "--quiet", "--dest-tls-verify=false", src, dst]
    peer: list[str | Path] = [
        "skopeo",
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        src,
        dst,
    ]
    return ours, peer


def _pull_cmds(
    bw: list[str], server: RegistryServer, repo: str, dest: Path
) -> tuple[list[str | Path], list[str | Path]]:
    src, dst = f"docker://{server.host}/{repo}:{TAG}", f"oci:{dest}:{TAG}"
    ours: list[str | Path] = [*bw, "copy", "--quiet", "--src-tls-verify=false", src, dst]
    peer: list[str | Path] = [
        "skopeo",
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        src,
        dst,
    ]
    return ours, peer


def _best_of(cmd: Sequence[str | Path], runs: int) -> Timing:
    timing = Timing()
    run(cmd)  # warm-up
    for _ in range(runs):
        start = time.perf_counter()
        run(cmd)
        timing.samples.append(time.perf_counter() - start)
    return timing


def bench(args: argparse.Namespace) -> tuple[list[Row], dict[str, str]]:
    bw = boxwright_cmd()
    layout, description = registry_image(args.files)
    work: Path = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    clear_cache = _env(work / "home")
    server = start_registry(work / "registry", "bench")
    rows: list[Row] = []
    try:
        print(f"bench: registry at {server.url}; image: {description}", file=sys.stderr)
        ours, peer = _push_cmds(bw, layout, server, "push")
        a, b = side_by_side(ours, peer, args.runs, _both(server.wipe, clear_cache))
        assert b is not None
        rows.append(ratio_row("push: boxwright copy oci: docker:// / skopeo copy", a, b, 1.0))

        server.wipe()
        run(_push_cmds(bw, layout, server, "pull")[1])  # the peer pushes what both pull
        dest = work / "pulled"
        ours, peer = _pull_cmds(bw, server, "pull", dest)
        a, b = side_by_side(ours, peer, args.runs, _both(fresh(dest), clear_cache))
        assert b is not None
        rows.append(ratio_row("pull: boxwright copy docker:// oci: / skopeo copy", a, b, 1.0))

        ours, peer = _push_cmds(bw, layout, server, "pull")
        noop = _best_of(ours, args.runs)
        peer_noop = _best_of(peer, args.runs)
        rows.append(
            Row(
                "no-op copy: the registry already has the image",
                f"{noop.best:.3f} s (mean {noop.mean:.3f})",
                f"{peer_noop.best:.3f} s (mean {peer_noop.mean:.3f})",
                f"{noop.best / peer_noop.best:.2f}x",
                "< 0.1 s",
                noop.best < 0.1,
            )
        )

        rows.append(_mount_row(bw, layout, server, clear_cache, args.runs))

        if args.big_mb:
            big = big_image(args.big_mb)
            server.wipe()
            clear_cache()
            ours, peer = _push_cmds(bw, big, server, "big")
            push_rss, peer_push_rss = peak_rss(ours), peak_rss(peer, server.wipe)
            big_dest = work / "big-pulled"
            ours, peer = _pull_cmds(bw, server, "big", big_dest)
            pull_rss = peak_rss(ours, fresh(big_dest))
            peer_pull_rss = peak_rss(peer, fresh(big_dest))
            shutil.rmtree(big_dest, ignore_errors=True)
            for what, mine, theirs in (
                ("pull", pull_rss, peer_pull_rss),
                ("push", push_rss, peer_push_rss),
            ):
                rows.append(
                    Row(
                        f"peak RSS: {what} ({args.big_mb} MB layer)",
                        f"{mine >> 20} MB",
                        f"{theirs >> 20} MB",
                        "-",
                        "< 150 MB",
                        mine < 150 << 20,
                    )
                )
    finally:
        server.stop()
    info = machine()
    info["registry"] = _registry_version()
    info["image"] = description
    return rows, info


def _mount_row(
    bw: list[str],
    layout: Path,
    server: RegistryServer,
    clear_cache: Callable[[], None],
    runs: int,
) -> Row:
    """Push into ``mount`` while ``mount-src`` holds every blob and both tools know it."""
    server.wipe()
    clear_cache()
    for cmd in _push_cmds(bw, layout, server, "mount-src"):
        run(cmd)  # each tool's blob-info cache learns where the blobs are
    repository = server.storage / "docker" / "registry" / "v2" / "repositories" / "mount"
    ours, peer = _push_cmds(bw, layout, server, "mount")
    a, b = side_by_side(ours, peer, runs, fresh(repository))
    assert b is not None
    return ratio_row("push, every blob mounted from another repository / skopeo", a, b, 1.0)


def _registry_version() -> str:
    done = subprocess.run(
        ["docker-registry", "--version"], capture_output=True, text=True, check=False
    )
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


def section(rows: list[Row], info: dict[str, str], runs: int) -> str:
    intro = [
        "Measured by `benchmarks/bench_registry.py` against Debian's `docker-registry` on",
        "127.0.0.1 (plain HTTP, filesystem storage on the same disk as the work directory),",
        f"boxwright and skopeo alternating, best of {runs} warm runs after one warm-up:",
        "`python3 benchmarks/bench_registry.py --workdir /dev/shm/bench-registry --write-docs`.",
    ]
    return section_text((START, END), "Registry", intro, info, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (best of)")
    parser.add_argument("--files", type=int, default=3000, help="small files in layer 2")
    parser.add_argument("--big-mb", type=int, default=1024, help="big layer size (0: skip)")
    parser.add_argument(
        "--workdir", type=Path, default=CACHE / "registry-run", help="registry storage and outputs"
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    require_tools("skopeo", "umoci", "docker-registry")
    rows, info = bench(args)
    return report(section(rows, info, args.runs), rows, (START, END), args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
