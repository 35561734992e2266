#!/usr/bin/env python3
"""``boxwright build`` beside BuildKit (Docker 20.10) and ``buildah bud``, end to end, on tmpfs
and on a real disk (a benchmark, not a test).

Every figure is the base's import plus the first build, as a user pays them: docker unpacks
the base on ``docker load``, buildah on ``skopeo copy`` into containers-storage, boxwright when
a build first uses it (its ``copy`` into the store only moves blobs). Then the cached rebuild
of the unchanged context. The Containerfile (``CONTAINERFILE``) copies ~2,400 small files,
runs a step writing 2,000 files and one deleting directories. The base is the Debian bookworm
minbase image of ``bench_store.py``.

BuildKit is Debian's ``docker.io`` (``apt-get install docker.io``; checked, never installed
here): a private ``dockerd`` on its own socket, data root and exec root under the work
directory, started and stopped by the benchmark (``--iptables=false --bridge=none``), driven
by ``DOCKER_BUILDKIT=1 docker build --network host``. buildah runs ``bud --layers --isolation
chroot`` on the overlay driver. Each tool starts every run from an empty store (docker: images
a fresh daemon on an empty data root), the three alternating; the figures are medians. A round
gives each tool a new store directory (and BuildKit a new data root) that nothing was ever
deleted from, and syncs before its runs; the stores are deleted after the last round. On
ext4 without a journal the inode allocator skips every inode freed in the last minute, six
while its inode-table block is dirty (and a new run's creates dirty it), one lookup each on
every create: a store emptied before a run charged that run for the deletion, more with
every round (docs/performance.md). ``--settle SECONDS`` waits that long after the sync.

Targets: import + first build <= 0.8x BuildKit on disk and <= 0.6x on tmpfs, cached rebuild
<= 0.5x BuildKit, first build <= 0.8x buildah. Run as root:
``sudo python3 benchmarks/bench_buildkit.py [--runs 3] [--where disk,tmpfs]``
``[--disk-dir /var/tmp/bench-buildkit] [--tmpfs-dir /dev/shm/bench-buildkit] [--write-docs]``.

``--strace`` profiles boxwright alone instead: one import + first build under ``strace -f``,
split into phases (the import, each STEP, each snapshot made, each working container made
and used, each commit) by the calls that start them, with the count of each file-system call
and the bytes read and written; the counts do not depend on the machine's load, so they
compare code, not moments.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import statistics
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
    boxwright_cmd,
    fresh_bytecode,
    machine,
    require_tools,
    run,
    section_text,
    settle,
)
from bench_foundation import report as report_section
from bench_store import base_layout, source_files

START = "<!-- bench_buildkit: start -->"
END = "<!-- bench_buildkit: end -->"
FILES = 2400
CONTAINERFILE = """FROM localhost/base:latest
ENV APP=/srv/app
COPY app/ /srv/app/
RUN mkdir -p /var/cache/gen && for i in $(seq 1 2000); do echo $i > /var/cache/gen/f$i; done
RUN rm -rf /usr/share/doc /usr/share/man /var/cache/gen/f1* && echo done > /srv/app/done
WORKDIR /srv/app
CMD ["/bin/sh"]
"""
TARGETS = {"disk": 0.8, "tmpfs": 0.6}
CACHED_TARGET = 0.5
BUILDAH_TARGET = 0.8
DOCKER = "/usr/bin/docker"  # Debian's client, whatever else is first on PATH


def context(workdir: Path) -> Path:
    """The build context: the Containerfile and ``FILES`` small files under ``app/``."""
    ctx = workdir / "context"
    if not ctx.exists():
        source = source_files(workdir, FILES)
        partial = workdir / "context.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        shutil.copytree(source, partial / "app", symlinks=True)
        (partial / "Containerfile").write_text(CONTAINERFILE)
        partial.rename(ctx)
    return ctx


def docker_archive(layout: Path) -> Path:
    """The base as a ``docker load`` archive named localhost/base:latest (cached)."""
    archive = CACHE / f"{layout.name}.docker.tar"
    if not archive.exists():
        partial = archive.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        run(
            [
                "skopeo",
                "copy",
                "--quiet",
                f"oci:{layout}:{TAG}",
                f"docker-archive:{partial}:localhost/base:latest",
            ]
        )
        partial.rename(archive)
    return archive


class Dockerd:
    """A private dockerd under ``home`` (data root, exec root, socket), stopped on exit."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.sock = home / "docker.sock"
        self.data = home / "data"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Dockerd:
        self.start()
        return self

    def start(self) -> None:
        """Start the daemon and wait until it answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.home / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root",
                str(self.data),
                "--exec-root",
                str(self.home / "exec"),
                "--pidfile",
                str(self.home / "dockerd.pid"),
                "-H",
                f"unix://{self.sock}",
                "--iptables=false",
                "--bridge=none",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while subprocess.run([*self.cli(), "info"], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"bench: dockerd did not start; see {self.home / 'dockerd.log'}")
            time.sleep(0.2)

    def cli(self) -> list[str]:
        return [DOCKER, "-H", f"unix://{self.sock}"]

    def fresh(self, data: Path) -> None:
        """A fresh daemon on the new, empty data root ``data``: no images, no build cache,
        nothing an earlier round left in the daemon's databases."""
        self.stop()
        self.data = data
        self.start()

    def remove_data(self) -> None:
        """Stop the daemon and delete every data root it had."""
        self.stop()
        for data in self.home.glob("data*"):
            subprocess.run(["umount", "-R", str(data)], capture_output=True)
            shutil.rmtree(data, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """End the daemon (SIGTERM, then SIGKILL after a minute)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Tools:
    """The three builders in one work directory: how to start from an empty store, import,
    build."""

    def __init__(self, workdir: Path, ctx: Path, layout: Path, archive: Path, docker: Dockerd):
        self.workdir, self.ctx, self.layout, self.archive = workdir, ctx, layout, archive
        self.docker = docker
        self.stores: list[Path] = []
        self.round(0)

    def round(self, n: int) -> None:
        """Give every tool a new, empty store for round ``n``; earlier rounds' stay until
        :meth:`remove` (a deletion right before a run would charge the run for it: the
        module's docstring)."""
        self.bw_root = self.workdir / f"boxwright-root-{n}"
        self.bh_root = self.workdir / f"buildah-root-{n}"
        self.bh_run = self.workdir / f"buildah-run-{n}"
        self.stores += [self.bw_root, self.bh_root, self.bh_run]

    def boxwright(self) -> tuple[list[list[str]], list[str]]:
        base = [*boxwright_cmd(), "--root", str(self.bw_root)]
        load = [*base, "copy", "-q", f"oci:{self.layout}:{TAG}", "store:localhost/base:latest"]
        return [load], [*base, "build", "-q", "-t", "localhost/app:latest", str(self.ctx)]

    def buildah(self) -> tuple[list[list[str]], list[str]]:
        storage = f"overlay@{self.bh_root}+{self.bh_run}"
        load = [
            "skopeo",
            "copy",
            "--quiet",
            f"oci:{self.layout}:{TAG}",
            f"containers-storage:[{storage}]localhost/base:latest",
        ]
        bud = [
            "buildah",
            "--root",
            str(self.bh_root),
            "--runroot",
            str(self.bh_run),
            "--storage-driver",
            "overlay",
            "bud",
            "-q",
            "--layers",
            "--isolation",
            "chroot",
            "-t",
            "localhost/app:latest",
            str(self.ctx),
        ]
        return [load], bud

    def buildkit(self) -> tuple[list[list[str]], list[str]]:
        cli = self.docker.cli()
        load = [*cli, "load", "-q", "-i", str(self.archive)]
        build = [*cli, "build", "-q", "--network", "host", "-t", "app:latest"]
        return [load], [*build, "-f", str(self.ctx / "Containerfile"), str(self.ctx)]

    def remove(self) -> None:
        """Delete every round's stores (buildah's mounts first) and the daemon's data."""
        for path in self.stores:
            subprocess.run(["umount", "-R", str(path)], capture_output=True)
            shutil.rmtree(path, ignore_errors=True)
        self.docker.remove_data()


def timed(cmds: Sequence[Sequence[str]]) -> float:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    start = time.perf_counter()
    for cmd in cmds:
        run(cmd, env=env)
    return time.perf_counter() - start


TOOLS = ("boxwright", "buildkit", "buildah")


def timed_pair(tools: Tools, name: str, label: str) -> tuple[float, float]:
    """``name``'s import + first build and its cached rebuild, in the stores of round
    ``label``. A failed BuildKit build is run once more from a new data root: Docker 20.10's
    BuildKit failed twice in this machine's runs, in the COPY of the context it had just
    received (``failed to open source`` or ``failed to chown``: ``no such file or
    directory``), which says nothing about its speed. Any other failure ends the benchmark."""
    for attempt in range(2):
        load, build = getattr(tools, name)()
        try:
            return timed([*load, build]), timed([build])
        except SystemExit as failure:
            if name != "buildkit" or attempt:
                raise
            print(f"bench: {failure}\nbench: BuildKit once more", file=sys.stderr)
            tools.docker.fresh(tools.workdir / "docker" / f"data-{label}-again")
    raise AssertionError("unreachable")


def bench_place(
    where: str, workdir: Path, runs: int, settle_seconds: float = 0.0
) -> dict[str, dict[str, list[float]]]:
    """Median-ready samples of each tool in ``workdir``: import + first build, cached."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ctx = context(workdir)
    layout = base_layout()
    archive = docker_archive(layout)
    samples: dict[str, dict[str, list[float]]] = collections.defaultdict(
        lambda: {"first": [], "cached": []}
    )
    with Dockerd(workdir / "docker") as docker:
        tools = Tools(workdir, ctx, layout, archive, docker)
        try:
            for n in range(runs + 1):  # the first round is the warm-up
                tools.round(n)
                docker.fresh(workdir / "docker" / f"data-{n}")
                settle(settle_seconds)
                for name in TOOLS:
                    first, cached = timed_pair(tools, name, f"{n}")
                    print(
                        f"bench: {where} run {n} {name}: first {first:.2f} s, "
                        f"cached {cached:.2f} s",
                        file=sys.stderr,
                    )
                    if n:
                        samples[name]["first"].append(first)
                        samples[name]["cached"].append(cached)
        finally:
            tools.remove()
    return samples


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})"


def rows_for(where: str, samples: dict[str, dict[str, list[float]]]) -> list[Row]:
    ours, kit, bah = samples["boxwright"], samples["buildkit"], samples["buildah"]

    def row(what: str, a: list[float], b: list[float], limit: float) -> Row:
        ratio = statistics.median(a) / statistics.median(b)
        return Row(what, _median(a), _median(b), f"{ratio:.2f}x", f"<= {limit}x", ratio <= limit)

    return [
        row(
            f"{where}: import + first build / BuildKit", ours["first"], kit["first"], TARGETS[where]
        ),
        row(f"{where}: cached rebuild / BuildKit", ours["cached"], kit["cached"], CACHED_TARGET),
        row(
            f"{where}: import + first build / buildah", ours["first"], bah["first"], BUILDAH_TARGET
        ),
        row(f"{where}: cached rebuild / buildah", ours["cached"], bah["cached"], CACHED_TARGET),
    ]


# --------------------------------------------------------------------------- syscall profile

_CALL = re.compile(r"^(\d+)\s+(\w+)\((.*)$")
_RESULT = re.compile(r"\)\s+=\s+(-?\d+)")
_SNAPSHOT = re.compile(r'/tmp/snapshot-[^/"]*"')  # mkdtemp: a snapshot is being made
_CONTAINER = re.compile(r'/containers/[0-9a-f]{64}"')  # a working container's directory
_COMMIT = re.compile(r'/tmp/commit-[^/"]*"')
_STEP = re.compile(r'[12], "(STEP \d+/\d+: [^"\\]{0,48})')
PROFILED = (
    "openat",
    "read",
    "write",
    "close",
    "newfstatat",
    "utimensat",
    "fchmod",
    "fchown",
    "unlinkat",
    "mkdirat",
    "mknodat",
    "rename",
    "fsync",
)


class Profile:
    """Syscall counts and bytes per phase of one ``strace -f`` log (module docstring)."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.counts: dict[str, collections.Counter[str]] = {}
        self.bytes: dict[str, list[int]] = {}

    def start(self, phase: str) -> str:
        if phase in self.counts:
            phase = f"{phase} ({sum(p.startswith(phase) for p in self.order) + 1})"
        self.order.append(phase)
        self.counts[phase] = collections.Counter()
        self.bytes[phase] = [0, 0]
        return phase

    def read_log(self, path: Path, first: str) -> None:
        phase = self.start(first)
        step = first
        for line in path.read_text(errors="replace").splitlines():
            match = _CALL.match(line)
            if match is None or "resumed>" in line:
                continue
            _, name, rest = match.groups()
            if name == "write" and (found := _STEP.match(rest)):
                step = found.group(1).strip()
                phase = self.start(step)
            elif name in ("mkdir", "mkdirat") and _SNAPSHOT.search(rest):
                phase = self.start(f"{step}: snapshot")
            elif name in ("mkdir", "mkdirat") and _CONTAINER.search(rest):
                phase = self.start(f"{step}: container made, step runs")
            elif name in ("mkdir", "mkdirat") and _COMMIT.search(rest):
                phase = self.start(f"{step}: commit")
            name = {"mkdir": "mkdirat", "unlink": "unlinkat", "renameat2": "rename"}.get(name, name)
            name = "fsync" if name in ("fdatasync", "syncfs") else name
            self.counts[phase][name] += 1
            result = _RESULT.search(rest)
            if result is not None and int(result.group(1)) > 0:
                if name in ("read", "pread64", "readv"):
                    self.bytes[phase][0] += int(result.group(1))
                elif name in ("write", "pwrite64", "writev", "copy_file_range"):
                    self.bytes[phase][1] += int(result.group(1))

    def table(self) -> str:
        head = ["phase", "all calls", *PROFILED, "MB read", "MB written"]
        lines = [f"| {' | '.join(head)} |", f"|{'|'.join(' --- ' for _ in head)}|"]
        total: collections.Counter[str] = collections.Counter()
        moved = [0, 0]
        for phase in self.order:
            counts, (read, written) = self.counts[phase], self.bytes[phase]
            total.update(counts)
            moved = [moved[0] + read, moved[1] + written]
            cells = [str(counts[name]) for name in PROFILED]
            row = [phase.replace("|", "/"), str(sum(counts.values())), *cells]
            lines.append(f"| {' | '.join([*row, f'{read / 1e6:.1f}', f'{written / 1e6:.1f}'])} |")
        cells = [str(total[name]) for name in PROFILED]
        sums = [f"{moved[0] / 1e6:.1f}", f"{moved[1] / 1e6:.1f}"]
        lines.append(f"| **all** | {sum(total.values())} | {' | '.join([*cells, *sums])} |")
        return "\n".join(lines)


def strace_profile(workdir: Path) -> str:
    """The per-phase table of one boxwright import + first build in ``workdir``."""
    require_tools("strace")
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = context(workdir)
    tools = Tools(workdir, ctx, base_layout(), Path(), Dockerd(workdir / "docker"))
    shutil.rmtree(tools.bw_root, ignore_errors=True)
    load, build = tools.boxwright()
    profile = Profile()
    for label, cmd in (("import (copy into the store)", load[0]), ("build", build)):
        log = workdir / "strace.log"
        cmd = [c for c in cmd if c != "-q"]  # the STEP lines mark the phases
        run(["strace", "-f", "-s", "64", "-o", str(log), *cmd])
        profile.read_log(log, label)
        log.unlink()
    shutil.rmtree(tools.bw_root, ignore_errors=True)
    return profile.table()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool (median of)")
    parser.add_argument("--where", default="disk,tmpfs", help="disk, tmpfs or both")
    parser.add_argument("--disk-dir", type=Path, default=CACHE / "buildkit-run")
    parser.add_argument("--tmpfs-dir", type=Path, default=Path("/dev/shm/bench-buildkit"))
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds each round waits after its sync",
    )
    parser.add_argument("--strace", action="store_true", help="profile boxwright's syscalls")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    # a SIGTERM unwinds like an error, so the private dockerd is stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    places = {"disk": args.disk_dir, "tmpfs": args.tmpfs_dir}
    wanted = [w for w in args.where.split(",") if w]
    if args.strace:
        for where in wanted:
            print(f"{where} ({places[where]}):\n\n{strace_profile(places[where])}\n")
        return 0
    require_tools("dockerd", "buildah", "umoci", "mmdebstrap", "skopeo")
    if not Path(DOCKER).exists():
        sys.exit(f"bench: {DOCKER} is missing: apt-get install docker.io")
    fresh_bytecode()
    rows: list[Row] = []
    for where in wanted:
        rows += rows_for(where, bench_place(where, places[where], args.runs, args.settle))
    info = machine()
    info["buildah"] = run(["buildah", "--version"]).stdout.decode().strip()
    info["docker"] = run(["dockerd", "--version"]).stdout.decode().strip()
    info["load average at the end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    info["work directories"] = ", ".join(f"{w}: {places[w]}" for w in wanted)
    intro = [
        "Measured by `benchmarks/bench_buildkit.py`: the base's import plus the first build "
        f"of its Containerfile (COPY of {FILES} files, a RUN writing 2,000 files, a RUN "
        "deleting directories), then the cached rebuild; boxwright beside BuildKit (a private "
        "Docker 20.10 daemon, `DOCKER_BUILDKIT=1`) and `buildah bud --layers`, each from an "
        f"empty store, alternating, median of {args.runs} runs (all runs in brackets):",
        "`sudo python3 benchmarks/bench_buildkit.py --write-docs`.",
    ]
    text = section_text(
        (START, END), "Building beside BuildKit, on disk and on tmpfs", intro, info, rows
    )
    return report_section(text, rows, (START, END), args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
