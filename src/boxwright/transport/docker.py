"""The ``docker://`` transport: images in a registry, read and written through the client.

``docker://HOST/REPO[:TAG|@DIGEST]`` is parsed with the distribution grammar (``busybox`` is
``docker.io/library/busybox:latest``), then resolved through registries.conf: a ``location``
rewrites the name, ``blocked`` refuses it, ``insecure`` allows plain HTTP and untrusted
certificates; pulls try the mirrors first, in order, then the primary. Credentials come from
the options (``--creds``) or the auth files (:class:`~boxwright.config.auth.AuthStore`), TLS
from the options (``--tls-verify``, ``--cert-dir``) or the certs.d directories.

The source reads the top manifest by tag or digest, child manifests by digest (verified
against the digest asked for), and blobs through the client's verifying stream.

The destination stores every manifest type and indexes. It skips blobs the registry has (a
HEAD), and instead of uploading a blob that another repository of the same registry holds it
mounts it (cross-repository mount), knowing such repositories from the persistent
:mod:`~boxwright.transport.blobinfocache` and from the sources open in this process. Child
manifests are pushed by digest; :meth:`DockerDestination.commit` pushes the top manifest under
the tag (or by digest). :meth:`DockerDestination.current_manifest` answers, with one HEAD,
what the tag names now, so that a copy of an image the registry already has does nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, cast

from boxwright._log import Logger
from boxwright.config.auth import AuthStore
from boxwright.config.certs import TLSSettings, read_cert_dir, tls_settings_for
from boxwright.config.registries import RegistriesConfig
from boxwright.config.trust import RegistriesD
from boxwright.errors import (
    ImageNotFoundError,
    InvalidReferenceError,
    RegistryError,
    SignatureError,
    TransportError,
    UsageError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest, verify_bytes
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.readers import PassThroughReader, Reader, VerifyingStream
from boxwright.oci.reference import Reference
from boxwright.transport.base import (
    HasBlobInfoCache,
    HoldsReferrers,
    KnowsCurrentManifest,
    ListsRepositoryTags,
    PutsConfigWithLayers,
    StoresReferrers,
)
from boxwright.transport.blobinfocache import BlobInfoCache, shared_cache
from boxwright.transport.options import TransportOptions
from boxwright.transport.reference import parse_transport_reference
from boxwright.transport.registry.client import RegistryClient
from boxwright.transport.registry.referrers import Referrer, add_to_tag_index, registry_referrers
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.stall import StallPolicy

if TYPE_CHECKING:
    from boxwright.transport.reference import TransportReference
    from boxwright.transport.registry.client import RegistryClient

_LOG = Logger(__name__)

SUPPORTED_MANIFEST_TYPES = (*mt.SCHEMA2_MANIFEST_TYPES, *mt.INDEX_TYPES)
"""What a registry stores, the preferred first (containers/image's docker destination order)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One place to talk to: ``host`` (``HOST[:PORT]``), ``repo`` inside it, and whether
    plain HTTP and unverified TLS are allowed there."""

    host: str
    repo: str
    insecure: bool

    @property
    def name(self) -> str:
        """``host/repo``, as registries.conf and the cache name it."""
        return f"{self.host}/{self.repo}"


def resolve_endpoints(
    ref: Reference, options: TransportOptions | None = None, *, pull: bool
) -> list[Endpoint]:
    """Where ``ref`` lives, per registries.conf: for a pull the mirrors in order then the
    primary, for a push the primary only. A blocked registry raises
    :class:`~boxwright.errors.ConfigError`."""
    opts = options or TransportOptions()
    config = RegistriesConfig.load(opts.registries_conf)
    name = str(ref)
    sources = config.pull_sources(name) if pull else [config.push_destination(name)]
    endpoints = []
    for source in sources:
        located = Reference.parse(source.reference)
        if not located.domain:
            raise InvalidReferenceError(
                f"registries.conf rewrites {ref.name} to {source.reference!r}, "
                "which names no registry host"
            )
        endpoints.append(Endpoint(located.domain, located.path, bool(source.insecure)))
    return endpoints


def _tls_settings(host: str, options: TransportOptions, insecure: bool) -> TLSSettings:
    """TLS for ``host``: the options' cert dir when given, else certs.d; verification off
    when ``--tls-verify=false`` or registries.conf says ``insecure``."""
    verify = options.tls_verify
    if verify is None and insecure:
        verify = False
    if options.cert_dir is None:
        return tls_settings_for(host, verify)
    directory = Path(options.cert_dir)
    if not directory.is_dir():
        raise UsageError(f"certificate directory {directory} does not exist")
    cas, client = read_cert_dir(directory)
    return TLSSettings(verify=verify is not False, ca_files=cas, client_cert=client)


def make_client(endpoint: Endpoint, options: TransportOptions | None = None) -> RegistryClient:
    """A :class:`RegistryClient` for ``endpoint`` with the options' credentials, TLS, retries
    and stall window."""
    opts = options or TransportOptions()
    credentials = opts.credentials
    if credentials is None:
        credentials = AuthStore(opts.authfile).lookup(endpoint.name)
    insecure = endpoint.insecure or opts.tls_verify is False
    kwargs: dict[str, Any] = {}
    if opts.retries is not None or opts.retry_delay is not None:
        kwargs["retries"] = RetryPolicy.from_options(opts.retries, opts.retry_delay)
    if opts.stall_timeout is not None:
        kwargs["stall"] = StallPolicy(seconds=opts.stall_timeout)

    def marked_insecure(host_port: str) -> bool:
        return RegistriesConfig.load(opts.registries_conf).is_insecure(host_port)

    return RegistryClient(
        endpoint.host,
        insecure=insecure,
        tls=_tls_settings(endpoint.host, opts, endpoint.insecure),
        credentials=credentials,
        chunk_size=opts.chunk_size,
        marked_insecure=marked_insecure,
        **kwargs,
    )


def _cache_for(options: TransportOptions) -> BlobInfoCache:
    if not options.use_blob_info_cache:
        return shared_cache(None, use_default=False)
    return shared_cache(options.blob_info_cache)


def _docker_ref(ref: TransportReference | Reference | str) -> Reference:
    if isinstance(ref, Reference):
        return ref
    if isinstance(ref, str):
        if not ref.startswith("docker://"):
            ref = "docker://" + ref
        ref = parse_transport_reference(ref)
    docker = ref.docker_reference
    if ref.transport != "docker" or docker is None:
        raise InvalidReferenceError(f"{ref} is not a registry reference (docker://...)")
    return docker


def _image_manifest_blobs(raw: bytes, media_type: str) -> list[Digest]:
    """The config and layer digests an image manifest names ([] for anything else)."""
    if media_type not in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST):
        return []

    try:
        manifest = ImageManifest.parse(raw, media_type)
    except Exception:  # a manifest the copy will reject with its own error
        return []
    return [manifest.config.digest, *(layer.digest for layer in manifest.layers)]


class _Recording(PassThroughReader):
    """Passes a verifying blob stream through; at its verified EOF, calls ``on_verified``
    (which records the location)."""

    def __init__(self, stream: Reader, on_verified: Callable[[], None]) -> None:
        super().__init__(stream)
        self._on_verified = on_verified
        self._done = False

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if not data and not self._done and (n is None or n != 0):
            self._done = True
            if self.verified:
                try:
                    self._on_verified()
                except Exception as error:  # the cache never fails a copy
                    _LOG.debug("blob-info cache: %s", error)
        return data


class DockerSource(HasBlobInfoCache, ListsRepositoryTags, HoldsReferrers):
    """Reads one image (or index) from a registry; mirrors are tried in order."""

    def __init__(self, ref: Reference, options: TransportOptions | None = None) -> None:
        self.reference = ref
        self.options = options or TransportOptions()
        self._cache = _cache_for(self.options)
        self._endpoints = resolve_endpoints(ref, self.options, pull=True)
        self._endpoint: Endpoint | None = None
        self._client: RegistryClient | None = None
        self._top: tuple[bytes, str] | None = None

    @property
    def name(self) -> str:
        return f"docker://{self.reference}"

    @property
    def endpoint(self) -> Endpoint:
        """Where the image was found (resolved on the first manifest read)."""
        self._resolve()
        assert self._endpoint is not None
        return self._endpoint

    @property
    def client(self) -> RegistryClient:
        """The client talking to :attr:`endpoint`."""
        self._resolve()
        assert self._client is not None
        return self._client

    def _ref_string(self) -> str:
        ref = self.reference
        return str(ref.digest) if ref.digest is not None else ref.tag or "latest"

    def _resolve(self) -> None:
        """Fetch the top manifest from the first endpoint that has it (mirrors, then primary)."""
        if self._client is not None:
            return
        last: Exception | None = None
        for endpoint in self._endpoints:
            client = make_client(endpoint, self.options)
            try:
                raw, media_type, _ = client.get_manifest(endpoint.repo, self._ref_string())
            except TransportError as error:
                client.close()
                if len(self._endpoints) > 1:
                    _LOG.info("%s: %s; trying the next location", endpoint.name, error)
                last = error
                continue
            if self.reference.digest is not None:
                verify_bytes(raw, self.reference.digest)
            self._endpoint, self._client, self._top = endpoint, client, (raw, media_type)
            self._hint(raw, media_type)
            return
        assert last is not None
        if isinstance(last, RegistryError) and last.status == 404:
            raise ImageNotFoundError(f"{self.name}: no such image ({last})") from last
        raise last

    def _hint(self, raw: bytes, media_type: str) -> None:
        assert self._endpoint is not None
        blobs = _image_manifest_blobs(raw, media_type)
        if blobs:
            self._cache.add_hint(self._endpoint.host, self._endpoint.repo, blobs)

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        self._resolve()
        if digest is None:
            assert self._top is not None
            return self._top
        assert self._endpoint is not None and self._client is not None
        raw, media_type, _ = self._client.get_manifest(self._endpoint.repo, str(digest))
        verify_bytes(raw, digest)
        self._hint(raw, media_type)
        return raw, media_type

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        endpoint, client = self.endpoint, self.client
        stream = client.get_blob(endpoint.repo, descriptor)

        def record() -> None:
            self._cache.record_location(endpoint.host, endpoint.repo, descriptor.digest)

        return _Recording(stream, record)

    @property
    def blob_info_cache(self) -> BlobInfoCache:
        """The cache of blob locations and digest pairs this source records in."""
        return self._cache

    def get_signatures(self, digest: Digest | None = None) -> list[bytes]:
        """The signatures of the top manifest (or of ``digest``): the lookaside's that
        registries.d names, then the sigstore attachments when it turns them on."""
        # The signature formats load only where signatures are read or written: a push that
        # carries none needs neither (docs/performance.md, "What the mount push spends").
        from boxwright.transport.registry.signatures import read_attachments, read_lookaside

        if digest is None:
            raw, _ = self.get_manifest()
            digest = self.reference.digest or Digest.from_bytes(raw)
        config = RegistriesD.load(self.options.registries_d)
        found = read_lookaside(config.lookaside(self.reference, write=False), digest)
        if config.use_sigstore_attachments(self.reference):
            found += read_attachments(self.client, self.endpoint.repo, digest)
        return found

    def get_referrers(self, digest: Digest) -> list[Descriptor]:
        """The referrers of ``digest``: the referrers API, else the tag schema's index."""
        found, _ = registry_referrers(self.client, self.endpoint.repo, digest)
        return [referrer.descriptor() for referrer in found]

    def registry_tags(self) -> list[str]:
        """Every tag of the repository (for ``inspect``'s RepoTags, as skopeo lists them)."""
        return list(self.client.list_tags(self.endpoint.repo))

    def close(self) -> None:
        self._cache.flush()
        if self._client is not None:
            self._client.close()


class DockerDestination(
    KnowsCurrentManifest, HasBlobInfoCache, PutsConfigWithLayers, StoresReferrers
):
    """Writes one image (or index) to a registry; nothing is tagged before :meth:`commit`."""

    def __init__(self, ref: Reference, options: TransportOptions | None = None) -> None:
        self.reference = ref
        self.options = options or TransportOptions()
        self.endpoint = resolve_endpoints(ref, self.options, pull=False)[0]
        self._cache = _cache_for(self.options)
        self._client: RegistryClient | None = None
        self._client_lock = threading.Lock()
        self._lock = threading.Lock()
        self._present: set[Digest] = set()
        self._manifests: dict[Digest, tuple[bytes, str]] = {}
        self._pending: Digest | None = None
        self._pushed: set[Digest] = set()
        self._current: Descriptor | None = None
        self._signatures: dict[Digest, list[bytes]] = {}
        self.mounted: list[Digest] = []
        """Blobs this destination mounted from another repository instead of uploading."""
        self.uploaded: list[Digest] = []
        """Blobs this destination uploaded."""

    @property
    def name(self) -> str:
        return f"docker://{self.reference}"

    @property
    def client(self) -> RegistryClient:
        """The client for the destination registry, made on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = make_client(self.endpoint, self.options)
            return self._client

    supported_manifest_types: Final[Sequence[str]] = SUPPORTED_MANIFEST_TYPES
    supports_index: Final[bool] = True
    required_compression: Final[str | None] = None
    desired_compression: Final[str | None] = "gzip"

    @property
    def blob_info_cache(self) -> BlobInfoCache:
        """The cache of blob locations and digest pairs this destination uses."""
        return self._cache

    config_with_layers: Final = True
    """The copy pipeline puts the config blob while the layers are still moving: each blob
    costs a few requests here, which then overlap with the layers instead of following them
    (a copy that fails leaves an unreferenced config, as it may leave layers)."""

    def current_manifest(self) -> Descriptor | None:
        """What the reference names in the registry now (one HEAD), or None if nothing."""
        ref = self.reference
        target = str(ref.digest) if ref.digest is not None else ref.tag or "latest"
        self._current = self.client.head_manifest(self.endpoint.repo, target)
        return self._current

    # -- blobs -------------------------------------------------------------------------------

    def has_blob(self, descriptor: Descriptor) -> bool:
        """Whether the repository has the blob (with the descriptor's size), after mounting it
        from another repository of the same registry when one is known to hold it.

        A known holder is asked first: a mount that succeeds answers in one request what a
        ``HEAD`` and then the mount would answer in two (a blob the repository already holds
        mounts too). Only when no mount succeeds does a ``HEAD`` ask the repository itself.
        """
        digest = descriptor.digest
        with self._lock:
            if digest in self._present:
                return True
        host, repo = self.endpoint.host, self.endpoint.repo
        client = self.client
        for source_repo in self._cache.candidate_repos(host, digest, exclude=repo):
            try:
                mounted = client.mount_blob(repo, digest, source_repo)
            except RegistryError as error:
                _LOG.debug("mount of %s from %s failed: %s", digest, source_repo, error)
                mounted = False
            if mounted:
                self._note_present(digest)
                with self._lock:
                    self.mounted.append(digest)
                return True
            self._cache.forget_location(host, source_repo, digest)
        size = client.head_blob(repo, digest)
        if size is not None and size == descriptor.size:
            self._note_present(digest)
            return True
        return False

    def _note_present(self, digest: Digest) -> None:
        with self._lock:
            self._present.add(digest)
        self._cache.record_location(self.endpoint.host, self.endpoint.repo, digest)

    def put_blob(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        # The client reads the upload and nothing more; its parameter is typed IO[bytes].
        upload = cast(IO[bytes], stream)
        stored = self.client.upload_blob(self.endpoint.repo, upload, descriptor)
        if descriptor is not None:
            stored = descriptor.with_(digest=stored.digest, size=stored.size)
        with self._lock:
            self.uploaded.append(stored.digest)
        self._note_present(stored.digest)
        return stored

    # -- manifests ---------------------------------------------------------------------------

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        """Keep the manifest; push the one before it by digest (children go before the index
        that names them, and the last one, the top, waits for :meth:`commit` and its tag)."""
        digest = Digest.from_bytes(raw)
        with self._lock:
            self._manifests[digest] = (raw, media_type)
            previous, self._pending = self._pending, digest
        if previous is not None and previous != digest:
            self._push(previous, str(previous))
        return Descriptor(media_type, digest, len(raw))

    def _push(self, digest: Digest, target: str) -> None:
        raw, media_type = self._manifests[digest]
        written = self.client.put_manifest(self.endpoint.repo, target, raw, media_type)
        if written != digest:
            raise RegistryError(
                f"{self.name}: the registry stored manifest {digest} as {written}", 0
            )
        with self._lock:
            self._pushed.add(digest)

    def put_signatures(self, digest: Digest, signatures: Sequence[bytes]) -> None:
        """Keep the signatures of ``digest``; :meth:`commit` writes them before it tags the
        image, so the tag never names an image whose signatures are not there yet."""
        self._signatures[digest] = list(signatures)

    def _write_signatures(self) -> None:
        if not self._signatures:
            return
        from boxwright.transport.registry.signatures import (
            split_kinds,
            write_attachments,
            write_lookaside,
        )

        config = RegistriesD.load(self.options.registries_d)
        for digest, blobs in self._signatures.items():
            sigstore, other = split_kinds(blobs)
            if sigstore:
                if not config.use_sigstore_attachments(self.reference):
                    raise SignatureError(
                        f"{self.name}: writing sigstore attachments is disabled by "
                        "configuration: set use-sigstore-attachments: true for "
                        f"{self.reference.name} in registries.d"
                    )
                write_attachments(self.client, self.endpoint.repo, digest, sigstore)
            if other:
                write_lookaside(config.lookaside(self.reference, write=True), digest, other)

    def put_referrer(self, subject: Digest, raw: bytes, descriptor: Descriptor) -> None:
        """Push the referrer manifest by digest; where the registry has no referrers API,
        add it to the tag schema's index of ``subject``."""
        repo = self.endpoint.repo
        written = self.client.put_manifest(repo, str(descriptor.digest), raw, descriptor.media_type)
        if written != descriptor.digest:
            raise RegistryError(
                f"{self.name}: the registry stored manifest {descriptor.digest} as {written}", 0
            )
        add_to_tag_index(self.client, repo, subject, Referrer.of(descriptor))

    def commit(self, top: Descriptor) -> None:
        """Write the signatures, then push ``top`` under the tag (or by the reference's
        digest)."""
        ref = self.reference
        if ref.digest is not None and ref.digest != top.digest:
            raise UsageError(
                f"{self.name} names digest {ref.digest}, but the image written is {top.digest}"
            )
        self._write_signatures()
        current = self._current
        if (
            current is not None
            and current.digest == top.digest
            and top.digest not in self._manifests
        ):
            return  # the registry already holds exactly this image under the reference
        if top.digest not in self._manifests:
            raise TransportError(f"{self.name}: manifest {top.digest} was never written")
        self._push(top.digest, str(ref.digest) if ref.digest is not None else ref.tag)
        self._cache.flush()

    def close(self) -> None:
        self._cache.flush()
        if self._client is not None:
            self._client.close()


# open_source and open_destination: the TransportModule signature every transport module
# offers (transport.reference dispatches to them by transport name).
def open_source(ref: TransportReference, options: TransportOptions | None = None) -> DockerSource:
    """Open ``docker://…`` for reading (``open_source`` of the transport table)."""
    return DockerSource(_docker_ref(ref), options)


def open_destination(
    ref: TransportReference, options: TransportOptions | None = None
) -> DockerDestination:
    """Open ``docker://…`` for writing (``open_destination`` of the transport table)."""
    docker = _docker_ref(ref)
    return DockerDestination(docker, options)


def list_tags(
    ref: TransportReference | Reference | str, options: TransportOptions | None = None
) -> list[str]:
    """Every tag of the repository ``ref`` names (a tag or digest in it is ignored, as
    ``skopeo list-tags`` refuses them: see the CLI), following pagination."""
    docker = _docker_ref(ref)
    endpoint = resolve_endpoints(docker, options, pull=False)[0]
    client = make_client(endpoint, options)
    try:
        return list(client.list_tags(endpoint.repo))
    finally:
        client.close()


def delete_image(
    ref: TransportReference | Reference | str, options: TransportOptions | None = None
) -> Digest:
    """Delete the manifest ``ref`` names (by tag: the manifest the tag points to, which
    removes every tag naming it, as ``skopeo delete`` does); returns its digest."""
    docker = _docker_ref(ref)
    endpoint = resolve_endpoints(docker, options, pull=False)[0]
    client = make_client(endpoint, options)
    try:
        if docker.digest is not None:
            digest = docker.digest
        else:
            found = client.head_manifest(endpoint.repo, docker.tag or "latest")
            if found is None:
                raise ImageNotFoundError(f"docker://{docker}: no such image")
            digest = found.digest
        client.delete_manifest(endpoint.repo, digest)
        return digest
    finally:
        client.close()


__all__ = [
    "SUPPORTED_MANIFEST_TYPES",
    "DockerDestination",
    "DockerSource",
    "Endpoint",
    "delete_image",
    "list_tags",
    "make_client",
    "open_destination",
    "open_source",
    "resolve_endpoints",
]
