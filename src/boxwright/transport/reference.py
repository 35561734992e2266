"""Transport references: ``TRANSPORT:WHERE`` strings, as skopeo takes them, parsed and opened.

Known transports::

    docker://HOST/REPO[:TAG | @DIGEST]       a registry (docker.io/library/ when no host)
    oci:DIR[:NAME | :@INDEX]                 an OCI image layout directory
    oci-archive:FILE[:NAME | :@INDEX]        a tar of an OCI image layout
    docker-archive:FILE[:NAME:TAG | :@INDEX] the format of ``docker save`` / ``podman save``
    dir:DIR                                  skopeo's directory format
    containers-storage:[SPEC]NAME | ...ID    podman's store (boxwright.transport.cstorage)
    store:NAME[:TAG | @DIGEST] | store:ID    the local store (boxwright.store)

A reference without a known transport prefix that is a valid image name or ID (``app:1``,
``localhost:5000/app``, ``busybox``, an image ID) names an image in the local store, as a bare
name does for podman; it parses to a ``store`` reference with ``implicit`` set. Anything else
without a known prefix is an error naming the transports.

The path is everything up to the first colon (paths with colons are refused, as skopeo does).
The mapping from prefix to module is the explicit :data:`TRANSPORTS` table; a module is
imported only when a reference of its transport is opened, so parsing stays cheap. The
``store`` entry is the one place where ``transport/`` names a higher layer (``boxwright.store``),
by string, as a plug-in: nothing here imports it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Final, Protocol, cast

from boxwright._numbers import ascii_int
from boxwright.errors import InvalidReferenceError

if TYPE_CHECKING:
    from boxwright.oci.reference import Reference
    from boxwright.transport.base import ImageDestination, ImageSource
    from boxwright.transport.options import TransportOptions

TRANSPORTS: Final[dict[str, str]] = {
    "oci": "boxwright.transport.oci_layout",
    "oci-archive": "boxwright.transport.oci_archive",
    "docker-archive": "boxwright.transport.docker_archive",
    "dir": "boxwright.transport.dir",
    "docker": "boxwright.transport.docker",
    "store": "boxwright.store.transport",
    "containers-storage": "boxwright.transport.cstorage",
}
"""Transport name → module offering ``open_source(ref, options)`` and
``open_destination(ref, options)`` (the :class:`TransportModule` signature: every transport
takes the :class:`~boxwright.transport.options.TransportOptions`; those with nothing to
configure ignore them, as skopeo's do)."""


class TransportModule(Protocol):
    """What each module of :data:`TRANSPORTS` offers: one way to open a reference."""

    def open_source(
        self, ref: TransportReference, options: TransportOptions | None = None
    ) -> ImageSource:
        """Open ``ref`` for reading."""
        ...

    def open_destination(
        self, ref: TransportReference, options: TransportOptions | None = None
    ) -> ImageDestination:
        """Open ``ref`` for writing (nothing visible before ``commit``)."""
        ...


def _module(transport: str) -> TransportModule:
    """The module of ``transport``, imported on first use."""
    # A module imported by name has no static type; the table promises this shape.
    return cast(TransportModule, import_module(TRANSPORTS[transport]))


_FOREIGN: Final = {
    "docker-daemon": (
        "boxwright does not talk to a Docker daemon; copy through `docker save` and docker-archive:"
    ),
}
"""skopeo's transports that boxwright does not have, with the way to reach those images."""
_TRANSPORT_NAME = re.compile(r"[a-z][a-z0-9-]*")


# The ref name grammar of the image-spec annotation, as containers/image validates it.
_REF_SEPARATOR = r"(?:[-._:@+]|--)"
_REF_ALNUM = r"(?:[A-Za-z0-9]+)"
_REF_COMPONENT = rf"(?:{_REF_ALNUM}(?:{_REF_SEPARATOR}{_REF_ALNUM})*)"
_REF_NAME = re.compile(rf"{_REF_COMPONENT}(?:/{_REF_COMPONENT})*")


def validate_ref_name(name: str) -> str:
    """Return ``name`` if it is a valid OCI ref name, else raise InvalidReferenceError."""
    if not _REF_NAME.fullmatch(name):
        raise InvalidReferenceError(
            f"invalid image name {name!r} in an OCI layout reference: names are components "
            "of letters and digits joined by one of - . _ : @ + (or --), separated by /"
        )
    return name


def _known() -> str:
    return ", ".join(f"{name}://" if name == "docker" else f"{name}:" for name in TRANSPORTS)


def known_transports() -> str:
    """The transport prefixes boxwright knows, as messages list them (``oci:, ..., store:``)."""
    return _known()


@dataclass(frozen=True, slots=True)
class TransportReference:
    """A parsed transport reference; :meth:`open_source` / :meth:`open_destination` use it.

    ``image`` is the OCI ref name (``oci``, ``oci-archive``) or the normalized ``NAME:TAG``
    (``docker-archive``), ``""`` when none was given; ``source_index`` is the ``@N`` form
    (``-1`` when absent). For ``store``, ``path`` is the image name or ID as given, and
    ``implicit`` says it was given bare, without the ``store:`` prefix.
    """

    transport: str
    path: str
    image: str = ""
    source_index: int = -1
    implicit: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        if self.transport == "docker":
            return f"docker://{self.path}"
        out = f"{self.transport}:{self.path}"
        if self.image:
            out += f":{self.image}"
        elif self.source_index >= 0:
            out += f":@{self.source_index}"
        return out

    @property
    def docker_reference(self) -> Reference | None:
        """The Docker reference a docker:// or docker-archive reference carries, else None."""
        from boxwright.oci.reference import Reference

        if self.transport == "docker":
            return Reference.parse(self.path)
        if self.transport != "docker-archive" or not self.image:
            return None
        return Reference.parse_normalized(self.image)

    def open_source(self, options: TransportOptions | None = None) -> ImageSource:
        """Open the image this reference names for reading (``options``: credentials, TLS)."""
        return _module(self.transport).open_source(self, options)

    def open_destination(self, options: TransportOptions | None = None) -> ImageDestination:
        """Open this reference for writing an image (visible only after ``commit``)."""
        if self.source_index >= 0:
            raise InvalidReferenceError(
                f"{self}: a source index (@{self.source_index}) cannot name a destination"
            )
        return _module(self.transport).open_destination(self, options)


def _parse_index(text: str, whole: str) -> int:
    index = ascii_int(text[1:])
    if index is None:
        raise InvalidReferenceError(
            f"invalid source index {text!r} in {whole!r}: expected @ and a number"
        )
    return index


def _split(rest: str, transport: str, whole: str) -> tuple[str, str]:
    path, _, tail = rest.partition(":")
    if not path:
        raise InvalidReferenceError(f"{whole!r}: {transport}: needs a path")
    return path, tail


def _parse_docker(rest: str, whole: str) -> str:
    """``//NAME[:TAG|@DIGEST]`` → the normalized reference (``latest`` when neither given)."""
    from boxwright.oci.reference import Reference

    if not rest.startswith("//"):
        raise InvalidReferenceError(
            f"{whole!r}: a registry reference is docker://HOST/REPO[:TAG|@DIGEST]"
        )
    ref = Reference.parse_normalized(rest[2:], default_tag=True)
    if ref.tag and ref.digest is not None:
        raise InvalidReferenceError(
            f"{whole!r}: give a tag or a digest, not both (as skopeo requires)"
        )
    return str(ref)


def parse_transport_reference(text: str) -> TransportReference:
    """Parse ``TRANSPORT:WHERE``; :class:`InvalidReferenceError` says what is wrong."""
    if not isinstance(text, str):
        raise InvalidReferenceError(f"reference must be a string, not {type(text).__name__}")
    transport, sep, rest = text.partition(":")
    if transport not in TRANSPORTS and _is_store_name(text):
        return TransportReference("store", text, implicit=True)
    if not sep or not _TRANSPORT_NAME.fullmatch(transport):
        raise InvalidReferenceError(
            f"invalid image reference {text!r}: it needs a transport prefix, or must be an "
            f"image name of the local store; boxwright knows {_known()} "
            "(e.g. oci:./layout:latest, or app:1 for store:app:1)"
        )
    if transport not in TRANSPORTS:
        foreign = _FOREIGN.get(transport)
        note = f" ({foreign})" if foreign else ""
        raise InvalidReferenceError(
            f"unknown transport {transport!r} in {text!r}{note}; boxwright knows {_known()}"
        )
    if transport == "docker":
        return TransportReference("docker", _parse_docker(rest, text))
    if transport == "store":
        if not rest:
            raise InvalidReferenceError(f"{text!r}: store: needs an image name or ID")
        if not _is_store_name(rest):
            raise InvalidReferenceError(
                f"{text!r}: store: takes NAME[:TAG], NAME@DIGEST or an image ID; {rest!r} is "
                "none of them (names are lowercase, like app:1 or localhost:5000/team/app)"
            )
        return TransportReference("store", rest)
    if transport == "containers-storage":
        from boxwright.transport.cstorage.naming import parse

        parse(rest, text)  # refuses a bad reference now; opening parses it again
        return TransportReference(transport, rest)
    if transport == "dir":
        if not rest:
            raise InvalidReferenceError(f"{text!r}: dir: needs a directory path")
        return TransportReference("dir", rest)
    path, tail = _split(rest, transport, text)
    if transport in ("oci", "oci-archive"):
        if tail.startswith("@"):
            return TransportReference(transport, path, "", _parse_index(tail, text))
        if tail:
            validate_ref_name(tail)
        return TransportReference(transport, path, tail)
    # docker-archive: FILE[:NAME:TAG | :@INDEX]
    if tail.startswith("@"):
        return TransportReference(transport, path, "", _parse_index(tail, text))
    if not tail:
        return TransportReference(transport, path)
    from boxwright.oci.reference import Reference

    ref = Reference.parse_normalized(tail, default_tag=True)
    if ref.digest is not None:
        raise InvalidReferenceError(
            f"{text!r}: docker-archive: takes NAME:TAG, not a digest reference"
        )
    return TransportReference(transport, path, f"{ref.name}:{ref.tag}")


_STORE_ID = re.compile(r"(?:sha256:)?[0-9a-f]{3,64}")


def registry_or(text: str) -> TransportReference:
    """``text`` parsed; a bare name (no known transport prefix) is a registry reference."""
    ref = parse_transport_reference(text)
    if ref.transport == "store" and ref.implicit:
        return parse_transport_reference(f"docker://{text}")
    return ref


def _is_store_name(text: str) -> bool:
    """Whether ``text`` is an image name (``NAME[:TAG][@DIGEST]``) or ID the store could hold."""
    if not text:
        return False
    if _STORE_ID.fullmatch(text):
        return True
    from boxwright.oci.reference import Reference

    try:
        Reference.parse(text)
    except InvalidReferenceError:
        return False
    return True


def open_reference(
    ref: str | TransportReference | ImageSource, options: TransportOptions | None = None
) -> tuple[TransportReference | None, ImageSource, bool]:
    """Open what a caller named: a reference string, a parsed reference, or an open source.

    Returns the reference (None for a source given already open), the source, and whether
    the caller now owns it (must close it): a source passed in stays the passer's to close.
    """
    if isinstance(ref, str):
        reference = parse_transport_reference(ref)
        return reference, reference.open_source(options), True
    if isinstance(ref, TransportReference):
        return ref, ref.open_source(options), True
    return None, ref, False


@contextlib.contextmanager
def opened_source(
    ref: str | TransportReference | ImageSource, options: TransportOptions | None = None
) -> Iterator[tuple[TransportReference | None, ImageSource]]:
    """:func:`open_reference` as a ``with`` block: the reference and the source, which is
    closed at the block's end when it was opened here (a source passed in stays open)."""
    reference, source, own = open_reference(ref, options)
    try:
        yield reference, source
    finally:
        if own:
            source.close()


__all__ = [
    "TRANSPORTS",
    "TransportModule",
    "TransportReference",
    "known_transports",
    "open_reference",
    "opened_source",
    "parse_transport_reference",
    "registry_or",
    "validate_ref_name",
]
