#!/usr/bin/env python3
"""Rootless boxwright beside rootless buildah and podman, as the same user (a benchmark).

A throw-away user with ``/etc/subuid`` and ``/etc/subgid`` ranges is made (and removed
afterwards): podman's usual rootless setup. As that user, best of N warm runs, the tools
alternating, every command timed from start to exit, boxwright in both its modes (``--userns
ranges`` and ``--userns single``, one store each) against buildah and podman with the
ranges (without them, rootless buildah cannot even pull a Debian base: ``lchown
/etc/gshadow: invalid argument`` for group 42):

* **build**: the import of the Debian minbase base (``bench_store.py``'s, an OCI layout)
  into an empty store, then the app Containerfile of ``bench_build.py`` with no cache:
  ``boxwright copy oci:BASE store:localhost/base:latest`` + ``boxwright build`` against
  ``buildah pull oci:BASE`` + ``buildah bud --layers --isolation chroot`` (overlay driver,
  rootless: in buildah's own user namespace);
* **run**: ``boxwright run --rm localhost/base:latest true`` against
  ``podman run --rm --network host localhost/base:latest true`` (overlay, runc, cgroupfs).

The interpreter may live where the users cannot read it (a pyenv under ``/root``): each
command then runs in a private mount namespace where ``/root`` is a tmpfs holding only that
prefix, bound in; buildah and podman start through the same wrapper, so both pay it alike.
Each round empties every store, then syncs and waits ``--settle`` seconds (61) before its
runs, so no run pays for the inodes the deletion freed (``bench_foundation.SETTLE_SECONDS``).
Targets: at most 0.8x the peer's wall time. Run as root:
``sudo python3 benchmarks/bench_rootless.py [--runs 3] [--files 3000]``
``[--modes ranges,single] [--workdir /tmp/bench-rootless] [--write-docs]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import CONTAINERFILE
from bench_foundation import (
    SETTLE_SECONDS,
    TAG,
    Row,
    Timing,
    boxwright_cmd,
    machine,
    ratio_row,
    report,
    require_tools,
    section_text,
    settle,
)
from bench_store import base_layout, source_files

START = "<!-- bench_rootless: start -->"
END = "<!-- bench_rootless: end -->"
TARGET = 0.8
IMAGE = "localhost/base:latest"
SUBIDS = 65536
SRC = Path(__file__).resolve().parents[1] / "src"


@contextlib.contextmanager
def bench_user(*, ranges: bool) -> Iterator[pwd.struct_passwd]:
    """A throw-away user (with a subordinate range of 65536 IDs when ``ranges``: the one
    ``useradd`` gives where login.defs says so, else one added here; a second would overlap)."""
    name = f"bxbench{uuid.uuid4().hex[:8]}"
    argv = ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
    subprocess.run(argv if ranges else [*argv[:1], "--system", *argv[1:]], check=True)
    try:
        if ranges and not _has_range(name):
            start = 1_200_000 + (os.getpid() % 200) * SUBIDS
            span = f"{start}-{start + SUBIDS - 1}"
            subprocess.run(
                ["usermod", "--add-subuids", span, "--add-subgids", span, name], check=True
            )
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


def _has_range(name: str) -> bool:
    """Whether ``/etc/subuid`` and ``/etc/subgid`` both give ``name`` a range."""
    for path in ("/etc/subuid", "/etc/subgid"):
        with open(path, encoding="utf-8") as file:
            if not any(line.split(":", 1)[0] == name for line in file):
                return False
    return True


def _hidden_prefixes() -> dict[Path, list[Path]]:
    """The interpreter's prefixes under a directory others cannot search, by that directory."""
    hidden: dict[Path, list[Path]] = {}
    for prefix in dict.fromkeys(Path(p).resolve() for p in (sys.prefix, sys.base_prefix)):
        for parent in reversed(prefix.parents):
            if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
                hidden.setdefault(parent, []).append(prefix)
                break
    return hidden


def as_user(user: pwd.struct_passwd) -> Callable[[], None]:
    """The ``preexec_fn`` that makes a command ``user``'s, the interpreter still readable."""
    sys.path.insert(0, str(SRC))
    from boxwright.rootless.libc import CLONE_NEWNS, MS_BIND, MS_PRIVATE, MS_REC, mount, unshare

    hidden = _hidden_prefixes()

    def setup() -> None:
        if hidden:
            unshare(CLONE_NEWNS)
            mount(None, "/", None, MS_REC | MS_PRIVATE, None)
            for top, prefixes in hidden.items():
                fds = [os.open(p, os.O_PATH | os.O_CLOEXEC) for p in prefixes]
                mount("tmpfs", str(top), "tmpfs", 0, "mode=755")
                for prefix, fd in zip(prefixes, fds, strict=True):
                    os.makedirs(prefix, exist_ok=True)
                    mount(f"/proc/self/fd/{fd}", str(prefix), None, MS_BIND | MS_REC, None)
                    os.close(fd)
        os.setgroups([])
        os.setresgid(user.pw_gid, user.pw_gid, user.pw_gid)
        os.setresuid(user.pw_uid, user.pw_uid, user.pw_uid)

    return setup


class Side:
    """One user's commands and environment."""

    def __init__(self, user: pwd.struct_passwd, work: Path) -> None:
        self.user, self.work = user, work
        self.setup = as_user(user)
        conf = work / "containers.conf"
        conf.write_text("[containers]\ndefault_ulimits = []\n")
        runtime = work / "xdg"
        runtime.mkdir(mode=0o700)
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "XDG_RUNTIME_DIR": str(runtime),
            "CONTAINERS_CONF": str(conf),
            "LANG": "C.UTF-8",
        }
        if "PYTHONPATH" in os.environ:
            self.env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        storage = ["--root", str(work / "containers"), "--runroot", str(runtime / "containers")]
        self.buildah = ["buildah", *storage, "--storage-driver", "overlay"]
        self.podman = [
            "podman", *storage, "--storage-driver", "overlay", "--runtime", "runc",
            "--cgroup-manager", "cgroupfs", "--events-backend", "none",
        ]  # fmt: skip

    def run(self, cmd: Sequence[str]) -> float:
        """Seconds ``cmd`` took as the user; exits with its stderr when it fails."""
        start = time.perf_counter()
        done = subprocess.run(
            list(cmd), env=self.env, cwd=self.work, capture_output=True, preexec_fn=self.setup
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"bench: {' '.join(cmd)} failed:\n{done.stderr.decode(errors='replace')}")
        return seconds

    def reset(self) -> None:
        """Empty stores (as root: the ranges' files are owned by subordinate IDs)."""
        for name in ("bw-ranges", "bw-single", "containers"):
            subprocess.run(["umount", "-R", str(self.work / name)], capture_output=True)
            shutil.rmtree(self.work / name, ignore_errors=True)


def bench(
    workdir: Path,
    ctx: Path,
    layout: Path,
    runs: int,
    modes: Sequence[str],
    settle_seconds: float = SETTLE_SECONDS,
) -> dict[str, Timing]:
    """Timings by ``build-MODE``, ``run-MODE``, ``build-peer``, ``run-peer``."""
    timings = {f"{k}-{m}": Timing() for k in ("build", "run") for m in (*modes, "peer")}
    with bench_user(ranges=True) as user:
        work = workdir / "user"
        work.mkdir(parents=True)
        os.chown(work, user.pw_uid, user.pw_gid)
        side = Side(user, work)
        for path in (work / "containers.conf", work / "xdg"):
            os.chown(path, user.pw_uid, user.pw_gid)
        base = f"oci:{layout}:{TAG}"
        try:
            for n in range(runs + 1):  # the first round is the warm-up
                side.reset()
                settle(settle_seconds)
                sample: dict[str, float] = {}
                for mode in modes:
                    ours = [*boxwright_cmd(), "--userns", mode, "--root", str(work / f"bw-{mode}")]
                    sample[f"build-{mode}"] = side.run([*ours, "copy", base, f"store:{IMAGE}"])
                    sample[f"build-{mode}"] += side.run(
                        [*ours, "build", "-q", "-t", "app:1", str(ctx)]
                    )
                    sample[f"run-{mode}"] = side.run([*ours, "run", "--rm", IMAGE, "true"])
                peer = side.run([*side.buildah, "pull", "-q", base])
                side.run([*side.buildah, "tag", layout_image_id(side), IMAGE])  # not timed
                peer += side.run(
                    [*side.buildah, "bud", "-q", "--layers", "--isolation", "chroot",
                     "-t", "app:1", str(ctx)]
                )  # fmt: skip
                sample["build-peer"] = peer
                sample["run-peer"] = side.run(
                    [*side.podman, "run", "--rm", "--network", "host", IMAGE, "true"]
                )
                if n:
                    for key, seconds in sample.items():
                        timings[key].samples.append(seconds)
        finally:
            side.run([*side.podman, "system", "migrate"])  # ends podman's pause process
            stop_pause(work / "xdg" / "boxwright" / "pause.json", user.pw_uid)
            side.reset()
    return timings


def stop_pause(record: Path, uid: int) -> None:
    """End boxwright's pause process of ``uid`` (the pid its ``pause.json`` names)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        pid = int(json.loads(record.read_text())["pid"])
        if os.stat(f"/proc/{pid}").st_uid == uid:
            os.kill(pid, signal.SIGKILL)


def layout_image_id(side: Side) -> str:
    """The ID ``buildah pull`` gave the base (its only image)."""
    done = subprocess.run(
        [*side.buildah, "images", "-q", "--no-trunc"], env=side.env, cwd=side.work,
        capture_output=True, text=True, preexec_fn=side.setup, check=True,
    )  # fmt: skip
    return done.stdout.split()[0]


def context(workdir: Path, files: int) -> Path:
    """The build context (world-readable): the Containerfile and ``files`` small files."""
    ctx = workdir / "context"
    source = source_files(workdir, files)
    ctx.mkdir()
    shutil.copytree(source, ctx / "app", symlinks=True)
    (ctx / "Containerfile").write_text(CONTAINERFILE.replace("localhost/base:latest", IMAGE))
    subprocess.run(["chmod", "-R", "a+rX", str(workdir)], check=True)
    return ctx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool (best of)")
    parser.add_argument("--files", type=int, default=3000, help="small files copied in")
    parser.add_argument("--modes", default="ranges,single", help="ranges, single or both")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-rootless"))
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        help="seconds each round waits after emptying the stores",
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it makes the two users)")
    require_tools("buildah", "podman", "runc", "umoci", "newuidmap", "useradd")
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    # an installed package has its bytecode compiled; the users cannot write it here
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(SRC)], check=True)
    layout = args.workdir / "base"  # a path buildah can name the image after (no ".cache")
    layout.symlink_to(base_layout())
    subprocess.run(["chmod", "-R", "a+rX", str(base_layout())], check=True)
    ctx = context(args.workdir, args.files)
    modes = args.modes.split(",")
    t = bench(args.workdir, ctx, layout, args.runs, modes, args.settle)
    rows: list[Row] = []
    for mode in modes:
        rows += [
            ratio_row(
                f"{mode}: base import + build --no-cache, {args.files} files / buildah pull + "
                "bud --layers (rootless, ranges)",
                t[f"build-{mode}"], t["build-peer"], TARGET,
            ),
            ratio_row(
                f"{mode}: run --rm IMAGE true / podman run --rm (rootless, ranges)",
                t[f"run-{mode}"], t["run-peer"], TARGET,
            ),
        ]  # fmt: skip
    info = machine()
    for tool in ("buildah", "podman"):
        done = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
        info[tool] = done.stdout.strip()
    intro = [
        "Measured by `benchmarks/bench_rootless.py` as an unprivileged user with subordinate "
        "ranges, boxwright in ranges and in single mode (`--userns`), best of "
        f"{args.runs} warm runs, the tools alternating, the base import included in the build; "
        "each round starts after the stores are emptied and the disk has settled "
        f"({args.settle:.0f} s):",
        "`python3 benchmarks/bench_rootless.py --write-docs`.",
    ]
    text = section_text((START, END), "Rootless building and running", intro, info, rows)
    shutil.rmtree(args.workdir, ignore_errors=True)
    return report(text, rows, (START, END), args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
