"""Package URLs (https://github.com/package-url/purl-spec) as syft writes them.

``pkg:deb/debian/libc6@2.36-9?arch=amd64&upstream=glibc&distro=debian-12``,
``pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&upstream=musl&distro=alpine-3.19.0``,
``pkg:rpm/fedora/bash@5.2.15-5.fc39?arch=x86_64&upstream=bash-5.2.15-5.fc39.src.rpm&distro=fedora-39``,
``pkg:pypi/requests@2.31.0``, ``pkg:npm/%40babel/core@7.23.0``,
``pkg:golang/github.com/spf13/cobra@v1.8.0``. Qualifiers keep syft's order (not sorted);
components are percent-encoded as the purl spec and packageurl-python do (``:`` stays, so
a Debian epoch reads ``1:2.3``; ``+`` becomes ``%2B``).
"""

from __future__ import annotations

from urllib.parse import quote

from boxwright.sbom.model import Distro, Package


def _enc(text: str) -> str:
    return quote(text, safe="").replace("%3A", ":")


def purl(
    kind: str,
    name: str,
    version: str,
    namespace: str = "",
    qualifiers: list[tuple[str, str]] | None = None,
) -> str:
    """The package URL of ``kind`` (``deb``, ``pypi``, ...); empty qualifier values are left
    out, a namespace is split on ``/`` and each segment encoded."""
    out = f"pkg:{kind}/"
    if namespace:
        out += "/".join(_enc(part) for part in namespace.split("/") if part) + "/"
    out += _enc(name)
    if version:
        out += "@" + _enc(version)
    pairs = [(k, v) for k, v in qualifiers or () if v]
    if pairs:
        out += "?" + "&".join(f"{k}={_enc(v)}" for k, v in pairs)
    return out


def distro_package(
    kind: str,
    name: str,
    version: str,
    qualifiers: list[tuple[str, str]],
    *,
    distro: Distro | None,
    namespace: str,
    location: str,
    purl_version: str | None = None,
    license: str = "",
    supplier: str = "",
    source: str = "",
    arch: str = "",
) -> Package:
    """A package of a distribution's package manager (``kind``: ``deb``, ``apk``, ``rpm``),
    found in the file at ``location``: its purl is in the ``distro``'s namespace (its ID, else
    ``namespace``), with ``qualifiers`` then the ``distro`` qualifier, as syft writes them;
    ``purl_version`` when the purl's version is not ``version`` (rpm's, without the epoch)."""
    if distro is not None:
        namespace = distro.id
        qualifiers = [*qualifiers, ("distro", distro.qualifier)]
    url_version = version if purl_version is None else purl_version
    return Package(
        name=name,
        version=version,
        type=kind,
        purl=purl(kind, name, url_version, namespace, qualifiers),
        location="/" + location,
        licenses=(license,) if license else (),
        supplier=supplier,
        source=source,
        arch=arch,
    )


__all__ = ["distro_package", "purl"]
