"""Blob uploads: monolithic PUT, chunked PATCH, cross-repository mount, restart on failure.

The distribution API upload is a session: ``POST /v2/NAME/blobs/uploads/`` opens it (``202``
with a ``Location``), data goes in with ``PATCH`` (each answer gives the next ``Location``) or
with the closing ``PUT ?digest=``, and only a ``201`` from that PUT makes the blob exist. A
failed or abandoned session never becomes a visible blob, so an interrupted push leaves
nothing partial behind.

- The digest known up front and no chunk size: one streamed ``PUT ?digest=`` (fewest round
  trips; the registry checks the digest as well).
- A chunk size: ``PATCH`` pieces of that size with ``Content-Range``, then an empty ``PUT``
  (for proxies that limit request bodies).
- The digest unknown: one streamed ``PATCH``, hashed on the way, then ``PUT ?digest=``.

Bodies are streamed from the caller's stream in :data:`CHUNK` pieces and hashed as they go
(once: a stream that verifies itself against ``expected``, as the copy pipeline's source
readers do, is trusted instead of hashed again); the last piece is held back until the digest
and size are checked, so content that does not match ``expected`` is never completed on the
registry. A streamed request cannot be sent
twice, so a failed upload restarts as a whole (new session) when the stream can seek back;
when it cannot, the error is raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

from boxwright.errors import DigestMismatchError, RegistryError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import CHUNK, Digest, new_hasher
from boxwright.oci.mediatype import OCTET_STREAM
from boxwright.transport.registry.challenge import repository_scope
from boxwright.transport.registry.retry import RETRY_STATUSES
from boxwright.transport.registry.session import Session, with_query
from boxwright.transport.registry.wire import Answer

_RESTART_CODES = frozenset({"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"})


class _Counter:
    """Hash and size of what was sent, and the check against what was expected.

    A stream that verifies itself against the expected digest (a
    :class:`~boxwright.oci.digest.VerifyingReader`, or a wrapper forwarding its ``verifies``
    and ``verified``, as :class:`~boxwright.transport.atomic.BlobWriter` trusts them) is not
    hashed a second time: the check then requires the stream to have reached EOF verified.
    """

    def __init__(self, expected: Descriptor | None, algorithm: str, stream: object = None) -> None:
        self.expected = expected
        self.trusted: object = None
        if expected is not None and getattr(stream, "verifies", None) == expected.digest:
            self.trusted = stream
        self.hasher: Any = None if self.trusted is not None else new_hasher(algorithm)
        self.algorithm = algorithm
        self.size = 0

    def add(self, data: bytes) -> None:
        if self.hasher is not None:
            self.hasher.update(data)
        self.size += len(data)
        if self.expected is not None and self.size > self.expected.size:
            raise DigestMismatchError(
                f"blob {self.expected.digest} is longer than its expected size {self.expected.size}"
            )

    def digest(self) -> Digest:
        if self.hasher is None:
            assert self.expected is not None
            return self.expected.digest
        return Digest(self.algorithm, self.hasher.hexdigest())

    def check(self) -> None:
        expected = self.expected
        if expected is None:
            return
        if self.size != expected.size:
            raise DigestMismatchError(
                f"blob {expected.digest} is truncated: got {self.size} of {expected.size} bytes"
            )
        if self.trusted is not None:
            if getattr(self.trusted, "verified", False) is not True:
                raise DigestMismatchError(
                    f"blob {expected.digest} was not verified by its reader before EOF"
                )
            return
        got = self.digest()
        if got != expected.digest:
            raise DigestMismatchError(
                f"blob content does not match its digest: expected {expected.digest}, got {got}"
            )


def _body(stream: IO[bytes], counter: _Counter, limit: int | None = None) -> Iterator[bytes]:
    """Chunks of ``stream`` (at most ``limit`` bytes in all), the last one held back until
    the content was checked (when ``limit`` is None: the whole stream)."""
    held = b""
    left = limit
    while True:
        want = CHUNK if left is None else min(CHUNK, left)
        data = stream.read(want) if want > 0 else b""
        if not data:
            break
        counter.add(data)
        if left is not None:
            left -= len(data)
        if held:
            yield held
        held = data
    if limit is None:
        counter.check()
    if held:
        yield held


class Uploader:
    """Uploads for one repository of one session; ``pending`` holds sessions a mount left."""

    def __init__(self, session: Session, chunk_size: int | None) -> None:
        if chunk_size is not None and chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.session = session
        self.chunk_size = chunk_size

    def start(self, repo: str) -> str:
        """Open an upload session; its URL."""
        response = self.session.send(
            "POST",
            self.session.url(f"/v2/{repo}/blobs/uploads/"),
            what=f"a blob upload to {repo}",
            scopes=(repository_scope(repo, "pull,push"),),
            headers={"Content-Length": "0"},
            retry=True,
        )
        return self._location(response, repo, 202)

    def mount(self, repo: str, digest: Digest, from_repo: str) -> tuple[bool, str | None]:
        """Try a cross-repository mount: ``(True, None)`` when mounted, else ``(False, URL
        of the upload session the registry opened instead)``."""
        response = self.session.send(
            "POST",
            self.session.url(f"/v2/{repo}/blobs/uploads/"),
            what=f"mounting {digest} from {from_repo} into {repo}",
            scopes=(repository_scope(repo, "pull,push"), repository_scope(from_repo, "pull")),
            params={"mount": str(digest), "from": from_repo},
            headers={"Content-Length": "0"},
            retry=True,
        )
        if response.status_code == 201:
            response.close()
            return True, None
        return False, self._location(response, repo, 202)

    def upload(
        self,
        repo: str,
        stream: IO[bytes],
        expected: Descriptor | None,
        session_url: str | None = None,
    ) -> Descriptor:
        """Upload ``stream`` to ``repo``, restarting the whole upload on transient failures."""
        algorithm = expected.digest.algorithm if expected is not None else "sha256"
        start = _tell(stream)
        attempt = 0
        while True:
            counter = _Counter(expected, algorithm, stream)
            url = session_url if session_url is not None else self.start(repo)
            session_url = None
            try:
                digest = self._send(repo, url, stream, expected, counter)
            except RegistryError as e:
                _cancel(self.session, url, repo)
                if not _restartable(e) or not self.session.retries.wait(attempt):
                    raise
                if counter.size and (counter.trusted is not None or not _rewind(stream, start)):
                    raise RegistryError(
                        f"{e} (the upload cannot restart: its source stream cannot seek back)",
                        e.status,
                        e.code,
                    ) from None
                attempt += 1
                continue
            except BaseException:
                _cancel(self.session, url, repo)
                raise
            media_type = expected.media_type if expected is not None else OCTET_STREAM
            return Descriptor(media_type, digest, counter.size)

    def _send(
        self,
        repo: str,
        url: str,
        stream: IO[bytes],
        expected: Descriptor | None,
        counter: _Counter,
    ) -> Digest:
        """Upload ``stream`` to the session at ``url``: in one PUT when its descriptor is
        known and uploads are not chunked, else in a PATCH (or chunked PATCHes) closed by a
        PUT naming the digest measured on the way; return the digest the registry stored."""
        what = f"blob upload to {repo}"
        scopes = (repository_scope(repo, "pull,push"),)
        if expected is not None and self.chunk_size is None:
            headers = {"Content-Type": OCTET_STREAM, "Content-Length": str(expected.size)}
            response = self.session.send(
                "PUT",
                with_query(url, {"digest": str(expected.digest)}),
                what=f"blob {expected.digest} ({what})",
                scopes=scopes,
                headers=headers,
                content=_body(stream, counter),
            )
            return self._finished(response, repo, expected.digest)
        if self.chunk_size is None:
            response = self.session.send(
                "PATCH",
                url,
                what=what,
                scopes=scopes,
                headers={"Content-Type": OCTET_STREAM},
                content=_body(stream, counter),
            )
            url = self._location(response, repo, 202)
        else:
            url = self._send_chunks(repo, url, stream, counter, self.chunk_size, scopes)
            counter.check()
        digest = counter.digest()
        response = self.session.send(
            "PUT",
            with_query(url, {"digest": str(digest)}),
            what=f"blob {digest} ({what})",
            scopes=scopes,
            headers={"Content-Length": "0"},
            content=b"",
            retry=False,
        )
        return self._finished(response, repo, digest)

    def _send_chunks(
        self,
        repo: str,
        url: str,
        stream: IO[bytes],
        counter: _Counter,
        chunk_size: int,
        scopes: tuple[str, ...],
    ) -> str:
        """PATCH ``stream`` to the upload at ``url`` in ``chunk_size`` pieces, each with its
        Content-Range and none retried; return the location that takes the closing PUT."""
        what = f"blob upload to {repo}"
        while True:
            chunk = _read_exactly(stream, chunk_size)
            if not chunk:
                return url
            first = counter.size
            counter.add(chunk)
            response = self.session.send(
                "PATCH",
                url,
                what=what,
                scopes=scopes,
                headers={
                    "Content-Type": OCTET_STREAM,
                    "Content-Range": f"{first}-{first + len(chunk) - 1}",
                    "Content-Length": str(len(chunk)),
                },
                content=chunk,
                retry=False,
            )
            url = self._location(response, repo, 202)

    def _finished(self, response: Answer, repo: str, digest: Digest) -> Digest:
        if response.status_code not in (201, 204):
            raise self.session.failure(response, f"blob {digest} (upload to {repo})")
        said = response.headers.get("docker-content-digest")
        response.close()
        if said and said != str(digest):
            raise DigestMismatchError(
                f"{self.session.host}: the registry stored blob {said} for an upload of {digest}"
            )
        return digest

    def _location(self, response: Answer, repo: str, want: int) -> str:
        if response.status_code != want:
            raise self.session.failure(response, f"a blob upload to {repo}")
        location = response.headers.get("location")
        response.close()
        if not location:
            raise RegistryError(f"{self.session.host}: an upload answer has no Location header")
        return self.session.resolve(location)


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    parts = bytearray()
    while len(parts) < n:
        data = stream.read(n - len(parts))
        if not data:
            break
        parts += data
    return bytes(parts)


def _restartable(error: RegistryError) -> bool:
    """Failures a fresh upload session may get past: lost connections, 5xx/429, an expired
    token, a session the registry forgot."""
    return (
        error.status == 0
        or error.status in RETRY_STATUSES
        or error.status == 401
        or error.code in _RESTART_CODES
    )


def _tell(stream: IO[bytes]) -> int | None:
    try:
        return stream.tell() if stream.seekable() else None
    except (OSError, AttributeError, ValueError):
        return None


def _rewind(stream: IO[bytes], start: int | None) -> bool:
    if start is None:
        return False
    try:
        stream.seek(start)
    except (OSError, ValueError):
        return False
    return True


def _cancel(session: Session, url: str, repo: str) -> None:
    """Abandon an upload session (best effort: the registry purges forgotten ones anyway)."""
    scopes = (repository_scope(repo, "pull,push"),)
    with contextlib.suppress(Exception):
        session.send("DELETE", url, what="cancelling an upload", retry=False, scopes=scopes).close()
