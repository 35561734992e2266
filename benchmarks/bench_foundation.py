#!/usr/bin/env python3
"""boxwright against umoci and skopeo, side by side in one run (a benchmark, not a test).

It builds a realistic three-layer OCI image with the peers' own tools, so nothing of boxwright's
is involved in making what it is measured on:

1. a Debian rootfs: ``mmdebstrap --variant=minbase bookworm`` (cached in ``benchmarks/.cache``,
   one tarball per day);
2. a few thousand small files (1-20 KB, text-like, in several directories);
3. a layer that deletes some of them (whiteouts), replaces a directory (opaque whiteout) and
   modifies others;

appended with ``umoci raw add-layer`` (gzip, as umoci writes it). A second image with one big
layer (half random, half compressible; 1 GB by default) measures peak memory.

Then, best of N warm runs each, alternating tool and peer so drift hits both equally:

* ``boxwright unpack --bundle`` vs ``umoci unpack`` (both write a runtime bundle);
* ``boxwright copy oci:A oci:B`` vs ``skopeo copy oci:A oci:B`` (fresh destination each run);
* ``boxwright --help`` and ``boxwright inspect`` start-up, with ``skopeo inspect`` for scale;
* peak RSS (``wait4`` rusage of that one child) of unpack and copy of the big image.

It prints a table with ratios and targets, and with ``--write-docs`` rewrites
``docs/performance.md``. Run as root (umoci unpack keeps ownership only as root, mmdebstrap
needs it): ``sudo python3 benchmarks/bench_foundation.py [--runs 5] [--write-docs]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache"
TAG = "bench"
EPOCH = 1_700_000_000
VOCABULARY = (
    "container image layer digest manifest index config rootfs whiteout opaque tar gzip zstd "
    "blob descriptor platform registry copy unpack repack inspect history label env cmd user "
    "the of and to in is for on with as by at from that this be are or an it not"
)
WORDS = VOCABULARY.split()


# --------------------------------------------------------------------------- building images


def run(cmd: Sequence[str | Path], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """Run a command, failing loudly with its stderr."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        sys.exit(
            f"bench: {' '.join(map(str, cmd))} failed:\n{done.stderr.decode(errors='replace')}"
        )
    return done  # type: ignore[no-any-return]


def debian_rootfs_tar() -> Path:
    """A minbase bookworm rootfs tarball from mmdebstrap, cached for the day."""
    CACHE.mkdir(exist_ok=True)
    today = CACHE / f"bookworm-minbase-{dt.date.today():%Y%m%d}.tar"
    if today.exists():
        return today
    for old in CACHE.glob("bookworm-minbase-*.tar"):
        old.unlink()
    print(f"bench: mmdebstrap --variant=minbase bookworm {today.name} ...", file=sys.stderr)
    partial = today.with_suffix(".partial.tar")
    run(["mmdebstrap", "--variant=minbase", "bookworm", partial], stdin=subprocess.DEVNULL)
    partial.rename(today)
    return today


def _text(rng: random.Random, size: int) -> bytes:
    """Text-like bytes (compressible about 3:1, like source files and configs)."""
    out = bytearray()
    while len(out) < size:
        out += (" ".join(rng.choices(WORDS, k=12)) + f" {rng.randrange(10**6)}\n").encode()
    return bytes(out[:size])


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid = EPOCH, 0, 0
    if data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    else:
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))


def small_files_tar(path: Path, count: int, dirs: int = 30) -> list[str]:
    """``count`` files of 1-20 KB under ``app/dNN/``; returns their names."""
    rng = random.Random(1)
    names: list[str] = []
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "app")
        for d in range(dirs):
            _add(tar, f"app/d{d:02}")
        for n in range(count):
            name = f"app/d{n % dirs:02}/f{n:05}.txt"
            _add(tar, name, _text(rng, rng.randint(1024, 20 * 1024)))
            names.append(name)
    return names


def update_tar(path: Path, names: list[str], dirs: int = 30) -> tuple[int, int]:
    """Delete every 10th file, rewrite every 7th, replace the last directory (opaque)."""
    rng = random.Random(2)
    deleted = modified = 0
    opaque = f"app/d{dirs - 1:02}"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            if name.startswith(opaque + "/"):
                continue
            parent, _, base = name.rpartition("/")
            if int(base[1:6]) % 10 == 0:
                _add(tar, f"{parent}/.wh.{base}", b"")
                deleted += 1
            elif int(base[1:6]) % 7 == 0:
                _add(tar, name, _text(rng, rng.randint(1024, 20 * 1024)))
                modified += 1
        _add(tar, opaque)
        _add(tar, f"{opaque}/.wh..wh..opq", b"")
        for n in range(20):
            _add(tar, f"{opaque}/new{n:02}.txt", _text(rng, 4096))
    return deleted, modified


class _Chunks(io.RawIOBase):
    """A read-only stream of ``size`` bytes made by ``make(n)``, never held whole."""

    def __init__(self, size: int, make: Callable[[int], bytes]) -> None:
        self.left, self.make = size, make

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left, 1 << 20)
        if n <= 0:
            return 0
        buffer[:n] = self.make(n)
        self.left -= n
        return n


def big_tar(path: Path, total_mb: int) -> None:
    """One layer of ``total_mb`` MB: 128 MB files, alternately random and text-like."""
    rng = random.Random(3)
    piece = 128 if total_mb >= 256 else max(1, total_mb // 2)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "data")
        for n in range(max(1, total_mb // piece)):
            size = piece << 20
            make: Callable[[int], bytes] = os.urandom if n % 2 == 0 else (lambda k: _text(rng, k))
            info = tarfile.TarInfo(f"data/{'random' if n % 2 == 0 else 'text'}-{n:02}.bin")
            info.size, info.mtime, info.mode = size, EPOCH, 0o644
            tar.addfile(info, io.BufferedReader(_Chunks(size, make)))


def umoci_image(layout: Path, tars: list[Path]) -> None:
    """An OCI layout at ``layout`` with tag ``bench`` made of ``tars``, by umoci alone."""
    partial = layout.with_name(layout.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    run(["umoci", "init", "--layout", partial])
    run(["umoci", "new", "--image", f"{partial}:{TAG}"])
    run(["umoci", "config", "--image", f"{partial}:{TAG}", "--config.cmd", "/bin/sh"])
    for n, tar in enumerate(tars, 1):
        run(
            [
                "umoci",
                "raw",
                "add-layer",
                "--image",
                f"{partial}:{TAG}",
                "--history.created_by",
                f"bench layer {n}: {tar.name}",
                tar,
            ]
        )
    run(["umoci", "gc", "--layout", partial])
    partial.rename(layout)


def main_image(files: int) -> tuple[Path, str]:
    rootfs = debian_rootfs_tar()
    layout = CACHE / f"image-{rootfs.stem}-{files}"
    info = layout.with_suffix(".txt")
    if not layout.exists():
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            small, update = Path(tmp, "small.tar"), Path(tmp, "update.tar")
            names = small_files_tar(small, files)
            deleted, modified = update_tar(update, names)
            umoci_image(layout, [rootfs, small, update])
        info.write_text(
            f"layer 1: Debian bookworm minbase rootfs (mmdebstrap, {rootfs.stat().st_size >> 20}"
            f" MB tar); layer 2: {files} files of 1-20 KB in 30 directories; layer 3: "
            f"{deleted} deleted (whiteouts), {modified} rewritten, one directory replaced "
            "(opaque whiteout) by 20 new files"
        )
    return layout, info.read_text()


def big_image(total_mb: int) -> Path:
    layout = CACHE / f"image-big-{total_mb}"
    if not layout.exists():
        print(f"bench: building the {total_mb} MB layer image ...", file=sys.stderr)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            tar = Path(tmp, "big.tar")
            big_tar(tar, total_mb)
            umoci_image(layout, [tar])
    return layout


# --------------------------------------------------------------------------- measuring


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples)


def timed(cmd: Sequence[str | Path], prepare: Callable[[], None] | None) -> float:
    if prepare is not None:
        prepare()
    start = time.perf_counter()
    run(cmd)
    return time.perf_counter() - start


def side_by_side(
    ours: Sequence[str | Path],
    peer: Sequence[str | Path] | None,
    runs: int,
    prepare: Callable[[], None] | None = None,
) -> tuple[Timing, Timing | None]:
    """One warm-up each, then ``runs`` alternating runs of ours and the peer's."""
    a, b = Timing(), Timing() if peer is not None else None
    timed(ours, prepare)
    if peer is not None:
        timed(peer, prepare)
    for _ in range(runs):
        a.samples.append(timed(ours, prepare))
        if peer is not None and b is not None:
            b.samples.append(timed(peer, prepare))
    return a, b


def peak_rss(cmd: Sequence[str | Path], prepare: Callable[[], None] | None = None) -> int:
    """Peak resident memory in bytes of one run of ``cmd`` (its own rusage, via wait4)."""
    if prepare is not None:
        prepare()
    child = subprocess.Popen(
        [str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed:\n{error}")
    return usage.ru_maxrss * 1024


#: ``installed`` runs the ``boxwright`` script of the running interpreter's environment as it
#: is, site hooks included; the default runs boxwright as a venv (``pipx install``) would.
INTERPRETER = os.environ.get("BOXWRIGHT_BENCH_INTERPRETER", "venv")


def fresh_bytecode() -> None:
    """Compile boxwright's modules as an install leaves them: an editable checkout under
    ``PYTHONDONTWRITEBYTECODE=1`` (this environment) would otherwise compile every module from
    source on every run, which no installed copy does."""
    import compileall

    global _COMPILED
    if not _COMPILED:
        if not compileall.compile_dir(REPO / "src" / "boxwright", quiet=1):
            print("bench: some of boxwright's sources do not compile (see above)", file=sys.stderr)
        _COMPILED = True


_COMPILED = False


def boxwright_cmd() -> list[str]:
    """The command that starts boxwright, its bytecode compiled (:func:`fresh_bytecode`): by
    default from a venv made here (see ``bench_venv``)."""
    fresh_bytecode()
    if INTERPRETER == "venv":
        return [str(bench_venv() / "bin" / "boxwright")]
    beside = Path(sys.executable).parent / "boxwright"
    found = str(beside) if beside.exists() else shutil.which("boxwright")
    return [found] if found else [sys.executable, "-m", "boxwright"]


def bench_venv() -> Path:
    """A venv of this interpreter with boxwright's sources and installed dependencies on its path.

    A user's ``pipx install boxwright`` gets a venv whose ``site`` processes only its own
    ``.pth`` files; the interpreter running the benchmark may carry ``.pth`` files of its
    environment that import modules at every start (here, a sandbox hook importing certifi,
    ~30 ms). The venv reaches the same packages through plain path lines, so no hook runs,
    and ``PYTHONPATH`` still puts a worktree's ``src`` first.
    """
    import sysconfig
    import venv

    home = CACHE / f"venv-{platform.python_version()}"
    script = home / "bin" / "boxwright"
    if not script.exists():
        venv.create(home, with_pip=False, symlinks=True, clear=True)
        purelib = Path(
            sysconfig.get_path("purelib", vars={"base": str(home), "platbase": str(home)})
        )
        paths = [str(REPO / "src"), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
        (purelib / "boxwright-bench.pth").write_text("\n".join(dict.fromkeys(paths)) + "\n")
        script.write_text(
            f"#!{home / 'bin' / 'python3'}\n"
            "import sys\n"
            "from boxwright.cli.main import main\n"
            "if __name__ == '__main__':\n"
            "    sys.exit(main())\n"
        )
        script.chmod(0o755)
    return home


def fresh(path: Path) -> Callable[[], None]:
    def prepare() -> None:
        if path.exists():
            shutil.rmtree(path)

    return prepare


@dataclass
class Row:
    what: str
    ours: str
    peer: str
    ratio: str
    target: str
    ok: bool | None


SETTLE_SECONDS = 61.0
"""How long a round waits after emptying the stores: on ext4 without a journal (this VM's
disk) the inode allocator skips, one lookup each, every inode freed in the last 60 s (six
minutes while its inode-table block is dirty) on every create, so a store deleted just before
a build charges that build for the deletion, more with every round (docs/performance.md)."""


def settle(seconds: float) -> None:
    """Write back what the stores' deletion left dirty, then let its freed inodes age, so the
    next run is charged neither (every tool's round starts from the same settled disk)."""
    os.sync()
    time.sleep(seconds)
    os.sync()


def ratio_row(what: str, a: Timing, b: Timing, limit: float) -> Row:
    ratio = a.best / b.best
    return Row(
        what,
        f"{a.best:.3f} s (mean {a.mean:.3f})",
        f"{b.best:.3f} s (mean {b.mean:.3f})",
        f"{ratio:.2f}x",
        f"<= {limit}x",
        ratio <= limit,
    )


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    versions = {
        tool: run([tool, "--version"]).stdout.decode().strip().splitlines()[0]
        for tool in ("umoci", "skopeo")
    }
    import boxwright

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} x {cpu}",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "boxwright": boxwright.__version__,
        "interpreter": (
            "a venv of this python without the environment's site hooks (bench_venv)"
            if INTERPRETER == "venv"
            else "the environment's own, site hooks included"
        ),
        **versions,
    }


def bench(args: argparse.Namespace) -> tuple[list[Row], dict[str, str]]:
    bw = boxwright_cmd()
    layout, description = main_image(args.files)
    ref = f"oci:{layout}:{TAG}"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        out_dir = Path(tmp, "out")
        out = str(out_dir)
        if "unpack" in args.only:
            a, b = side_by_side(
                [*bw, "unpack", "--bundle", ref, out],
                ["umoci", "unpack", "--image", f"{layout}:{TAG}", out],
                args.runs,
                fresh(out_dir),
            )
            assert b is not None
            rows.append(ratio_row("unpack: boxwright unpack --bundle / umoci unpack", a, b, 0.25))
        if "copy" in args.only:
            a, b = side_by_side(
                [*bw, "copy", ref, f"oci:{out}:{TAG}"],
                ["skopeo", "copy", "-q", ref, f"oci:{out}:{TAG}"],
                args.runs,
                fresh(out_dir),
            )
            assert b is not None
            rows.append(ratio_row("copy oci: to oci: / skopeo copy", a, b, 0.8))
        if "startup" in args.only:
            for what, cmd, peer in (
                ("boxwright --help", [*bw, "--help"], None),
                (
                    "boxwright inspect (skopeo inspect for scale)",
                    [*bw, "inspect", ref],
                    ["skopeo", "inspect", ref],
                ),
            ):
                a, b = side_by_side(cmd, peer, args.runs)
                peer_text = f"{b.best:.3f} s" if b is not None else "-"
                rows.append(
                    Row(
                        what,
                        f"{a.best * 1000:.0f} ms (mean {a.mean * 1000:.0f})",
                        peer_text,
                        "-",
                        "< 150 ms",
                        a.best < 0.150,
                    )
                )
        if "memory" in args.only and args.big_mb > 0:
            big = big_image(args.big_mb)
            big_ref = f"oci:{big}:{TAG}"
            for what, cmd, peer in (
                (
                    "peak RSS: unpack",
                    [*bw, "unpack", "--bundle", big_ref, out],
                    ["umoci", "unpack", "--image", f"{big}:{TAG}", out],
                ),
                (
                    "peak RSS: copy",
                    [*bw, "copy", big_ref, f"oci:{out}:{TAG}"],
                    ["skopeo", "copy", "-q", big_ref, f"oci:{out}:{TAG}"],
                ),
            ):
                ours = peak_rss(cmd, fresh(out_dir))
                theirs = peak_rss(peer, fresh(out_dir))
                rows.append(
                    Row(
                        f"{what} ({args.big_mb} MB layer)",
                        f"{ours >> 20} MB",
                        f"{theirs >> 20} MB",
                        "-",
                        "< 150 MB",
                        ours < 150 << 20,
                    )
                )
    info = machine()
    info["image"] = description
    info["runs"] = f"best of {args.runs} warm runs (after one warm-up), alternating with the peer"
    return rows, info


# --------------------------------------------------------------------------- reporting


def table(rows: list[Row]) -> str:
    head = ("benchmark", "boxwright", "peer", "ratio", "target", "met")
    body = [
        (
            r.what,
            r.ours,
            r.peer,
            r.ratio,
            r.target,
            "-" if r.ok is None else ("yes" if r.ok else "NO"),
        )
        for r in rows
    ]
    lines = [f"| {' | '.join(head)} |", f"|{'|'.join(' --- ' for _ in head)}|"]
    lines += [f"| {' | '.join(row)} |" for row in body]
    return "\n".join(lines)


def require_tools(*tools: str) -> None:
    """Exit with one clear line when a peer tool the benchmark needs is not installed."""
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is not installed (scripts/install-test-deps)")


def section_text(
    markers: tuple[str, str],
    title: str,
    intro: Sequence[str],
    info: dict[str, str],
    rows: list[Row],
) -> str:
    """A docs/performance.md section between ``markers``: heading, how it was measured, the
    machine facts and the table."""
    start, end = markers
    lines = [
        start,
        f"## {title}",
        "",
        *intro,
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        table(rows),
        end,
    ]
    return "\n".join(lines) + "\n"


def report(text: str, rows: list[Row], markers: tuple[str, str], write_docs: bool) -> int:
    """Print a section, write it into docs/performance.md when asked; 0 when every target
    with one was met, else 1."""
    print(text)
    if write_docs:
        print(f"bench: wrote {replace_section(text, *markers)}", file=sys.stderr)
    return 0 if all(row.ok is not False for row in rows) else 1


def replace_section(text: str, start: str, end: str) -> Path:
    """Put ``text`` (which begins with ``start`` and ends with ``end``) into
    docs/performance.md, replacing the section between those markers or appending it."""
    path = REPO / "docs" / "performance.md"
    page = path.read_text() if path.exists() else "# Performance\n"
    if start in page and end in page:
        head, _, rest = page.partition(start)
        _, _, tail = rest.partition(end)
        page = head + text.rstrip("\n") + tail
    else:
        page = page.rstrip("\n") + "\n\n" + text
    path.write_text(page)
    return path


def write_docs(rows: list[Row], info: dict[str, str], notes: str) -> Path:
    doc = REPO / "docs" / "performance.md"
    machine_lines = "\n".join(f"- {k}: {v}" for k, v in info.items() if k not in {"image", "runs"})
    doc.write_text(
        "# Performance\n\n"
        "Measured by `benchmarks/bench_foundation.py`, boxwright side by side with the peers on "
        "the same image in one run:\n"
        f"`sudo python3 benchmarks/bench_foundation.py {' '.join(sys.argv[1:])}`.\n\n"
        f"## Machine\n\n{machine_lines}\n\n"
        f"## Image\n\n{info['image']}. Method: {info['runs']}.\n\n"
        f"## Results\n\n{table(rows)}\n\n"
        f"{notes}"
    )
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (best of)")
    parser.add_argument("--files", type=int, default=3000, help="small files in layer 2")
    parser.add_argument("--big-mb", type=int, default=1024, help="big layer size (0: skip)")
    parser.add_argument(
        "--only",
        nargs="+",
        default=["unpack", "copy", "startup", "memory"],
        choices=["unpack", "copy", "startup", "memory"],
    )
    parser.add_argument("--workdir", type=Path, default=CACHE, help="where outputs are written")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/performance.md")
    parser.add_argument("--notes", type=Path, help="markdown appended to docs/performance.md")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench: run as root (umoci unpack and mmdebstrap need it): sudo python3 ...")
    for tool in ("mmdebstrap", "umoci", "skopeo"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is missing (./scripts/install-test-deps installs it)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    fresh_bytecode()
    rows, info = bench(args)
    print("\n".join(f"{k}: {v}" for k, v in info.items()))
    print(table(rows))
    if args.write_docs:
        notes = args.notes.read_text() if args.notes else ""
        print(f"bench: wrote {write_docs(rows, info, notes)}", file=sys.stderr)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
