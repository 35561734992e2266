"""The one exception hierarchy of boxwright.

Every failure a user can meet is one of these classes, with a message a person can act on.
The command line prints ``str(error)`` as one line and exits 1; ``--debug`` shows the traceback.

::

    BoxwrightError
    ├── UsageError                 a request that makes no sense (bad option combination)
    ├── InvalidReferenceError      an image reference or transport string that does not parse
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
    │   └── BlobNotFoundError      a blob the manifest names is missing
    └── UnpackError                an unpacked directory boxwright cannot repack
"""

from __future__ import annotations


class BoxwrightError(Exception):
    """Root of every error boxwright raises on purpose."""


class UsageError(BoxwrightError):
    """A request whose options contradict each other or name nothing usable."""


class InvalidReferenceError(BoxwrightError):
    """An image reference or transport string that does not parse."""


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


class UnpackError(BoxwrightError):
    """An unpacked directory that cannot be repacked (missing or corrupt state)."""


__all__ = [
    "BlobNotFoundError",
    "BoxwrightError",
    "CompressionError",
    "DigestError",
    "DigestMismatchError",
    "ImageNotFoundError",
    "InvalidReferenceError",
    "LayerError",
    "ManifestError",
    "PlatformNotFoundError",
    "TransportError",
    "UnpackError",
    "UnsafePathError",
    "UnsupportedMediaTypeError",
    "UsageError",
]
