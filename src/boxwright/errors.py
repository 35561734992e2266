"""The one exception hierarchy of boxwright.

Every failure a user can meet is one of these classes, with a message a person can act on.
The command line prints ``str(error)`` as one line and exits 1; ``--debug`` shows the traceback.

::

    BoxwrightError
    ├── UsageError                 a request that makes no sense (bad option combination)
    │   └── AmbiguousImageError    a short name or ID prefix that matches several stored images
    ├── ConfigError                a malformed registries.conf, auth.json or certs.d folder
    ├── InvalidReferenceError      an image reference or transport string that does not parse
    ├── InvalidIDError             a uid, gid or USER[:GROUP] that is not a valid ID or name
    ├── DigestError                a digest that is malformed, unsupported, or does not match
    │   └── DigestMismatchError    content whose digest or size differs from what was expected
    ├── ManifestError              a manifest, index or config that is malformed or unsupported
    │   ├── UnsupportedMediaTypeError
    │   └── PlatformNotFoundError  no manifest in an index matches the requested platform
    ├── LayerError                 a layer that cannot be read or applied
    │   ├── CompressionError       unknown or corrupt compression, truncated stream
    │   └── UnsafePathError        a tar entry, link or whiteout that would escape its root
    ├── TransportError             a place images live that cannot be read or written
    │   ├── ImageNotFoundError     the reference names no image there
    │   ├── BlobNotFoundError      a blob the manifest names is missing
    │   ├── NotRegularFileError    a blob or index that is a FIFO, device, socket, dir or symlink
    │   └── RegistryError          a registry answered with an error (``status``, ``code``)
    │       ├── AuthenticationError  credentials missing, refused, or a token not granted
    │       │   └── CredentialsRefusedError  credentials boxwright will not send where asked
    │       ├── StalledTransferError a transfer that stopped moving (too few bytes for too long)
    │       └── TLSError             a certificate or TLS handshake that failed
    ├── UnpackError                an unpacked directory boxwright cannot repack
    ├── RunError                   a container process that could not be started
    ├── SbomError                  a package database or SBOM/attestation document unreadable
    ├── SignatureError             a signature that cannot be made (key, passphrase, gpg) or read
    │   └── PolicyRejectedError    the signature policy (policy.json) does not accept an image
    ├── StoreError                 the local store refused an operation (busy, in use, damaged)
    │   ├── ContainerNotFoundError  no working container has that name or ID
    │   └── VolumeNotFoundError     no named volume has that name
    └── BuildError                 a build step that failed (a RUN's exit status, a bad COPY)
        ├── ContainerfileError     a Containerfile that does not parse ("file:line: what")
        ├── BuildContextError      a git, tarball or stdin context that cannot be fetched or
        │                          holds what a context cannot (too large, devices)
        └── RunStepError           a RUN whose command exited non-zero (``exit_code``)
"""

from __future__ import annotations


class BoxwrightError(Exception):
    """Root of every error boxwright raises on purpose."""


class UsageError(BoxwrightError):
    """A request whose options contradict each other or name nothing usable."""


class AmbiguousImageError(UsageError):
    """A short name or image ID prefix that matches more than one image in the local store.

    The message lists the candidates, so the user can name one exactly.
    """


class ConfigError(BoxwrightError):
    """A configuration file (registries.conf, auth.json, certs.d) that is malformed or unusable.

    The message names the file and what is wrong with it, never a secret it holds.
    """


class InvalidReferenceError(BoxwrightError):
    """An image reference or transport string that does not parse."""


class InvalidIDError(BoxwrightError):
    """A uid or gid outside 0..4294967294 (4294967295 is ``(uid_t)-1``, "no change" to
    setresuid and chown), or a ``USER[:GROUP]`` part that is neither an ID nor a name: in an
    image's ``User``, a ``--user`` or ``--chown``, or the image's ``/etc/passwd``/``/etc/group``.
    """


class DigestError(BoxwrightError):
    """A digest that is malformed or uses an unsupported algorithm."""


class DigestMismatchError(DigestError):
    """Content whose digest or size is not what its descriptor promised."""


class ManifestError(BoxwrightError):
    """A manifest, index or image config that is malformed or unsupported."""


class UnsupportedMediaTypeError(ManifestError):
    """A media type boxwright does not know how to handle here."""


class PlatformNotFoundError(ManifestError):
    """No entry of an index matches the requested platform."""


class LayerError(BoxwrightError):
    """A layer that cannot be read, generated or applied."""


class CompressionError(LayerError):
    """A stream whose compression is unknown, corrupt or truncated."""


class UnsafePathError(LayerError):
    """A tar entry, link target or whiteout that would reach outside its root."""


class TransportError(BoxwrightError):
    """A place images live that cannot be read or written as asked."""


class ImageNotFoundError(TransportError):
    """The reference names no image at that place."""


class BlobNotFoundError(TransportError):
    """A blob named by a manifest is missing from the source."""


class NotRegularFileError(TransportError):
    """A file of a layout, ``dir:`` image, archive or the store (a blob, ``index.json``,
    ``manifest.json``) that is not a regular file: a FIFO (which would block a read forever),
    a device, a socket, a directory, or a symbolic link where none may be."""


class RegistryError(TransportError):
    """A registry request that failed: an HTTP error status, a network error, or a bad answer.

    ``status`` is the HTTP status (0 when no answer arrived) and ``code`` the first error code
    of the distribution API's error body (``MANIFEST_UNKNOWN``, ``DENIED``, ...) when there was
    one. Messages never contain credentials or tokens.
    """

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AuthenticationError(RegistryError):
    """Credentials that are missing or refused, or a token the token service did not grant."""


class StalledTransferError(RegistryError):
    """A download or upload that stopped moving: fewer bytes than the stall policy's floor
    arrived (or left) in its window, on every try. The message names the registry, the blob
    and how long it stalled."""


class CredentialsRefusedError(AuthenticationError):
    """Credentials a registry asked to be sent where boxwright does not send them: to a token
    service over plain HTTP, or to an origin other than the one they are bound to."""


class TLSError(RegistryError):
    """A TLS handshake that failed: an untrusted or invalid certificate, or a bad client key."""


class UnpackError(BoxwrightError):
    """An unpacked directory that cannot be repacked (missing or corrupt state)."""


class RunError(BoxwrightError):
    """A container process that could not be started: a command that is not found or not
    executable, namespaces or mounts the kernel refuses, a user the namespace cannot hold.

    ``exit_code`` follows podman: 125 when the container could not be set up, 126 when the
    command cannot be executed, 127 when it is not found.
    """

    def __init__(self, message: str, exit_code: int = 125) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SignatureError(BoxwrightError):
    """A signature that cannot be made or read: a key file that does not parse, a wrong
    passphrase, gpg failing, a destination that cannot store signatures."""


class PolicyRejectedError(SignatureError):
    """The signature policy does not accept an image; the message names the requirement
    that failed and why."""


class StoreError(BoxwrightError):
    """An operation the local store refuses or cannot do: a lock that is busy, an image a
    container still uses, a damaged metadata file."""


class ContainerNotFoundError(StoreError):
    """No working container of the local store has the name or ID asked for."""


class VolumeNotFoundError(StoreError):
    """No named volume of the store has that name."""


class BuildError(BoxwrightError):
    """A build that failed: a step's command exited non-zero, a source is missing; the message
    names the Containerfile line."""


class ContainerfileError(BuildError):
    """A Containerfile that does not parse; the message is ``"{file}:{line}: {what}"``."""


class BuildContextError(BuildError):
    """A build context that is not a local directory and cannot be used: a git repository that
    cannot be fetched, a download or archive over the size limit, an archive holding a device
    or a link that leaves it, a subdirectory that is not there."""


class RunStepError(BuildError):
    """A build's RUN step whose command exited non-zero. ``exit_code`` is the command's exit
    status, which ``boxwright build`` exits with, as podman build and buildah bud do."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SbomError(BoxwrightError):
    """A package database in an image that cannot be read, or an SBOM or attestation
    document that cannot be written or read."""


class SbomFormatError(SbomError):
    """A document library refused what boxwright gave it (a bug, reported as one line)."""


__all__ = [
    "AmbiguousImageError",
    "AuthenticationError",
    "BlobNotFoundError",
    "BoxwrightError",
    "BuildContextError",
    "BuildError",
    "CompressionError",
    "ConfigError",
    "ContainerNotFoundError",
    "ContainerfileError",
    "CredentialsRefusedError",
    "DigestError",
    "DigestMismatchError",
    "ImageNotFoundError",
    "InvalidIDError",
    "InvalidReferenceError",
    "LayerError",
    "ManifestError",
    "NotRegularFileError",
    "PlatformNotFoundError",
    "PolicyRejectedError",
    "RegistryError",
    "RunError",
    "RunStepError",
    "SbomError",
    "SignatureError",
    "StalledTransferError",
    "StoreError",
    "TLSError",
    "TransportError",
    "UnpackError",
    "UnsafePathError",
    "UnsupportedMediaTypeError",
    "UsageError",
    "VolumeNotFoundError",
]
