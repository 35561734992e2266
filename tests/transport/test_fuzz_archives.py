"""Fuzz tests of the parsers of image archives' own files and of files inside an image.

Parsers covered (the bytes come from an archive, a layout, an image's rootfs or a list file):

* ``transport/docker_archive.py``: ``parse_manifest_json`` (``docker save``'s
  ``manifest.json``: config and layer paths, ``RepoTags``), and the ``RepoTags`` references;
* ``transport/oci_layout.py``: the ``oci-layout`` file and ``index.json`` of a layout, read
  through ``LayoutReader`` from a directory (``index.json`` is an index:
  ``tests/oci/test_fuzz_documents.py`` fuzzes its parser further);
* ``transport/dir.py``: a ``dir:`` image's ``manifest.json`` and ``version`` files;
* ``unpack/users.py``: ``resolve_user`` (an image's ``/etc/passwd`` and ``/etc/group``
  against a config's ``User``);
* ``copy/sync.py``: ``_read_list`` (the YAML or JSON list of ``sync``);
* ``copy/semver.py``: ``parse_version`` (registry tags) and ``SemverRange.parse``.

The property (see ``tests/boxwright_testing/fuzz.py``): any file gives a value or a typed
:class:`BoxwrightError` — never another exception.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from boxwright.errors import (
    BoxwrightError,
    ConfigError,
    InvalidReferenceError,
    ManifestError,
    UnsafePathError,
    UsageError,
)
from boxwright.transport.docker_archive import _normalized, parse_manifest_json
from boxwright.unpack.users import ExecUser, resolve_user
from boxwright_testing.fuzz import (
    fragments,
    fuzz,
    hostile_text,
    json_bytes,
    json_values,
    mutated,
    outcome,
)

pytestmark = fuzz

_archive_manifest = st.lists(
    st.fixed_dictionaries(
        {
            "Config": st.sampled_from(["abc.json", "blobs/sha256/" + "a" * 64, "../x", "/abs"]),
            "RepoTags": st.lists(
                st.sampled_from(["busybox:latest", "a/b:1", "BAD", "x@sha256:" + "a" * 64, ""]),
                max_size=2,
            ),
            "Layers": st.lists(
                st.sampled_from(["l1/layer.tar", "./l2.tar", "a/../../b"]), max_size=3
            ),
        }
    ),
    max_size=2,
)


@given(
    st.one_of(
        json_bytes(mutated(_archive_manifest)), json_bytes(json_values()), st.binary(max_size=80)
    )
)
@example(b"[" * 100_000)
def test_any_archive_manifest_is_items_or_a_typed_error(raw: bytes) -> None:
    items = outcome(
        parse_manifest_json, raw, "archive.tar", errors=(ManifestError, UnsafePathError)
    )
    if isinstance(items, BoxwrightError):
        return
    for item in items:
        for tag in item.repo_tags:
            outcome(_normalized, tag, errors=InvalidReferenceError)


_layout_file = st.fixed_dictionaries({"imageLayoutVersion": st.sampled_from(["1.0.0", "2", "1."])})


@given(
    st.one_of(json_bytes(mutated(_layout_file)), st.binary(max_size=40)),
    st.one_of(
        json_bytes(json_values(6)),
        st.binary(max_size=60),
        st.just(b'{"schemaVersion":2,"manifests":[]}'),
    ),
)
def test_any_layout_files_read_or_raise_a_typed_error(layout: bytes, index: bytes) -> None:
    from boxwright.transport.oci_layout import DirectoryFiles, LayoutReader

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "oci-layout").write_bytes(layout)
        (root / "index.json").write_bytes(index)
        reader = LayoutReader(DirectoryFiles(root), str(root))
        outcome(lambda: reader.index, errors=BoxwrightError)


@given(st.binary(max_size=60), st.one_of(json_bytes(json_values(6)), st.binary(max_size=60)))
def test_any_dir_image_files_read_or_raise_a_typed_error(version: bytes, manifest: bytes) -> None:
    from boxwright.transport.dir import DirSource

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "version").write_bytes(version)
        (root / "manifest.json").write_bytes(manifest)
        source = outcome(DirSource, root, errors=BoxwrightError)
        if not isinstance(source, BoxwrightError):
            outcome(source.get_manifest, errors=BoxwrightError)


_PASSWD_PIECES = [
    "root:x:0:0:root:/root:/bin/sh\n",
    "app:x:1000:1000::/home/app:/bin/sh\n",
    "big:x:4294967296:1:::\n",
    "huge:x:" + "9" * 5000 + ":1:::\n",
    "sup:x:\u00b2:\u00b2:::\n",
    "short:x:1\n",
    "#comment\n",
    "\n",
    ":::::\n",
    "\xff\n",
]
_GROUP_PIECES = [
    "root:x:0:\n",
    "app:x:1000:app\n",
    "wheel:x:10:app,root\n",
    "huge:x:" + "9" * 5000 + ":app\n",
    "sup:x:\u00b2:app\n",
    "x\n",
]


@given(
    fragments(_PASSWD_PIECES, max_size=6),
    fragments(_GROUP_PIECES, max_size=6),
    st.one_of(
        hostile_text(20),
        fragments(
            ["app", "root", ":", "1000", "0", "\u00b2", "9" * 5000, "wheel", "sup"], max_size=3
        ),
    ),
)
@example("huge:x:" + "9" * 5000 + ":1:::\n", "", "huge")
@example("", "huge:x:" + "9" * 5000 + ":app\n", "0:huge")
def test_any_passwd_and_group_resolve_or_raise_a_typed_error(
    passwd: str, group: str, user: str
) -> None:
    # IDs in passwd and group are read by the one ID parser (boxwright.oci.ids), which refuses
    # what is not a valid ID with InvalidIDError; it comes with the branch that hardens IDs.
    pytest.importorskip("boxwright.oci.ids")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "etc").mkdir()
        (root / "etc/passwd").write_bytes(passwd.encode("utf-8", "surrogatepass"))
        (root / "etc/group").write_bytes(group.encode("utf-8", "surrogatepass"))
        found = outcome(resolve_user, root, user, errors=BoxwrightError)
        if isinstance(found, ExecUser):
            assert all(0 <= n < 2**32 for n in (found.uid, found.gid, *found.additional_gids))


_sync_list = st.fixed_dictionaries(
    {
        "registry.example.com": st.fixed_dictionaries(
            {"images": st.just({"busybox": ["latest"]}), "tls-verify": st.booleans()}
        )
    }
)


@given(
    st.one_of(
        json_bytes(mutated(_sync_list)),
        fragments(
            [
                "a:",
                " b",
                "\n",
                "- ",
                "[",
                "{",
                "&x ",
                "*x",
                "!!python/object:os.system",
                ": ",
                "'",
                "\t",
            ],
            max_size=12,
        ).map(lambda s: s.encode("utf-8", "surrogatepass")),
    )
)
def test_any_sync_list_is_a_mapping_or_a_config_error(raw: bytes) -> None:
    from boxwright.copy.sync import _read_list

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sync.yaml"
        path.write_bytes(raw)
        outcome(_read_list, path, errors=ConfigError)


@given(
    st.one_of(
        hostile_text(30),
        fragments(
            [
                "1",
                ".",
                "2",
                "-",
                "rc",
                "v",
                "0",
                "\u0661",
                ">=",
                "<",
                "^",
                "~",
                "||",
                ",",
                " ",
                "x",
                "*",
            ],
            max_size=10,
        ),
    )
)
def test_any_tag_and_range_parse_or_raise_a_usage_error(text: str) -> None:
    from boxwright.copy.semver import SemverRange, parse_version

    outcome(parse_version, text)
    outcome(SemverRange.parse, text, errors=UsageError)


# -- crashes the fuzzers found, kept as exact regressions ---------------------------------------


def test_passwd_ids_of_thousands_of_digits_are_invalid_ids(tmp_path: Path) -> None:
    # int() refused the 5000-digit uid with ValueError.
    pytest.importorskip("boxwright.oci.ids")
    from boxwright.errors import InvalidIDError  # type: ignore[attr-defined]

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("huge:x:" + "9" * 5000 + ":1:::\n")
    (tmp_path / "etc/group").write_text("")
    with pytest.raises(InvalidIDError):
        resolve_user(tmp_path, "huge")


def test_sync_list_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    from boxwright.copy.sync import _read_list

    path = tmp_path / "sync.yaml"
    path.write_bytes(b"'\xed\xbf\xbf")
    with pytest.raises(ConfigError, match="the sync list is not UTF-8 text"):
        _read_list(path)


def test_sync_list_nested_too_deep_is_a_config_error(tmp_path: Path) -> None:
    from boxwright.copy.sync import _read_list

    path = tmp_path / "sync.yaml"
    path.write_text("[" * 5000)
    with pytest.raises(ConfigError, match="invalid YAML: nested too deeply"):
        _read_list(path)
