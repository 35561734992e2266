"""The README's commands, run as written, twice: on a fresh machine and on one where they ran.

* the first command (build the talk's image on a busybox-static base, run it, explain it),
  without its ``pip install`` step (the tests run the sources), into a store of the test's;
* the ``$ boxwright ...`` lines of "Commands", with ``/tmp/`` moved into the test's directory
  and ``localhost:5000`` pointing at a registry of the test's;
* the Python example, whose store and files are its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright_testing.registry_servers import REGISTRY_BINARY, RegistryServer, start_registry

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
BUSYBOX = Path("/bin/busybox")


def _env(store: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "BOXWRIGHT_ROOT": str(store)}


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def first_command() -> str:
    """The README's first command without its install step, run from the sources."""
    line = next(line.strip() for line in README.splitlines() if line.startswith("    "))
    steps = [step for step in line.split(" && ") if "pip install" not in step]
    assert all(step.startswith("python3 -m boxwright ") for step in steps), steps
    return " && ".join(
        f"{sys.executable} -m boxwright {s[len('python3 -m boxwright ') :]}" for s in steps
    )


@pytest.mark.skipif(not BUSYBOX.is_file(), reason="busybox-static is not installed")
def test_the_first_command_builds_runs_and_explains_twice(tmp_path: Path) -> None:
    env = _env(tmp_path / "store")
    for run in (1, 2):
        done = _bash(first_command(), env)
        assert done.returncode == 0, f"run {run}: {done.stderr}"
        out = done.stdout
        assert re.search(r"^-rw-r--r-- +1 0 +0 +0 .* /built-by-boxwright$", out, re.M), out
        history = out[out.index("History:") :]
        assert re.search(r"^2 +\(metadata\) .* RUN echo \"hello from a RUN step\"$", history, re.M)
        assert re.search(r"^3 +2 .* 1 +RUN touch /built-by-boxwright$", history, re.M), history
        assert "Successfully tagged localhost/talk:latest" in out
        if run == 1:  # the RUN that prints ran; the second time the layer cache answers
            assert "hello from a RUN step" in done.stdout + done.stderr


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    if REGISTRY_BINARY is None:
        pytest.skip("docker-registry is not installed (scripts/install-test-deps installs it)")
    server = start_registry(tmp_path_factory.mktemp("readme-registry"), "plain")
    yield server
    server.stop()


def test_the_command_lines_run_twice(tmp_path: Path, registry: RegistryServer) -> None:
    block = README[README.index("```console\n$ boxwright inspect") :]
    block = block[: block.index("```\n", 4)]
    lines = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    assert len(lines) == 10
    boxwright = f"{sys.executable} -m boxwright"
    script = "\n".join(
        re.sub(r"\bboxwright ", f"{boxwright} ", line)
        .replace("/tmp/", f"{tmp_path}/")
        .replace("localhost:5000", registry.host)
        for line in lines
    )
    env = _env(tmp_path / "store")
    for run in (1, 2):
        done = _bash(script, env)
        assert done.returncode == 0, f"run {run}: {done.stderr}"
        rows = [line.split()[:2] for line in done.stdout.splitlines()]
        # pull names the image after the layout's path, as podman does
        assert ["localhost/examples/hello", "latest"] in rows, done.stdout
    assert (tmp_path / "bundle" / "rootfs" / "hello.txt").read_text() == "changed\n"


def test_the_python_example_runs_twice_in_a_store_of_its_own(tmp_path: Path) -> None:
    block = README[README.index("```python\n") + len("```python\n") :]
    code = block[: block.index("```\n")]
    assert "root=work" in code  # the example's store is its own directory
    env = {**_env(tmp_path / "default-store"), "TMPDIR": str(tmp_path)}
    for run in (1, 2):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"run {run}: {done.stderr}"
        assert done.stdout.splitlines()[-1] == "OCI layout directory /nonexistent does not exist"
        assert "['localhost/app:1']" in done.stdout or "('localhost/app:1',)" in done.stdout
    assert not (tmp_path / "default-store").exists()  # the default store was never touched
    assert len(list(tmp_path.glob("boxwright-example-*"))) == 2
