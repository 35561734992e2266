"""The image part of a ``containers-storage:`` reference, parsed and looked up.

After the store specifier comes, as containers/image reads it: a name (``NAME[:TAG]``,
``NAME@DIGEST``, normalized as docker references are: ``busybox`` is
``docker.io/library/busybox:latest``), an image ID (64 hex digits, or a prefix of at least 3
of an image the store has), or a name and an ID (``NAME@ID``): the ID then decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from boxwright.errors import ImageNotFoundError, InvalidReferenceError
from boxwright.oci.reference import Reference
from boxwright.transport.cstorage.location import StoreSpec, parse_spec
from boxwright.transport.cstorage.records import Record, image_digests

_ID: Final = re.compile(r"[0-9a-f]{64}")
_ID_PREFIX: Final = re.compile(r"[0-9a-f]{3,64}")


@dataclass(frozen=True, slots=True)
class StorageReference:
    """A parsed ``containers-storage:`` reference: the store, and the image's name and/or ID."""

    spec: StoreSpec
    name: Reference | None
    image_id: str
    id_or_name: bool = False
    """The text was short hex: an image ID prefix if the store has one, else a name."""

    def __str__(self) -> str:
        out = f"containers-storage:{self.spec}"
        if self.id_or_name:
            return out + self.image_id
        if self.name is not None:
            out += str(self.name)
            if self.image_id:
                out += f"@{self.image_id}"
        else:
            out += self.image_id
        return out


def parse(text: str, whole: str) -> StorageReference:
    """Parse what follows ``containers-storage:``; :class:`InvalidReferenceError` if bad."""
    spec, rest = parse_spec(text, whole)
    if not rest:
        raise InvalidReferenceError(f"{whole!r}: containers-storage: needs an image name or ID")
    image_id = ""
    head, at, tail = rest.rpartition("@")
    if at and not tail.startswith("sha256:") and ":" not in tail:
        if not tail or not _ID_PREFIX.fullmatch(tail):
            raise InvalidReferenceError(f"{whole!r}: {tail!r} is not an image ID or a digest")
        image_id, rest = tail, head
    if not image_id and _ID.fullmatch(rest):
        return StorageReference(spec, None, rest)
    if not image_id and _ID_PREFIX.fullmatch(rest):
        return StorageReference(
            spec, Reference.parse_normalized(rest, default_tag=True), rest, id_or_name=True
        )
    if not rest:
        return StorageReference(spec, None, image_id)
    try:
        name = Reference.parse_normalized(rest, default_tag=True)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(f"{whole!r}: {exc}") from None
    return StorageReference(spec, name, image_id)


def _repo_names(image: Record) -> list[str]:
    return [n for n in image.get("names") or [] if isinstance(n, str)]


def find_image(images: list[Record], ref: StorageReference, where: str) -> Record:
    """The image ``ref`` names among ``images`` (:class:`ImageNotFoundError` if none)."""
    if ref.image_id:  # an ID, or an ID prefix that may be a name (id_or_name)
        matches = [i for i in images if i["id"].startswith(ref.image_id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidReferenceError(f"{where}: image ID {ref.image_id} is ambiguous")
        if not ref.id_or_name:
            raise ImageNotFoundError(f"{where}: no image with ID {ref.image_id}")
    assert ref.name is not None
    wanted = str(ref.name)
    for image in images:
        if wanted in _repo_names(image):
            return image
    if ref.name.digest is not None:
        digest = str(ref.name.digest)
        for image in images:
            if digest in image_digests(image) and any(
                Reference.parse(n).name == ref.name.name for n in _repo_names(image)
            ):
                return image
    raise ImageNotFoundError(f"{where}: no image named {wanted}")


__all__ = ["StorageReference", "find_image", "parse"]
