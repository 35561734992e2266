#!/usr/bin/env python3
"""HTTP client libraries side by side on a loopback registry (not a test).

What the registry client's HTTP stack costs, for each candidate: httpx, urllib3 2.x and a
plain :mod:`http.client` connection (what a hand-written pool does at best):

* import time: a fresh interpreter importing the library (``-X importtime``'s cumulative
  figure of the top module), best of N;
* per request: a small ``GET /v2/`` on a kept-alive loopback connection, best of N rounds of
  200 requests each;
* streaming: a 100 MB blob read in 1 MiB pieces (``iter_raw`` for httpx, ``read(1 MiB)`` for
  the others), best of N.

The candidates alternate inside each round, so the load of a shared machine hits them alike;
the report gives each one's best and its ratio to ``http.client``. The registry is Debian's
``docker-registry``, started by the tests' helper. Run:
``python3 benchmarks/bench_http.py --workdir /dev/shm/bench-http [--runs 7]``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests")]

from boxwright_testing.registry_servers import start_registry  # noqa: E402

BLOB_MB = 100
PIECE = 1 << 20
SMALL_GETS = 200


def import_ms(module: str) -> float:
    """Cumulative microseconds ``-X importtime`` reports for ``module``, in ms."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(done.stderr.splitlines()):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise RuntimeError(f"no import time for {module}")


def push_blob(host: str, data: bytes) -> str:
    """Upload ``data`` as a blob of ``bench/http`` with two plain requests; its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    conn = http.client.HTTPConnection(host)
    conn.request("POST", "/v2/bench/http/blobs/uploads/", headers={"Content-Length": "0"})
    answer = conn.getresponse()
    answer.read()
    location = answer.getheader("location", "")
    sep = "&" if "?" in location else "?"
    conn.request("PUT", f"{location}{sep}digest={digest}", body=data)
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 201, answer.status
    conn.close()
    return digest


class Candidate:
    """One library: ``get(path)`` reads a small answer, ``stream(path)`` a big one."""

    name = ""

    def get(self, path: str) -> None:
        raise NotImplementedError

    def stream(self, path: str) -> int:
        raise NotImplementedError


class HttpClient(Candidate):
    name = "http.client"

    def __init__(self, host: str) -> None:
        self.conn = http.client.HTTPConnection(host)

    def get(self, path: str) -> None:
        self.conn.request("GET", path)
        self.conn.getresponse().read()

    def stream(self, path: str) -> int:
        self.conn.request("GET", path)
        answer = self.conn.getresponse()
        total = 0
        while piece := answer.read(PIECE):
            total += len(piece)
        return total


class Urllib3(Candidate):
    name = "urllib3"

    def __init__(self, host: str) -> None:
        import urllib3

        self.pool = urllib3.HTTPConnectionPool(*host.split(":"), maxsize=4)

    def get(self, path: str) -> None:
        self.pool.request("GET", path, preload_content=False, redirect=False, retries=False).read()

    def stream(self, path: str) -> int:
        answer = self.pool.request(
            "GET", path, preload_content=False, decode_content=False, retries=False
        )
        total = 0
        while piece := answer.read(PIECE):
            total += len(piece)
        answer.release_conn()
        return total


class Httpx(Candidate):
    name = "httpx"

    def __init__(self, host: str) -> None:
        import httpx

        self.base = f"http://{host}"
        self.client = httpx.Client()

    def get(self, path: str) -> None:
        self.client.get(self.base + path).read()

    def stream(self, path: str) -> int:
        total = 0
        with self.client.stream("GET", self.base + path) as answer:
            for piece in answer.iter_raw(PIECE):
                total += len(piece)
        return total


def best(times: list[float]) -> float:
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds (best of)")
    parser.add_argument("--workdir", type=Path, default=Path("/dev/shm/bench-http"))
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    modules = {"http.client": "http.client", "urllib3": "urllib3", "httpx": "httpx"}
    imports: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(args.runs):
        for name, module in modules.items():
            imports[name].append(import_ms(module))
    server = start_registry(args.workdir / "registry", "bench-http")
    try:
        blob = push_blob(server.host, os.urandom(BLOB_MB << 20))
        blob_path = f"/v2/bench/http/blobs/{blob}"
        candidates: list[Candidate] = [HttpClient(server.host), Urllib3(server.host)]
        candidates.append(Httpx(server.host))
        small: dict[str, list[float]] = {c.name: [] for c in candidates}
        big: dict[str, list[float]] = {c.name: [] for c in candidates}
        for c in candidates:  # warm-up: connect, first answers
            c.get("/v2/")
            assert c.stream(blob_path) == BLOB_MB << 20
        for _ in range(args.runs):
            for c in candidates:
                small[c.name].append(_timed(lambda c=c: [c.get("/v2/") for _ in range(SMALL_GETS)]))
                big[c.name].append(_timed(lambda c=c: c.stream(blob_path)))
    finally:
        server.stop()
    base = "http.client"
    print(f"| library | import (ms) | small GET (us) | {BLOB_MB} MB blob (ms) |")
    print("| --- | --- | --- | --- |")
    for name in modules:
        imp = best(imports[name])
        get = best(small[name]) / SMALL_GETS * 1e6
        blob_ms = best(big[name]) * 1000
        ratio_get = get / (best(small[base]) / SMALL_GETS * 1e6)
        ratio_blob = blob_ms / (best(big[base]) * 1000)
        print(
            f"| {name} | {imp:.1f} | {get:.0f} ({ratio_get:.2f}x) | "
            f"{blob_ms:.0f} ({ratio_blob:.2f}x) |"
        )
    return 0


def _timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
