#!/usr/bin/env python3
"""Detached containers beside podman's (a benchmark, not a test): ``run -d`` then ``stop``,
and ``exec`` into a running container.

The image and the two stores are ``bench_run.py``'s (Debian bookworm minbase loaded into a
boxwright store and into a podman containers-storage, podman with runc, cgroupfs, no events and
a ``CONTAINERS_CONF`` with ``default_ulimits = []``). Best of N warm rounds, alternating the
tools, each command a whole process timed from start to exit:

* ``run -d --network host IMAGE sh -c 'trap "exit 0" TERM; while :; do sleep 0.05; done'``
  plus ``stop`` of that container (the sum of the two; the container removed afterwards,
  untimed), for boxwright's native monitor, for ``--isolation oci`` (runc under conmon, as
  podman) and for ``podman run -d`` / ``podman stop``: every tool with the host's network
  (podman's own default, a bridge, needs a network backend; boxwright's, a private namespace
  through slirp4netns, costs its helper's start and the kernel's teardown of its tap device,
  ~20 ms of ``stop``);
* ``exec C true`` into a running container of each.

The issue's target: at most 0.8x podman's time for both. Run as root:
``sudo python3 benchmarks/bench_lifecycle.py [--runs 10] [--workdir /dev/shm/bench-run]``
``[--write-docs] [--note TEXT]``.
"""

from __future__ import annotations

import argparse
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
    machine,
    ratio_row,
    report,
    require_tools,
    run,
    section_text,
)
from bench_run import IMAGE, _unmount, commands
from bench_store import base_layout

START = "<!-- bench_lifecycle: start -->"
END = "<!-- bench_lifecycle: end -->"
TARGET = 0.8
SERVICE = 'trap "exit 0" TERM; while :; do sleep 0.05; done'


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{done.stderr.decode(errors='replace')}")
    return seconds, done.stdout.decode().strip()


def start_stop(tool: list[str], run_args: list[str], env: dict[str, str]) -> float:
    """``run -d`` + ``stop`` of one container (timed), then its removal (not timed)."""
    started, cid = _run([*tool, "run", "-d", *run_args, IMAGE, "sh", "-c", SERVICE], env)
    stopped, _ = _run([*tool, "stop", cid], env)
    _run([*tool, "rm", cid], env)
    return started + stopped


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
    host = ["--network", "host"]
    kinds = {
        "native": (ours, host),
        "oci": (ours, ["--isolation", "oci", *host]),
        "podman": (podman, host),
    }
    cycles = {kind: Timing() for kind in kinds}
    execs = {kind: Timing() for kind in kinds}
    running: dict[str, str] = {}
    try:
        for kind, (tool, extra) in kinds.items():
            start_stop(tool, extra, env)  # warm-up
            cmd = [*tool, "run", "-d", *extra, IMAGE, "sh", "-c", SERVICE]
            running[kind] = _run(cmd, env)[1]
            _run([*tool, "exec", running[kind], "true"], env)
        for _ in range(args.runs):
            for kind, (tool, extra) in kinds.items():
                cycles[kind].samples.append(start_stop(tool, extra, env))
                execs[kind].samples.append(_run([*tool, "exec", running[kind], "true"], env)[0])
    finally:
        for kind, cid in running.items():
            subprocess.run([*kinds[kind][0], "rm", "-f", cid], env=env, capture_output=True)
        _unmount(workdir)
    peer = "podman run -d + stop"
    rows = [
        ratio_row(f"run -d + stop (native monitor) / {peer}", cycles["native"],
                  cycles["podman"], TARGET),
        ratio_row(f"run -d + stop (--isolation oci: conmon, runc) / {peer}", cycles["oci"],
                  cycles["podman"], TARGET),
        ratio_row("exec C true (native) / podman exec", execs["native"], execs["podman"], TARGET),
        ratio_row("exec C true (oci: runc exec) / podman exec", execs["oci"], execs["podman"],
                  TARGET),
    ]  # fmt: skip
    info = machine()
    info["podman"] = run(["podman", "--version"]).stdout.decode().strip()
    info["image"] = "Debian bookworm minbase (mmdebstrap), one layer, loaded into both stores"
    info["work directory"] = str(workdir)
    if args.note:
        info["note"] = args.note
    return rows, info


def section(rows: list[Row], info: dict[str, str], runs: int) -> str:
    intro = [
        "Measured by `benchmarks/bench_lifecycle.py`: `boxwright run -d --network host IMAGE "
        "sh -c SERVICE` followed by `boxwright stop` (the service traps SIGTERM and exits), "
        "timed as the sum of the two processes, beside `podman run -d --network host` and "
        "`podman stop` (overlay storage, runc, cgroupfs, no events), and `exec C true` into a "
        f"running container of each; alternating, best of {runs} warm rounds:",
        "`python3 benchmarks/bench_lifecycle.py --workdir /dev/shm/bench-run --write-docs`. "
        "Where boxwright's time goes (each command timed on its own, same loaded machine): "
        "every command starts with the interpreter and `boxwright.cli.main` with click (~35 ms,"
        " as `boxwright --help` takes). `stop` and `exec` then find the container through "
        "`Store.container_record` (`containers.json` and the container's `userdata/` alone, "
        "none of the container store's image, layer and driver modules) and exit through "
        "`cli.main`'s `exit_with`, so they load none of `run`'s options: `stop` loads 159 "
        "modules, 35 of them boxwright's (the store's record files are written by "
        "`transport/smallfile.py`, without the blob writers), `exec` 180 and 46 (what it shares"
        " with the native runner is `runtime/process.py`'s, so none of the runner's spec, "
        "ID-map, cgroup and network modules), `exec` into an `--isolation oci` container 192 "
        "and 47 (`runc exec` from `runtime/ociruntime.py`, without the bundle, spec and conmon "
        "modules); `exec C true` takes 65-70 ms. `stop` then waits for the service's trap, "
        "which runs when its current `sleep 0.05` ends (as under podman): `run -d` returns "
        "within ~10 ms of the command's start, and `stop` needs ~55 ms to send the signal, "
        "longer than what is left of the first `sleep`, so the trap runs at the end of the "
        "second and `stop`'s start-up is mostly hidden in that wait (a `stop` that signalled "
        "within ~40 ms would save a whole 50 ms period); it returns the moment the monitor "
        "ends, through a pidfd of it (the monitor's pid is in `monitor.lock`). `run -d` is the "
        "larger part, 120-130 ms: it checks its flags with `runtime/ports.py` and "
        "`runtime/options.py` and loads 240 modules, 77 of them boxwright's (no runner, spec, "
        "ID-map or network helper module; the copy pipeline only when it pulls); it forks the "
        "container's monitor first (`runtime/launch.py`) and makes the container (the container"
        " store's modules, `Container.create` a few ms) while the monitor imports what a run "
        "needs (102 modules more: the runners, spec, network, ID-map and container store "
        "modules, 45-60 ms on this machine, the largest single cost left); then the monitor's "
        "start takes 20-25 ms (its run child, the overlay mount in a forked child, the keeper "
        "and the container process, the command's exec reported back). On this loaded machine "
        "the overlap of the two forks is within the noise (imports after a fork pay its "
        "copy-on-write faults, and the second core is seldom free). Every state file "
        "(`run.json`, `state.json`, `containers.json`) is written to a temporary file, fsynced "
        "and renamed: the fsync stays, since a rename alone does not order the data before the "
        "name on every file system, and a crash could then leave a named but empty file that "
        "every later reader rejects (on the benchmark's tmpfs it costs nothing). With "
        "`--isolation oci`, conmon, `runc create` and `runc start` are three more processes "
        "(`runc delete` runs before a start only when a killed run left runc's state), and "
        "`exec` is `runc exec`, ~25-30 ms of Go start-up over the native one. Every tool runs "
        "with `--network host`: boxwright's default, a private namespace through slirp4netns, "
        "adds the helper's start to `run -d` and the kernel's teardown of its tap device (~20 "
        "ms, which the runner waits for before the end is recorded, so that a restart finds the"
        " published ports free) to `stop`.",
    ]
    return section_text((START, END), "Detached containers: run -d, stop, exec", intro, info, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed rounds per tool (best of)")
    parser.add_argument("--workdir", type=Path, default=CACHE / "run-bench", help="the stores")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    parser.add_argument("--note", default="", help="a line added to the machine facts")
    args = parser.parse_args(argv)
    require_tools("podman", "runc", "conmon", "skopeo", "umoci", "mmdebstrap")
    rows, info = bench(args)
    return report(section(rows, info, args.runs), rows, (START, END), args.write_docs)


if __name__ == "__main__":
    sys.exit(main())
