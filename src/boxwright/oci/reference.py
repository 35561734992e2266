"""Image references: the distribution reference grammar and Docker Hub normalization.

The grammar is that of ``github.com/distribution/reference`` (``regexp.go``)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path
    domain     := host [ ":" port ]            host: DNS name or "[" IPv6 "]"
    path       := component ( "/" component )*  component: [a-z0-9]+ ( separator [a-z0-9]+ )*
    separator  := "." | "_" | "__" | "-"+
    tag        := [\\w][\\w.-]{0,127}

:meth:`Reference.parse` applies the grammar as written; :meth:`Reference.parse_normalized`
first applies Docker's shorthand (``busybox`` is ``docker.io/library/busybox``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from boxwright.errors import DigestError, InvalidReferenceError
from boxwright.oci.digest import Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_PATH = _COMPONENT + r"(?:/" + _COMPONENT + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = r"(?:" + _DOMAIN_NAME + "|" + _IPV6 + r")(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = r"(?:" + _DOMAIN + r"/)?" + _PATH

_REFERENCE_RE = re.compile(
    r"(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?", re.ASCII
)
_ANCHORED_NAME_RE = re.compile(r"(?:(" + _DOMAIN + r")/)?(" + _PATH + r")", re.ASCII)
_TAG_RE = re.compile(_TAG, re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")


def _digest(text: str, ref: str) -> Digest:
    try:
        return Digest.parse(text)
    except DigestError as e:
        raise InvalidReferenceError(f"invalid reference {ref!r}: {e}") from None


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed image reference: ``domain/path[:tag][@digest]``.

    ``domain`` is ``""`` for a reference parsed without normalization that names none.
    """

    domain: str
    path: str
    tag: str = ""
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse ``text`` with the grammar as written (no docker.io defaults)."""
        if not isinstance(text, str):
            raise InvalidReferenceError(f"reference must be a string, not {type(text).__name__}")
        if text == "":
            raise InvalidReferenceError("invalid reference '': repository name must not be empty")
        m = _REFERENCE_RE.fullmatch(text)
        if m is None:
            if _REFERENCE_RE.fullmatch(text.lower()) is not None:
                raise InvalidReferenceError(
                    f"invalid reference {text!r}: repository name must be lowercase"
                )
            raise InvalidReferenceError(f"invalid reference format: {text!r}")
        name, tag, digest = m.group(1), m.group(2) or "", m.group(3)
        if len(name) > NAME_TOTAL_LENGTH_MAX:
            raise InvalidReferenceError(
                f"invalid reference {text!r}: repository name must not be more than "
                f"{NAME_TOTAL_LENGTH_MAX} characters"
            )
        nm = _ANCHORED_NAME_RE.fullmatch(name)
        domain, path = (nm.group(1) or "", nm.group(2)) if nm else ("", name)
        return cls(domain, path, tag, _digest(digest, text) if digest else None)

    @classmethod
    def parse_normalized(cls, text: str, *, default_tag: bool = False) -> Reference:
        """Parse ``text`` as Docker does: ``busybox`` → ``docker.io/library/busybox``.

        With ``default_tag``, a reference with neither tag nor digest gets ``latest``.
        """
        if not isinstance(text, str):
            raise InvalidReferenceError(f"reference must be a string, not {type(text).__name__}")
        if _IDENTIFIER_RE.fullmatch(text):
            raise InvalidReferenceError(
                f"invalid repository name {text!r}: cannot specify 64-byte hexadecimal strings"
            )
        domain, remainder = _split_docker_domain(text)
        remote = remainder.split(":", 1)[0] if ":" in remainder else remainder
        if remote.lower() != remote:
            raise InvalidReferenceError(
                f"invalid reference {text!r}: repository name ({remote}) must be lowercase"
            )
        ref = cls.parse(domain + "/" + remainder)
        if default_tag and not ref.tag and ref.digest is None:
            ref = replace(ref, tag=DEFAULT_TAG)
        return ref

    @property
    def name(self) -> str:
        """``domain/path`` (or just ``path`` without a domain)."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + str(self.digest)
        return out

    def familiar_name(self) -> str:
        """The short name Docker shows: no ``docker.io/``, no ``library/`` for official images."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX):
            rest = path[len(OFFICIAL_REPO_PREFIX) :]
            if "/" not in rest:
                path = rest
        return path

    def familiar(self) -> str:
        """The whole reference in its familiar form (``busybox:latest``)."""
        out = self.familiar_name()
        if self.tag:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + str(self.digest)
        return out

    def with_tag(self, tag: str) -> Reference:
        """The same name with ``tag`` (an existing digest is kept)."""
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise InvalidReferenceError(f"invalid tag {tag!r} for {self.name}")
        return replace(self, tag=tag)

    def with_digest(self, digest: Digest | str) -> Reference:
        """The same name with ``digest`` (an existing tag is kept)."""
        if not isinstance(digest, Digest):
            digest = _digest(digest, f"{self.name}@{digest}")
        return replace(self, digest=digest)

    def without_tag_or_digest(self) -> Reference:
        """Just the repository name."""
        return replace(self, tag="", digest=None)

    def with_default_tag(self) -> Reference:
        """This reference, tagged ``latest`` if it has neither tag nor digest."""
        if self.tag or self.digest is not None:
            return self
        return replace(self, tag=DEFAULT_TAG)


def _split_docker_domain(name: str) -> tuple[str, str]:
    """Docker's rule: the part before the first ``/`` is a domain only if it looks like one."""
    i = name.find("/")
    first = name[:i]
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_normalized(text: str, *, default_tag: bool = False) -> Reference:
    """Module-level shorthand for :meth:`Reference.parse_normalized`."""
    return Reference.parse_normalized(text, default_tag=default_tag)


__all__ = ["DEFAULT_DOMAIN", "Reference", "parse_normalized"]
