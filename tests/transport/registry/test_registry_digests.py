"""Digests a registry sends are validated before they are used, and checked against the bytes.

A real registry never sends a malformed or wrong ``Docker-Content-Digest``, so a small server
that answers every manifest request with the header it is given stands in for a hostile one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from boxwright.errors import DigestMismatchError, RegistryError
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import OCI_MANIFEST
from boxwright.transport.registry.client import RegistryClient

BODY = b'{"schemaVersion":2}'


class _Lying(ThreadingHTTPServer):
    said = ""  # the Docker-Content-Digest sent with every manifest answer


class _Handler(BaseHTTPRequestHandler):
    server: _Lying

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: bool) -> None:
        self.send_response(200)
        if self.path.startswith("/v2/r/manifests/"):
            self.send_header("Content-Type", OCI_MANIFEST)
            self.send_header("Docker-Content-Digest", self.server.said)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        if body:
            self.wfile.write(BODY)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)


@pytest.fixture
def lying() -> Iterator[_Lying]:
    server = _Lying(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("said", ["sha256:../../../../etc/passwd", "sha256:" + "A" * 64, "md5:0"])
def test_a_malformed_digest_header_is_refused(lying: _Lying, said: str) -> None:
    lying.said = said
    host = f"127.0.0.1:{lying.server_port}"
    with RegistryClient(host, scheme="http") as client:
        with pytest.raises(RegistryError) as got:
            client.get_manifest("r", "t")
        assert str(got.value).startswith(f"{host}: bad Docker-Content-Digest for manifest r:t: ")
        with pytest.raises(RegistryError) as headed:
            client.head_manifest("r", "t")
        assert str(headed.value) == str(got.value)


def test_a_wrong_digest_header_is_a_mismatch(lying: _Lying) -> None:
    other = Digest.from_bytes(b"something else")
    lying.said = str(other)
    with RegistryClient(f"127.0.0.1:{lying.server_port}", scheme="http") as client:
        with pytest.raises(DigestMismatchError, match="does not match its digest"):
            client.get_manifest("r", "t")
        wanted = Digest.from_bytes(BODY)
        with pytest.raises(DigestMismatchError) as asked:
            client.head_manifest("r", str(wanted))
    assert str(asked.value).endswith(f"asked for manifest {wanted}, the registry answered {other}")
    lying.said = str(Digest.from_bytes(BODY))
    with RegistryClient(f"127.0.0.1:{lying.server_port}", scheme="http") as client:
        assert client.get_manifest("r", "t") == (BODY, OCI_MANIFEST, Digest.from_bytes(BODY))
