"""Go modules: the build information the Go linker embeds in every binary (Go ≥ 1.18).

Go's ``debug/buildinfo`` format: the data segment holds a 32-byte header, the 14 bytes
``"\\xff Go buildinf:"``, a pointer size, a flags byte, padding; with flag 2 (the only form
since Go 1.18) the Go version and the module information follow it as two strings, each
prefixed by its length as an unsigned varint. The module information is ``go version -m``'s
text between two 16-byte sentinels: ``path``, ``mod``, ``dep``, ``=>`` (replacement of the
line before) and ``build`` lines, tab-separated. Older binaries point at the strings through
absolute addresses instead; they are noted, not read.

:class:`BuildInfoScanner` finds the header while a binary streams past, piece by piece, so a
binary is never held whole: the header is tried at each occurrence of the magic (the magic
also appears as a literal in binaries that embed ``debug/buildinfo``), keeping at most
:data:`MAX_INFO` bytes after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from boxwright.sbom.model import Package
from boxwright.sbom.purl import purl

MAGIC = b"\xff Go buildinf:"
HEADER = 32
FLAG_INLINE = 0x2
#: The most bytes after the magic kept to read the version and module strings.
MAX_INFO = 1 << 20
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True, slots=True)
class Module:
    """One module line: path, version, ``go.sum`` hash (``h1:...``, may be empty)."""

    path: str
    version: str
    sum: str = ""


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """What ``go version -m`` prints: ``go_version``, ``path`` (the main package), ``main``
    (its module), ``deps`` (replacements applied), ``settings`` (``build`` lines)."""

    go_version: str
    path: str = ""
    main: Module | None = None
    deps: tuple[Module, ...] = ()
    settings: tuple[tuple[str, str], ...] = field(default=())


class OldBuildInfo(Exception):
    """The header of a binary from before Go 1.18 (strings behind pointers)."""


def _uvarint(data: bytes, at: int) -> tuple[int, int] | None:
    """The unsigned varint at ``at`` and the offset after it; None if ``data`` ends first."""
    value = shift = 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
    return None


def _string(data: bytes, at: int) -> tuple[bytes, int] | None:
    length = _uvarint(data, at)
    if length is None:
        return None
    size, start = length
    if size > MAX_INFO:
        raise ValueError("string too long")
    if start + size > len(data):
        return None
    return data[start : start + size], start + size


def parse_header(data: bytes) -> BuildInfo | None:
    """The build info of the header at the start of ``data`` (which starts with the
    magic); None when ``data`` is too short to tell yet. Raises :class:`ValueError` when it
    is no build info header, :class:`OldBuildInfo` for the pre-1.18 form."""
    if len(data) < HEADER:
        return None
    if data[14] not in (4, 8):
        raise ValueError("not a build info header")
    if not data[15] & FLAG_INLINE:
        raise OldBuildInfo
    version = _string(data, HEADER)
    if version is None:
        return None
    mod = _string(data, version[1])
    if mod is None:
        return None
    go_version = version[0].decode("utf-8", "replace")
    if not go_version.startswith(("go", "devel")):
        raise ValueError("not a Go version")
    text = mod[0]
    if len(text) >= 33 and text[-17] == 0x0A:
        text = text[16:-16]
    return parse_modinfo(go_version, text.decode("utf-8", "replace"))


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """The build info of ``go version -m``'s module text."""
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            path = rest
        elif kind in ("mod", "dep") and fields[0]:
            module = Module(fields[0], *fields[1:3])
            if kind == "mod":
                main = module
            else:
                deps.append(module)
        elif kind == "=>" and fields[0]:
            replacement = Module(fields[0], *fields[1:3])
            if deps:
                deps[-1] = replacement
            elif main is not None:
                main = replacement
        elif kind == "build":
            key, _, value = rest.partition("=")
            settings.append((key, value))
    return BuildInfo(go_version, path, main, tuple(deps), tuple(settings))


class BuildInfoScanner:
    """Finds a binary's build info while its content streams through :meth:`feed`.

    ``result`` is the :class:`BuildInfo` once found; ``old`` is True when only a pre-1.18
    header was found. Feeding stops costing anything once a result is in.
    """

    def __init__(self) -> None:
        self.result: BuildInfo | None = None
        self.old = False
        self._tail = b""
        self._capture: bytes | None = None
        self._done = False

    def feed(self, piece: bytes | memoryview) -> None:
        """The next bytes of the binary."""
        if self._done:
            return
        if self._capture is not None:
            self._capture += bytes(piece)
            self._try()
            return
        data = self._tail + bytes(piece)
        at = data.find(MAGIC)
        if at < 0:
            self._tail = data[-(len(MAGIC) - 1) :]
            return
        self._capture = data[at:]
        self._try()

    def _try(self) -> None:
        """Parse the captured header; on a false start, scan on past its first byte."""
        while self._capture is not None:
            capture = self._capture
            try:
                info = parse_header(capture)
            except OldBuildInfo:
                self.old = True
                info = None
                self._done = True
                self._capture = None
                return
            except ValueError:
                info = None
                nxt = capture.find(MAGIC, 1)
                if nxt < 0:
                    self._capture = None
                    self._tail = capture[-(len(MAGIC) - 1) :]
                    return
                self._capture = capture[nxt:]
                continue
            if info is not None:
                self.result = info
                self._done = True
                self._capture = None
                return
            if len(capture) > MAX_INFO:
                self._capture = capture[1:]
                nxt = self._capture.find(MAGIC)
                self._capture = self._capture[nxt:] if nxt >= 0 else None
                continue
            return


def _module_package(module: Module, location: str) -> Package:
    namespace, _, name = module.path.rpartition("/")
    return Package(
        name=module.path,
        version=module.version,
        type="go-module",
        purl=purl("golang", name, module.version, namespace),
        location="/" + location,
    )


def packages(info: BuildInfo, location: str) -> list[Package]:
    """The packages syft lists for one binary: the main module, each dependency (as
    replaced), and ``stdlib`` at the binary's Go version."""
    found: list[Package] = []
    if info.main is not None:
        found.append(_module_package(info.main, location))
    found.extend(_module_package(dep, location) for dep in info.deps)
    go_version = info.go_version.split()[0] if info.go_version else ""
    if go_version.startswith("go"):
        found.append(
            Package(
                name="stdlib",
                version=go_version,
                type="go-module",
                purl=purl("golang", "stdlib", go_version[2:]),
                location="/" + location,
            )
        )
    return found


__all__ = [
    "ELF_MAGIC",
    "MAGIC",
    "BuildInfo",
    "BuildInfoScanner",
    "Module",
    "OldBuildInfo",
    "packages",
    "parse_header",
    "parse_modinfo",
]
