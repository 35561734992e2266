"""Every body read into memory is capped (transport/registry/capped.py, the client's bounded
reads), against a hostile registry whose answers never end: the client reads a fixed
prefix, drops the connection and fails with a typed error, and the peak of
Python memory stays under a fixed bound while the server would send 512 MiB."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile_registry import (
    HostileRegistry,
    Seen,
    answer,
    endless,
    json_answer,
    redirect,
    stall,
)

from boxwright.cli.main import main
from boxwright.errors import AuthenticationError, ImageNotFoundError, RegistryError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import OCI_LAYER_GZIP
from boxwright.transport.registry.auth import MAX_TOKEN_RESPONSE
from boxwright.transport.registry.client import MAX_LIST_SIZE, RegistryClient
from boxwright.transport.registry.failures import MAX_ERROR_BODY
from boxwright.transport.registry.retry import RetryPolicy

Hostile = Callable[..., HostileRegistry]
LIMIT = 512 << 20
"""What an endless answer sends at most (a safety stop the client never lets it reach)."""
SOCKET_SLACK = 64 << 20
"""What the kernel's socket buffers may take in before the server sees the close."""


def measured(call: Callable[[], object]) -> tuple[object, BaseException | None, int]:
    """What ``call`` returned (or None), what it raised (or None), and the peak of Python
    memory allocated while it ran."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    result: object = None
    error: BaseException | None = None
    try:
        result = call()
    except Exception as e:
        error = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, error, peak


def assert_dropped(answers: list[Seen], cap: int) -> None:
    """Every answer listed was cut by the client: the server saw its connection closed after
    at most ``cap`` body bytes (plus what the kernel's socket buffers took in)."""
    assert answers
    for seen in answers:
        assert seen.client_closed, seen
        assert seen.body_sent <= cap + SOCKET_SLACK, seen


def settled(registry: HostileRegistry, method: str | None = None, path: str = "") -> list[Seen]:
    """The requests ``registry`` saw (``method``, target matching ``path``), once answered."""
    registry.settle()
    return registry.seen(method, path or None)


def bearer(registry: HostileRegistry) -> dict[str, str]:
    realm = registry.url("/token")
    return {"WWW-Authenticate": f'Bearer realm="{realm}",service="hostile"'}


def anonymous(registry: HostileRegistry) -> RegistryClient:
    return RegistryClient(registry.host, scheme="http", retries=RetryPolicy.none())


def test_an_endless_token_answer(hostile: Hostile) -> None:
    registry = hostile()
    registry.arm("GET", r"^/token", endless(limit=LIMIT))
    registry.arm(None, r"^/v2/", json_answer(401, {"errors": []}, bearer(registry)))
    with anonymous(registry) as client:
        _, error, peak = measured(lambda: client.get_manifest("app", "1"))
    assert isinstance(error, AuthenticationError)
    assert str(error) == (
        f"{registry.host}: the token service answer is larger than {MAX_TOKEN_RESPONSE} bytes"
    )
    assert_dropped(settled(registry, "GET", "^/token"), MAX_TOKEN_RESPONSE)
    assert peak < 4 * MAX_TOKEN_RESPONSE + (8 << 20)


def test_an_endless_challenge(hostile: Hostile) -> None:
    registry = hostile()
    registry.arm("GET", r"^/token", json_answer(200, {"token": "t0k"}))
    registry.arm(None, r"^/v2/app/manifests/", endless(401, bearer(registry), limit=LIMIT))
    with anonymous(registry) as client:
        _, error, peak = measured(lambda: client.get_manifest("app", "1"))
    assert isinstance(error, AuthenticationError)
    assert str(error) == (
        f"{registry.host}: authentication required for manifest app:1; log in with "
        f"'boxwright login {registry.host}' or give --creds"
    )
    challenges = settled(registry, path="/manifests/")
    assert len(challenges) == 2  # the request, then once more with the token
    assert_dropped(challenges, MAX_ERROR_BODY)
    assert peak < 8 << 20


def test_an_endless_error_body(hostile: Hostile) -> None:
    registry = hostile()
    registry.arm(None, r"^/v2/app/manifests/", endless(404, piece=b"x" * 65536, limit=LIMIT))
    with anonymous(registry) as client:
        _, error, peak = measured(lambda: client.get_manifest("app", "1"))
    assert isinstance(error, ImageNotFoundError)
    assert str(error) == f"{registry.host}: manifest app:1 not found"
    assert_dropped(settled(registry, path="/manifests/"), MAX_ERROR_BODY)
    assert peak < 8 << 20


@pytest.mark.parametrize(
    ("target", "what"), [("/v2/app/tags/list", "the tags of app"), ("/v2/_catalog", "the catalog")]
)
def test_an_endless_list(hostile: Hostile, target: str, what: str) -> None:
    registry = hostile()
    registry.arm("GET", rf"^{target}\?", endless(limit=LIMIT))
    with anonymous(registry) as client:
        listing = client.list_tags("app") if "tags" in target else client.catalog()
        _, error, peak = measured(lambda: list(listing))
    assert isinstance(error, RegistryError)
    assert str(error) == f"{registry.host}: {what} is larger than {MAX_LIST_SIZE} bytes; refused"
    assert_dropped(registry.settle(), MAX_LIST_SIZE)
    assert peak < 3 * MAX_LIST_SIZE + (8 << 20)


def test_a_redirect_with_an_endless_body_is_followed(hostile: Hostile) -> None:
    registry = hostile()
    data = b"blob bytes"
    digest = Digest.from_bytes(data)
    location = {"Location": registry.url("/storage/1")}
    registry.arm("GET", r"/blobs/", endless(307, location, limit=LIMIT))
    registry.arm("GET", r"^/storage/1$", answer(200, data))
    descriptor = Descriptor(OCI_LAYER_GZIP, digest, len(data))
    with anonymous(registry) as client:
        result, error, peak = measured(lambda: client.get_blob("app", descriptor).read())
    assert (result, error) == (data, None)
    assert peak < 8 << 20
    assert_dropped(settled(registry, path="/blobs/"), MAX_ERROR_BODY)
    assert [s.status for s in registry.seen(path="/storage/")] == [200]


def test_a_config_blob_longer_than_its_descriptor(hostile: Hostile, isolated_auth: Path) -> None:
    """``inspect --config``: a config blob that never ends is cut at its descriptor's size
    (one byte beyond, to see it is longer) and refused."""
    registry = hostile()
    image = registry.serve_image("app", "1", config_answer=endless(limit=LIMIT))
    runner = CliRunner()
    args = ["inspect", "--tls-verify=false", "--config", f"docker://{registry.host}/app:1"]
    result, error, peak = measured(lambda: runner.invoke(main, args))
    assert error is None and isinstance(result, Result)
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        f"Error: blob {image['config']} is longer than its expected size {image['config_size']}\n",
    )
    assert_dropped(settled(registry, "GET", image["config"]), int(image["config_size"]))
    assert peak < 16 << 20


def test_the_behaviours_answer_what_they_say(hostile: Hostile) -> None:
    """A redirect, then the default 404 (the stall helper's tests rely on these too)."""
    registry = hostile()
    registry.arm("GET", r"^/r$", redirect("/s", 302))
    with anonymous(registry) as client:
        client.session.send("GET", registry.url("/r"), what="r", retry=False).close()
    assert [(s.target, s.status) for s in registry.settle()] == [("/r", 302), ("/s", 404)]


def test_a_stall_then_close_cuts_a_blob_where_it_says(hostile: Hostile) -> None:
    """The stall behaviour sends ``after_bytes`` of the body, waits, then closes."""
    registry = hostile()
    data = bytes(range(250)) * 4
    digest = Digest.from_bytes(data)
    registry.arm("GET", r"/blobs/", stall(0.1, body=data, after_bytes=100, then_close=True))
    descriptor = Descriptor(OCI_LAYER_GZIP, digest, len(data))
    with anonymous(registry) as client, pytest.raises(RegistryError) as caught:
        client.get_blob("app", descriptor).read()
    assert str(caught.value) == (
        f"{registry.host}: the connection ended after 100 of 1000 bytes of blob {digest} in "
        "app, and resuming did not succeed"
    )
    assert [(s.status, s.body_sent) for s in registry.settle()] == [(200, 100)]
