"""The distribution API client: manifests, blobs, uploads, mounts, tags, catalog, referrers.

:class:`RegistryClient` knows HTTP and the OCI distribution spec (Docker registry API v2),
not images: the ``docker://`` transport builds on it. One client talks to one registry host
and is safe to share between threads (the copy pipeline moves blobs in parallel).

Everything it hands out is verified: a manifest against the ``Docker-Content-Digest`` the
registry sent and the digest the caller asked for, a blob (as it is read) against its
descriptor. Every failure is a :class:`~boxwright.errors.TransportError` subclass with one line
naming the registry and the object: :class:`~boxwright.errors.ImageNotFoundError`,
:class:`~boxwright.errors.BlobNotFoundError`, :class:`~boxwright.errors.AuthenticationError`,
:class:`~boxwright.errors.TLSError` or :class:`~boxwright.errors.RegistryError`.

Example::

    client = RegistryClient("localhost:5000", insecure=True)
    raw, media_type, digest = client.get_manifest("library/alpine", "latest")
    client.close()
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, cast

from boxwright._closing import Closing
from boxwright._numbers import ascii_int
from boxwright.errors import (
    BlobNotFoundError,
    DigestError,
    DigestMismatchError,
    ImageNotFoundError,
    RegistryError,
)
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest, VerifyingReader, verify_bytes
from boxwright.oci.mediatype import MANIFEST_TYPES, OCI_INDEX
from boxwright.transport.registry.blobs import ResumingReader
from boxwright.transport.registry.capped import read_capped
from boxwright.transport.registry.challenge import CATALOG_SCOPE, repository_scope
from boxwright.transport.registry.failures import NetworkFailure, network_error
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.session import Session, TLSSettingsLike, with_query
from boxwright.transport.registry.stall import StallPolicy
from boxwright.transport.registry.uploads import Uploader
from boxwright.transport.registry.wire import Answer

if TYPE_CHECKING:
    from boxwright.transport.registry.auth import CredentialsLike

MAX_MANIFEST_SIZE = 4 << 20
"""containers/image's limit for a manifest body; a bigger answer is refused, not buffered."""
MAX_LIST_SIZE = 16 << 20
"""The most bytes of one page of a tag list or the catalog read into memory."""
API_VERSION_HEADER = "docker-distribution-api-version"
PAGE_SIZE = 1000


class RegistryClient(Closing):
    """A client of one registry (see the module docstring).

    ``host`` is ``HOST[:PORT]``. ``scheme`` None means HTTPS, falling back to plain HTTP only
    when ``insecure`` (which also turns certificate checks off); ``tls`` holds the certs.d
    settings (CAs, client certificate, verify). ``credentials`` None is anonymous access.
    ``chunk_size`` makes uploads go in ``PATCH`` pieces of that many bytes instead of one PUT.
    ``retries`` bounds the tries of every request (and of a blob download across its resumes),
    ``stall`` how little a transfer may move before it counts as stalled, ``timeout`` how long
    to wait to connect and for the answer to a request that sent something (an upload).
    ``marked_insecure(host_port)`` says whether the user marked another ``host:port``
    insecure (registries.conf), which lets a token realm there get credentials over plain
    HTTP (see :mod:`.origin`).
    """

    # Session's keywords again (and chunk_size): callers build a client from one set of options.
    def __init__(
        self,
        host: str,
        *,
        scheme: str | None = None,
        insecure: bool = False,
        tls: TLSSettingsLike | None = None,
        credentials: CredentialsLike | None = None,
        retries: RetryPolicy | None = None,
        timeout: float = 60,
        chunk_size: int | None = None,
        stall: StallPolicy | None = None,
        marked_insecure: Callable[[str], bool] | None = None,
    ) -> None:
        self.host = host
        self._session = Session(
            host,
            scheme=scheme,
            insecure=insecure,
            tls=tls,
            credentials=credentials,
            retries=retries,
            timeout=timeout,
            stall=stall,
            marked_insecure=marked_insecure,
        )
        self._uploader = Uploader(self._session, chunk_size)
        self._pending: dict[tuple[str, Digest], str] = {}
        self._pending_lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``https`` or ``http``: how this client reaches the registry."""
        return self._session.scheme

    @property
    def session(self) -> Session:
        """The HTTP session (auth state, retry policy), for tests and diagnostics."""
        return self._session

    def _fail(self, response: Answer, what: str, not_found: type[Exception] | None) -> Exception:
        return self._session.failure(response, what, not_found)

    def _request(
        self, method: str, path: str, what: str, scopes: tuple[str, ...], **kw: Any
    ) -> Answer:
        """``method`` on ``path`` (``/v2/...``) of this registry; see :meth:`Session.send`."""
        return self._session.send(method, self._session.url(path), what=what, scopes=scopes, **kw)

    def _pull_or_none(
        self,
        method: str,
        repo: str,
        path: str,
        what: str,
        not_found: type[Exception] | None = None,
        **kw: Any,
    ) -> Answer | None:
        """``method`` on ``path`` with pull access to ``repo``: the ``200`` answer, or None
        (the answer closed) for a ``404``; any other status raises its typed error."""
        response = self._request(method, path, what, (repository_scope(repo, "pull"),), **kw)
        if response.status_code == 404:
            response.close()
            return None
        if response.status_code != 200:
            raise self._fail(response, what, not_found)
        return response

    # -- registry ----------------------------------------------------------------------------

    def ping(self) -> str:
        """Check that the host is a v2 registry and that the credentials (if any) work.

        Returns the ``Docker-Distribution-API-Version`` header (``registry/2.0``, or "" for
        registries that do not send it). Raises :class:`AuthenticationError` when the
        registry requires credentials that are missing or refused.
        """
        response = self._request("GET", "/v2/", "the API endpoint /v2/", ())
        if response.status_code != 200:
            raise self._fail(response, "the API endpoint /v2/", None)
        version: str = response.headers.get(API_VERSION_HEADER, "")
        response.close()
        if version and not version.startswith("registry/2."):
            raise RegistryError(f"{self.host}: unsupported registry API version {version!r}")
        return version

    # -- manifests ---------------------------------------------------------------------------

    def get_manifest(
        self, repo: str, ref: str, accept: Iterable[str] = MANIFEST_TYPES
    ) -> tuple[bytes, str, Digest]:
        """The raw bytes, media type and digest of manifest ``ref`` (a tag or a digest).

        The bytes are checked against ``ref`` when it is a digest and against the
        ``Docker-Content-Digest`` the registry sent; the media type is the answer's
        ``Content-Type`` without parameters.
        """
        wanted = _digest_ref(ref)
        response, what = self._manifest_request(
            "GET", repo, ref, "pull", headers={"Accept": ", ".join(sorted(accept))}
        )
        if response.status_code != 200:
            raise self._fail(response, what, ImageNotFoundError)
        said = response.headers.get("docker-content-digest")
        media_type = _media_type(response.headers)
        raw = _read_bounded(response, MAX_MANIFEST_SIZE, self.host, what)
        if wanted is not None:
            verify_bytes(raw, wanted)
        digest = wanted or Digest.from_bytes(raw)
        if said:
            header = self._said_digest(said, what)
            verify_bytes(raw, header)
            if wanted is None:
                digest = header
        return raw, media_type, digest

    def _manifest_request(
        self, method: str, repo: str, ref: str, action: str, **kw: Any
    ) -> tuple[Answer, str]:
        """``method`` on manifest ``ref`` (a tag or a digest) of ``repo``, with the token scope
        ``action``: the answer, and the words that name the manifest in errors."""
        what = f"manifest {repo}{_sep(ref)}{ref}"
        scopes = (repository_scope(repo, action),)
        return self._request(method, f"/v2/{repo}/manifests/{ref}", what, scopes, **kw), what

    def _said_digest(self, said: str, what: str) -> Digest:
        """The ``Docker-Content-Digest`` a registry sent for ``what``, parsed."""
        try:
            return Digest.parse(said)
        except DigestError as e:
            raise RegistryError(f"{self.host}: bad Docker-Content-Digest for {what}: {e}") from None

    def head_manifest(
        self, repo: str, ref: str, accept: Iterable[str] = MANIFEST_TYPES
    ) -> Descriptor | None:
        """What manifest ``ref`` is (media type, digest, size), or ``None`` when it does not
        exist; one request, no body. A registry that sends no digest costs one GET."""
        what = f"manifest {repo}{_sep(ref)}{ref}"
        response = self._pull_or_none(
            "HEAD",
            repo,
            f"/v2/{repo}/manifests/{ref}",
            what,
            ImageNotFoundError,
            headers={"Accept": ", ".join(sorted(accept))},
        )
        if response is None:
            return None
        response.close()
        media_type = _media_type(response.headers)
        said = response.headers.get("docker-content-digest")
        length = content_length(response.headers)
        wanted = _digest_ref(ref)
        if said and length is not None:
            digest = self._said_digest(said, what)
            if wanted is not None and digest != wanted:
                raise DigestMismatchError(
                    f"{self.host}: asked for manifest {wanted}, the registry answered {digest}"
                )
            return Descriptor(media_type, digest, int(length))
        raw, media_type, digest = self.get_manifest(repo, ref, accept)
        return Descriptor(media_type, digest, len(raw))

    def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str) -> Digest:
        """Store manifest ``raw`` under ``ref`` (a tag, or its own digest); its digest."""
        digest = Digest.from_bytes(raw)
        wanted = _digest_ref(ref)
        if wanted is not None:
            verify_bytes(raw, wanted)
            digest = wanted
        response, what = self._manifest_request(
            "PUT", repo, ref, "pull,push", headers={"Content-Type": media_type}, content=raw
        )
        if response.status_code not in (200, 201, 202, 204):
            raise self._fail(response, what, None)
        said = response.headers.get("docker-content-digest")
        response.close()
        if said and said != str(digest) and said.split(":")[0] == digest.algorithm:
            raise DigestMismatchError(
                f"{self.host}: the registry stored manifest {said} for {what} ({digest})"
            )
        return digest

    def delete_manifest(self, repo: str, digest: Digest) -> None:
        """Delete manifest ``digest`` (and with it every tag pointing at it)."""
        response, what = self._manifest_request("DELETE", repo, str(digest), "delete")
        # Unlike a PUT, a DELETE has no 201 (nothing is created), and 405 is its own answer:
        # the registry serves the manifest but has deletes switched off.
        if response.status_code in (200, 202, 204):
            response.close()
            return
        if response.status_code == 405:
            response.close()
            raise RegistryError(
                f"{self.host}: deleting {what} is not allowed (deletes are disabled there)", 405
            )
        raise self._fail(response, what, ImageNotFoundError)

    # -- blobs -------------------------------------------------------------------------------

    def get_blob(self, repo: str, descriptor: Descriptor) -> IO[bytes]:
        """A stream of the blob, verified against ``descriptor`` as it is read.

        Redirects are followed (the ``Authorization`` header is not sent to another host); a
        connection that drops mid-blob is resumed with ``Range`` requests. The stream raises
        :class:`DigestMismatchError` at its end when the bytes are wrong.
        """
        digest = descriptor.digest
        what = f"blob {digest} in {repo}"
        scopes = (repository_scope(repo, "pull"),)
        url = self._session.url(f"/v2/{repo}/blobs/{digest}")
        response = self._session.send("GET", url, what=what, scopes=scopes)
        if response.status_code == 206:
            response.close()
            raise RegistryError(f"{self.host}: answered 206 to a whole-blob GET of {what}")
        if response.status_code != 200:
            raise self._fail(response, what, BlobNotFoundError)
        reader = ResumingReader(
            self._session, url, size=descriptor.size, what=what, scopes=scopes, response=response
        )
        stream = cast(IO[bytes], reader)
        return cast(IO[bytes], VerifyingReader(stream, digest, descriptor.size))

    def head_blob(self, repo: str, digest: Digest) -> int | None:
        """The size of blob ``digest`` in ``repo``, or ``None`` when it is not there."""
        what = f"blob {digest} in {repo}"
        response = self._pull_or_none("HEAD", repo, f"/v2/{repo}/blobs/{digest}", what)
        if response is None:
            return None
        response.close()
        length = content_length(response.headers)
        if length is None:
            raise RegistryError(f"{self.host}: no Content-Length for {what}")
        return length

    def upload_blob(
        self, repo: str, stream: IO[bytes], expected: Descriptor | None = None
    ) -> Descriptor:
        """Upload ``stream`` as a blob of ``repo``; the descriptor of what was stored.

        With ``expected`` the content is checked against its digest and size before the
        registry completes the blob (one streamed ``PUT``, or ``PATCH`` chunks when the
        client has a ``chunk_size``); without it the digest is computed on the way. An
        upload session left open by :meth:`mount_blob` for the same digest is used.
        """
        session_url = None
        if expected is not None:
            with self._pending_lock:
                session_url = self._pending.pop((repo, expected.digest), None)
        return self._uploader.upload(repo, stream, expected, session_url)

    def mount_blob(self, repo: str, digest: Digest, from_repo: str) -> bool:
        """Mount blob ``digest`` from ``from_repo`` into ``repo`` (same registry).

        True when mounted. False when the registry opened an upload session instead (the
        blob is not in ``from_repo``, or mounts are not allowed): the next
        :meth:`upload_blob` of that digest to ``repo`` uses that session.
        """
        mounted, session_url = self._uploader.mount(repo, digest, from_repo)
        if not mounted and session_url is not None:
            with self._pending_lock:
                self._pending[(repo, digest)] = session_url
        return mounted

    # -- listing -----------------------------------------------------------------------------

    def list_tags(self, repo: str) -> Iterator[str]:
        """Every tag of ``repo``, following ``Link`` pagination on this registry's origin.

        Each page is read into memory up to :data:`MAX_LIST_SIZE` bytes; a bigger one is
        refused with a :class:`RegistryError`."""
        yield from self._paged(
            f"/v2/{repo}/tags/list",
            "tags",
            f"the tags of {repo}",
            (repository_scope(repo, "pull"),),
        )

    def catalog(self) -> Iterator[str]:
        """Every repository the registry lists (``/v2/_catalog``), following pagination."""
        yield from self._paged("/v2/_catalog", "repositories", "the catalog", (CATALOG_SCOPE,))

    def _paged(self, path: str, key: str, what: str, scopes: tuple[str, ...]) -> Iterator[str]:
        url: str | None = with_query(self._session.url(path), {"n": str(PAGE_SIZE)})
        seen: set[str] = set()
        while url is not None:
            if url in seen:
                raise RegistryError(f"{self.host}: the pages of {what} link back in a loop")
            seen.add(url)
            response = self._session.send("GET", url, what=what, scopes=scopes)
            if response.status_code != 200:
                raise self._fail(response, what, ImageNotFoundError)
            link = next_link(response.headers)
            body = _read_bounded(response, MAX_LIST_SIZE, self.host, what)
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):
                raise RegistryError(f"{self.host}: {what} is not valid JSON") from None
            items = doc.get(key) if isinstance(doc, dict) else None
            if items is None:
                items = []
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise RegistryError(f"{self.host}: {what}: {key!r} is not a list of strings")
            yield from items
            # The next page's path and query, on this registry's own origin (as
            # containers/image does): a Link cannot send the request, and its credentials,
            # to another host or scheme.
            url = self._session.origins.page(link, url) if link else None

    def referrers(self, repo: str, digest: Digest, artifact_type: str = "") -> bytes | None:
        """The referrers index of ``digest`` (OCI 1.1), or ``None`` when the registry does
        not offer the referrers API (404)."""
        what = f"the referrers of {repo}@{digest}"
        params = {"artifactType": artifact_type} if artifact_type else None
        response = self._pull_or_none(
            "GET",
            repo,
            f"/v2/{repo}/referrers/{digest}",
            what,
            headers={"Accept": OCI_INDEX},
            params=params,
        )
        if response is None:
            return None
        return _read_bounded(response, MAX_MANIFEST_SIZE, self.host, what)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections."""
        self._session.close()


def content_length(headers: Mapping[str, str]) -> int | None:
    """An answer's ``Content-Length`` as a number; None when it is missing or not ASCII digits."""
    return ascii_int(headers.get("content-length", "").strip())


def _media_type(headers: Mapping[str, str]) -> str:
    """An answer's ``Content-Type`` without parameters (``; charset=...``)."""
    return headers.get("content-type", "").split(";")[0].strip()


def _digest_ref(ref: str) -> Digest | None:
    """The digest a reference names, or ``None`` for a tag."""
    if ":" not in ref:
        return None
    return Digest.parse(ref)


def _sep(ref: str) -> str:
    return "@" if ":" in ref else ":"


def _read_bounded(response: Answer, limit: int, host: str, what: str) -> bytes:
    """A small body, whole (one cut short is an error, not data); closes the answer."""
    try:
        data = read_capped(response, limit)
    except NetworkFailure as e:
        raise network_error(e, host, what, 0) from None
    if len(data) > limit:
        raise RegistryError(f"{host}: {what} is larger than {limit} bytes; refused")
    length = content_length(response.headers)
    if length is not None and length != len(data):
        raise RegistryError(
            f"{host}: the connection broke during {what}: got {len(data)} of {length} bytes"
        )
    return data


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?')


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` target of an answer's ``Link`` header (pagination), or None."""
    for match in _LINK.finditer(headers.get("link", "")):
        for rel in _NEXT.finditer(match.group(2)):
            if "next" in rel.group(1).split():
                return match.group(1)
    return None
