"""Fuzz test of the archive a fetched build context arrives in (``build/contexttar.py``).

Parser covered: ``unpack_context`` (a tarball downloaded or read from standard input, plain or
compressed). The property (``tests/boxwright_testing/fuzz.py``): for any archive of hostile
names, link targets and entry types, cut anywhere, unpacking ends with the files or a
:class:`~boxwright.errors.BoxwrightError` with a message, and nothing is ever written outside
the context directory.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from boxwright.build.contexttar import unpack_context
from boxwright_testing.fuzz import fuzz, outcome

pytestmark = fuzz

_NAMES = st.sampled_from(
    ["a", "d/", "d/f", "./x", "../up", "a/../../up", "/abs", "l/f", "l", ".", "", "d/../d/g"]
)
_TARGETS = st.sampled_from(["a", "d/f", "../up", "/", "/etc/passwd", "l", "missing", "..", ""])
_TYPES = st.sampled_from(
    [
        tarfile.REGTYPE,
        tarfile.DIRTYPE,
        tarfile.SYMTYPE,
        tarfile.LNKTYPE,
        tarfile.CHRTYPE,
        tarfile.FIFOTYPE,
        b"7",
        b"Z",
    ]
)


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for _ in range(draw(st.integers(0, 6))):
            info = tarfile.TarInfo(draw(_NAMES))
            info.type = draw(_TYPES)
            info.mode = draw(st.sampled_from([0o644, 0o000, 0o7777, 0o555]))
            content = b""
            if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = draw(_TARGETS)
            elif info.type == tarfile.REGTYPE:
                content = draw(st.binary(max_size=64))
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content else None)
    data = out.getvalue()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data = gzip.compress(data)
    return data


@given(archives())
def test_unpack_context_never_escapes_and_raises_only_boxwright_errors(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        archive = base / "a.tar"
        archive.write_bytes(data)
        root = base / "root"
        root.mkdir()
        outcome(unpack_context, archive, root, 1 << 20, "fuzz.tar")
        assert sorted(os.listdir(base)) == ["a.tar", "root"]  # nothing beside the context
        assert not os.path.lexists("/abs") and not os.path.lexists("/up")  # nor on the host
