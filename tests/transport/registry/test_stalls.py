"""Stalled transfers: detected by progress, bounded by ``--retry-times``/``--retry-delay``.

A real registry behind the fault proxy, which stalls (or trickles) a blob's body; the client
and the CLI run with small stall windows so that each test takes a second or two. The
defaults' own bound is checked by arithmetic over the default policies.
"""

from __future__ import annotations

import io
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner
from fault_proxy import FaultProxy
from registry_images import make_image
from registry_peers import SKOPEO, skopeo_copy

from boxwright.cli.main import main
from boxwright.errors import StalledTransferError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import OCI_LAYER_GZIP
from boxwright.transport.registry.client import RegistryClient
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.session import Session
from boxwright.transport.registry.stall import StallPolicy
from boxwright_testing.registry_servers import RegistryServer

WINDOW = 0.5
DELAY = 0.2


def stalling_client(
    fault_proxy: FaultProxy, slept: list[float], retry_times: int
) -> RegistryClient:
    """A client through the proxy: stall window ``WINDOW``, fixed delay ``DELAY`` (recorded
    in ``slept``, then really slept)."""

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    retries = RetryPolicy(attempts=retry_times + 1, fixed_delay=DELAY, sleep=sleep)
    return RegistryClient(
        fault_proxy.host, scheme="http", retries=retries, stall=StallPolicy(seconds=WINDOW)
    )


def seeded_blob(registry: RegistryServer, size: int) -> tuple[str, bytes, Descriptor]:
    """A random blob pushed straight to the registry (not through the proxy)."""
    repo = registry.repo("stall")
    data = os.urandom(size)
    layer = Descriptor(OCI_LAYER_GZIP, Digest.from_bytes(data), size)
    with RegistryClient(registry.host, scheme="http") as direct:
        direct.upload_blob(repo, io.BytesIO(data), layer)
    return repo, data, layer


def read_all(stream: IO[bytes]) -> bytes:
    return b"".join(iter(lambda: stream.read(1 << 16), b""))


def test_a_download_that_stalls_after_a_few_bytes_fails_after_1_plus_retry_times_tries(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo, _, layer = seeded_blob(registry_plain, 300_000)
    fault_proxy.stall(60, after_bytes=10, times=1000, method="GET", path="/blobs/sha256:")
    slept: list[float] = []
    started = time.monotonic()
    with stalling_client(fault_proxy, slept, retry_times=2) as client:
        stream = client.get_blob(repo, layer)
        with pytest.raises(StalledTransferError) as stalled:
            read_all(stream)
    elapsed = time.monotonic() - started
    digest = layer.digest
    pattern = (
        rf"{re.escape(fault_proxy.host)}: blob {digest} in {repo} stalled: only \d+ bytes were "
        rf"received in 0\.5 s \(at least 1024 expected\) \(30 of 300000 bytes arrived in 3 "
        rf"tries\)"
    )
    assert re.fullmatch(pattern, str(stalled.value)), str(stalled.value)
    assert [s.status for s in fault_proxy.seen("GET", "/blobs/sha256:")] == [200, 206, 206]
    assert slept == [DELAY, DELAY]
    assert 3 * WINDOW + 2 * DELAY <= elapsed < 3 * WINDOW + 2 * DELAY + 5.0


def test_an_answer_that_never_starts_fails_after_1_plus_retry_times_tries(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo, _, layer = seeded_blob(registry_plain, 5_000)
    rule = fault_proxy.stall(60, times=1000, method="GET", path="/blobs/sha256:")
    slept: list[float] = []
    started = time.monotonic()
    client = stalling_client(fault_proxy, slept, retry_times=1)
    with client, pytest.raises(StalledTransferError) as stalled:
        client.get_blob(repo, layer)
    elapsed = time.monotonic() - started
    digest = layer.digest
    assert str(stalled.value) == (
        f"{fault_proxy.host}: blob {digest} in {repo} stalled: nothing was received for 0.5 s"
    )
    assert 1000 - rule.remaining == 2  # tries (the proxy logs a request once it answers)
    assert slept == [DELAY]
    assert 2 * WINDOW + DELAY <= elapsed < 2 * WINDOW + DELAY + 5.0


def test_a_slow_but_steady_download_is_never_cut(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo, data, layer = seeded_blob(registry_plain, 5_500)
    fault_proxy.trickle(1, 0.001)  # one byte a millisecond: ~1000 bytes a second at best
    window = StallPolicy(seconds=5.0)  # needs 1024 bytes in 5 s: ~205 bytes a second
    started = time.monotonic()
    with (
        RegistryClient(
            fault_proxy.host, scheme="http", retries=RetryPolicy.none(), stall=window
        ) as client,
        client.get_blob(repo, layer) as stream,
    ):
        assert read_all(stream) == data
    assert time.monotonic() - started >= 5.5  # longer than one window, and never cut
    assert [s.status for s in fault_proxy.seen("GET", "/blobs/sha256:")] == [200]


def test_progress_counts_across_resumes(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    """Three drops with one retry allowed: each try moved more than 1 MiB, so none of the
    drops used the retry up."""
    repo, data, layer = seeded_blob(registry_plain, 3_500_000)
    fault_proxy.drop_response(1_100_000, times=3)
    slept: list[float] = []
    client = stalling_client(fault_proxy, slept, retry_times=1)
    with client, client.get_blob(repo, layer) as stream:
        assert read_all(stream) == data
    assert [s.status for s in fault_proxy.seen("GET", "/blobs/sha256:")] == [0, 0, 0, 206]
    assert slept == [DELAY, DELAY, DELAY]


def test_the_default_policies_bound_a_stalled_pull_under_a_minute() -> None:
    """Every try of a stalled blob waits one stall window, every retry its longest backoff."""
    stall, retries = StallPolicy(), RetryPolicy(random=lambda: 0.999999)
    assert (stall.seconds, stall.min_bytes, retries.attempts) == (10.0, 1024, 4)
    waits = [retries.delay(n) for n in range(retries.attempts)]
    assert waits[-1] is None  # the last try is not followed by another
    worst = stall.seconds * retries.attempts + sum(w for w in waits if w is not None)
    assert 40 < worst < 45


@pytest.fixture
def deaf_server() -> Iterator[str]:
    """A server that accepts a connection and never reads from it (small receive buffer)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()
    for conn in held:
        conn.close()


def test_an_upload_the_registry_stops_reading_fails_as_stalled(deaf_server: str) -> None:
    session = Session(
        deaf_server,
        scheme="http",
        retries=RetryPolicy.none(),
        stall=StallPolicy(seconds=WINDOW),
    )
    pieces = (b"x" * (1 << 20) for _ in range(64))
    started = time.monotonic()
    with pytest.raises(StalledTransferError) as stalled:
        session.send(
            "PUT",
            session.url("/v2/app/blobs/uploads/1"),
            what="blob sha256:00 (blob upload to app)",
            headers={"Content-Length": str(64 << 20)},
            content=pieces,
        )
    elapsed = time.monotonic() - started
    session.close()
    message = str(stalled.value)
    assert message.startswith(f"{deaf_server}: blob sha256:00 (blob upload to app) stalled: ")
    assert re.search(r"(nothing was|only \d+ bytes were) sent (for|in) 0\.5 s", message), message
    assert WINDOW <= elapsed < WINDOW + 5.0


# -- the command line --------------------------------------------------------------------------


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
@pytest.mark.usefixtures("isolated_auth")
def test_copy_of_a_stalled_image_fails_after_retry_times_with_retry_delay_between(
    registry_plain: RegistryServer,
    proxied_registry: RegistryServer,
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    work = tmp_path
    image = make_image(work / "src", layers=1, layer_size=50_000)
    repo = registry_plain.repo("stallcli")
    skopeo_copy(image.ref, registry_plain.ref(repo), dest_registry=registry_plain)
    layer = image.layer_digests[0]
    fault_proxy.stall(60, after_bytes=10, times=1000, method="GET", path=layer)
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        [
            "copy",
            "--quiet",
            "--retry-times",
            "1",
            "--retry-delay",
            "300ms",
            "--stall-timeout",
            "500ms",
            "--src-tls-verify=false",
            proxied_registry.ref(repo),
            f"oci:{work / 'dest'}:latest",
        ],
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"Error: {fault_proxy.host}: blob {layer} in {repo} stalled: ")
    assert errors[0].endswith("in 2 tries)")
    assert fault_proxy.count("GET", layer) == 2
    assert 2 * 0.5 + 0.3 <= elapsed < 2 * 0.5 + 0.3 + 5.0
