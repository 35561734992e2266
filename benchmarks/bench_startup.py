#!/usr/bin/env python3
"""Start-up cost of boxwright: wall time and modules loaded by ``import boxwright``,
``boxwright --help`` and a few short commands, each a fresh interpreter (a benchmark, not a
test).

Each probe runs once to write bytecode (into a private ``PYTHONPYCACHEPREFIX``, as an installed
copy has it), then N times; the best wall time is reported, with the number of modules the
interpreter holds at exit (all, and boxwright's own). ``--src DIR`` measures another checkout's
``src`` (a before/after comparison); ``--count-imports`` also prints how many imports inside
functions the package has. Run: ``python3 benchmarks/bench_startup.py [--runs 15] [--src DIR]``.
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "examples" / "hello"

#: What a probe runs after ``import sys``; the last line it prints is the loaded modules.
_REPORT = "print(' '.join(sorted(sys.modules)))"


def _cli(*argv: str) -> str:
    return (
        "import sys\nfrom boxwright.cli.main import main\n"
        f"try:\n    main({list(argv)!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        f"{_REPORT}\n"
    )


def probes(work: Path) -> dict[str, str]:
    """Name → Python source of each measured start-up."""
    return {
        "import boxwright": f"import sys, boxwright\n{_REPORT}\n",
        "boxwright --help": _cli("--help"),
        "boxwright copy --help": _cli("copy", "--help"),
        "boxwright container --help": _cli("container", "--help"),
        "boxwright inspect oci:": _cli("inspect", f"oci:{HELLO}:latest"),
        "boxwright copy oci: oci:": _cli(
            "copy", "--quiet", f"oci:{HELLO}:latest", f"oci:{work}/out:latest"
        ),
        "boxwright images": _cli("--root", str(work / "store"), "images"),
    }


def run(source: str, src: Path, cache: Path) -> tuple[float, float, list[str]]:
    """Wall time and CPU time (user + system) of one fresh interpreter running ``source``, and
    the modules it loaded. CPU time is the steadier figure on a shared machine."""
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONPYCACHEPREFIX=str(cache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"probe failed: {done.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, done.stdout.strip().splitlines()[-1].split()


def function_level_imports(package: Path) -> int:
    """How many ``import`` statements sit inside a function (``TYPE_CHECKING`` blocks aside),
    counted as ``codeshape.py`` counts them."""
    count = 0
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        skip = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for sub in ast.walk(node)
        }
        parents = {id(ch): node for node in ast.walk(tree) for ch in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                up = parents.get(id(node))
                while up is not None and not isinstance(
                    up, (ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    up = parents.get(id(up))
                count += up is not None
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--count-imports", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = work / "pycache"
        print(f"| start-up (best of {args.runs}) | wall | CPU | modules | boxwright modules |")
        print("| --- | --- | --- | --- | --- |")
        for name, source in probes(work).items():
            run(source, args.src, cache)  # warm-up: writes bytecode
            runs = [run(source, args.src, cache) for _ in range(args.runs)]
            wall = min(r[0] for r in runs)
            cpu = min(r[1] for r in runs)
            modules = runs[0][2]
            own = sum(1 for m in modules if m == "boxwright" or m.startswith("boxwright."))
            print(
                f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {len(modules)} | {own} |"
            )
    if args.count_imports:
        print(f"function-level imports: {function_level_imports(args.src / 'boxwright')}")


if __name__ == "__main__":
    main()
