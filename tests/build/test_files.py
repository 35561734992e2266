"""The copy/add rules of :mod:`boxwright.build.files`, on plain directories standing for rootfs.

Root-mode tests check real owners; the rootless tests run as an unprivileged user and check
that owners land in the side record instead. Archives are made with the standard codecs.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import http.server
import io
import lzma
import os
import stat
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from boxwright.build.files import (
    copy_into,
    download,
    expand_sources,
    extract_archive,
    is_archive,
    parse_chmod,
    resolve_owner,
)
from boxwright.errors import DigestMismatchError, InvalidIDError, TransportError, UsageError
from boxwright.layer.ownership import OwnershipEntry, OwnershipRecord
from boxwright_testing.users import User, as_user

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="checks real owners: needs root")
MTIME = 1_600_000_000


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1001::/home/alice:/bin/sh\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\nalice:x:1001:\n")
    (root / "real").mkdir()
    (root / "link").symlink_to("/real")
    (root / "escape").symlink_to("../../../../../../tmp")
    return root


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A host source tree: a file, a directory with a nested dir, a link and a hard link."""
    base = tmp_path / "src"
    (base / "tree" / "sub").mkdir(parents=True)
    (base / "one.txt").write_text("one\n")
    (base / "tree" / "a.txt").write_text("a\n")
    (base / "tree" / "sub" / "b.txt").write_text("b\n")
    (base / "tree" / "sub" / "hard").hardlink_to(base / "tree" / "sub" / "b.txt")
    (base / "tree" / "ln").symlink_to("a.txt")
    (base / "tree" / "sub").chmod(0o750)
    for path in [*base.rglob("*"), base]:
        os.utime(path, (MTIME, MTIME), follow_symlinks=False)
    return base


def info(path: Path) -> tuple[int, int, int, int]:
    st = path.lstat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)


@needs_root
def test_file_with_chown_chmod_keeps_mtime_and_creates_parents(rootfs: Path, src: Path) -> None:
    record = OwnershipRecord()
    result = copy_into(
        rootfs,
        record,
        [src / "one.txt"],
        "/opt/app/conf.txt",
        owner=(1000, 1000),
        chmod=0o640,
        rootless=False,
    )
    target = rootfs / "opt" / "app" / "conf.txt"
    assert target.read_text() == "one\n"
    assert info(target) == (0o640, 1000, 1000, MTIME)
    assert info(rootfs / "opt")[:3] == (0o755, 1000, 1000)  # parents: 0755, the same owner
    assert result.files == 1 and result.bytes == 4
    assert result.digest == "file:" + hashlib.sha256(b"one\n").hexdigest()
    assert len(record) == 0  # as root, nothing goes to the side record


@needs_root
def test_directory_source_copies_contents_links_and_hardlinks(rootfs: Path, src: Path) -> None:
    copy_into(rootfs, OwnershipRecord(), [src / "tree"], "/app", rootless=False)
    app = rootfs / "app"
    assert sorted(p.relative_to(app).as_posix() for p in app.rglob("*")) == [
        "a.txt",
        "ln",
        "sub",
        "sub/b.txt",
        "sub/hard",
    ]
    assert (app / "ln").readlink() == Path("a.txt")
    assert (app / "sub" / "hard").stat().st_ino == (app / "sub" / "b.txt").stat().st_ino
    assert info(app / "sub") == (0o750, 0, 0, MTIME)
    assert info(app / "a.txt") == (0o644, 0, 0, MTIME)
    assert info(app)[:3] == (0o755, 0, 0)


def test_contents_only_false_copies_the_directory_itself(rootfs: Path, src: Path) -> None:
    copy_into(rootfs, OwnershipRecord(), [src / "tree"], "/app/", contents_only=False)
    assert (rootfs / "app" / "tree" / "sub" / "b.txt").read_text() == "b\n"


def test_destination_rules(rootfs: Path, src: Path) -> None:
    record = OwnershipRecord()
    copy_into(rootfs, record, [src / "one.txt"], "/new/")  # trailing slash: inside
    assert (rootfs / "new" / "one.txt").read_text() == "one\n"
    copy_into(rootfs, record, [src / "one.txt"], "/real")  # existing directory: inside
    assert (rootfs / "real" / "one.txt").is_file()
    copy_into(rootfs, record, [src / "one.txt"], "renamed")  # relative: under the workdir
    assert (rootfs / "renamed").is_file()
    copy_into(rootfs, record, [src / "one.txt"], "x.txt", workdir="/srv/www")
    assert (rootfs / "srv" / "www" / "x.txt").is_file()
    with pytest.raises(UsageError, match="needs a directory destination"):
        copy_into(rootfs, record, [src / "one.txt", src / "tree"], "/single")
    copy_into(rootfs, record, [src / "one.txt", src / "tree" / "a.txt"], "/several/")
    assert sorted(p.name for p in (rootfs / "several").iterdir()) == ["a.txt", "one.txt"]


def test_symlinks_in_the_rootfs_resolve_inside_it(rootfs: Path, src: Path, tmp_path: Path) -> None:
    record = OwnershipRecord()
    copy_into(rootfs, record, [src / "one.txt"], "/link/")
    assert (rootfs / "real" / "one.txt").read_text() == "one\n"
    copy_into(rootfs, record, [src / "one.txt"], "/escape/out.txt")
    assert (rootfs / "tmp" / "out.txt").is_file()  # the link's target is inside the root
    assert not Path("/tmp/out.txt").exists() or Path("/tmp/out.txt").read_text() != "one\n"
    # a link at the last component is followed inside the root, as BuildKit's fs.RootPath
    # resolves a COPY destination: the file it names is replaced and the link stays
    (rootfs / "victim").write_text("keep\n")
    (rootfs / "trap").symlink_to("/victim")
    copy_into(rootfs, record, [src / "one.txt"], "/trap")
    assert (rootfs / "victim").read_text() == "one\n"
    assert os.readlink(rootfs / "trap") == "/victim"
    # a relative target climbing above the root stops at it
    (rootfs / "climb").symlink_to("../../../../../victim2")
    copy_into(rootfs, record, [src / "one.txt"], "/climb")
    assert (rootfs / "victim2").read_text() == "one\n"
    assert os.readlink(rootfs / "climb") == "../../../../../victim2"


def test_replacing_a_directory_with_a_file_and_merging_dirs(rootfs: Path, src: Path) -> None:
    record = OwnershipRecord()
    (rootfs / "app" / "a.txt").mkdir(parents=True)
    (rootfs / "app" / "a.txt" / "old").write_text("old")
    (rootfs / "app" / "keep.txt").write_text("keep")
    copy_into(rootfs, record, [src / "tree"], "/app")
    assert (rootfs / "app" / "a.txt").read_text() == "a\n"
    assert (rootfs / "app" / "keep.txt").read_text() == "keep"


def test_a_file_copied_over_a_link_in_the_tree_replaces_the_link(rootfs: Path, src: Path) -> None:
    (rootfs / "app").mkdir()
    (rootfs / "app" / "a.txt").symlink_to("/etc/passwd")  # a link below the destination
    (rootfs / "app" / "sub").symlink_to("/real")
    result = copy_into(rootfs, OwnershipRecord(), [src / "tree"], "/app")
    assert not (rootfs / "app" / "a.txt").is_symlink()
    assert (rootfs / "app" / "a.txt").read_text() == "a\n"
    assert (rootfs / "etc" / "passwd").read_text().startswith("root:x:0:0:")
    assert (rootfs / "app" / "sub").is_dir() and not (rootfs / "app" / "sub").is_symlink()
    assert sorted(p.name for p in (rootfs / "real").iterdir()) == []
    assert (result.files, result.links) == (2, 2)  # a.txt, sub/b.txt; ln, sub/hard


def test_top_level_symlink_source_is_followed(rootfs: Path, src: Path) -> None:
    (src / "alias").symlink_to(src / "one.txt")
    copy_into(rootfs, OwnershipRecord(), [src / "alias"], "/a.txt")
    assert (rootfs / "a.txt").is_file() and not (rootfs / "a.txt").is_symlink()


def test_globs_and_missing_sources(src: Path) -> None:
    assert expand_sources(["*.txt"], base=src) == [src / "one.txt"]
    assert expand_sources([src / "tree" / "*"]) == [
        src / "tree" / "a.txt",
        src / "tree" / "ln",
        src / "tree" / "sub",
    ]
    with pytest.raises(UsageError, match="no files match"):
        expand_sources([str(src / "*.none")])
    with pytest.raises(UsageError, match="does not exist"):
        expand_sources([src / "missing"])


def test_owner_and_mode_parsing(rootfs: Path) -> None:
    assert resolve_owner(rootfs, None) == (0, 0)
    assert resolve_owner(rootfs, "1000:1000") == (1000, 1000)
    assert resolve_owner(rootfs, "alice") == (1000, 1001)
    assert resolve_owner(rootfs, "alice:staff") == (1000, 50)
    assert resolve_owner(rootfs, "0:staff") == (0, 50)
    with pytest.raises(UsageError, match="--chown 'bob'"):
        resolve_owner(rootfs, "bob")
    with pytest.raises(InvalidIDError) as raised:
        resolve_owner(rootfs, "1000:")
    assert str(raised.value) == (
        "invalid --chown '1000:': the group is empty (expected USER[:GROUP])"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "4294967295:4294967295",
            "invalid --chown '4294967295:4294967295': uid 4294967295 is out of range: "
            "IDs are 0 to 4294967294",
        ),
        (
            "alice:4294967295",
            "invalid --chown 'alice:4294967295': gid 4294967295 is out of range: "
            "IDs are 0 to 4294967294",
        ),
        ("-1:0", "invalid --chown '-1:0': '-1' is neither a uid (0 to 4294967294) nor a user name"),
        ((4294967295, 0), "uid 4294967295 is out of range: IDs are 0 to 4294967294"),
        ((0, -1), "gid -1 is out of range: IDs are 0 to 4294967294"),
    ],
)
def test_invalid_owner_is_refused(rootfs: Path, spec: str | tuple[int, int], message: str) -> None:
    with pytest.raises(InvalidIDError) as raised:
        resolve_owner(rootfs, spec)
    assert str(raised.value) == message


def test_chmod_parsing() -> None:
    assert parse_chmod("0640") == 0o640 and parse_chmod("755") == 0o755
    assert parse_chmod(None) is None
    for bad in ("rwx", "999", "17777"):
        with pytest.raises(UsageError, match="octal"):
            parse_chmod(bad)


def _rootless_copy(root: str, source: str) -> tuple[dict[str, tuple[int, int]], tuple[int, ...]]:
    record = OwnershipRecord(Path(root) / "ownership.json")
    copy_into(
        Path(root) / "rootfs",
        record,
        [Path(source)],
        "/data/",
        owner=(1000, 1000),
        chmod=0o640,
        rootless=True,
    )
    record.save()
    st = (Path(root) / "rootfs" / "data" / "one.txt").lstat()
    return (
        {k: (e.uid, e.gid) for k, e in record.items()},
        (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid),
    )


def test_rootless_owners_go_to_the_side_record(unprivileged_user: User, user_dir: Path) -> None:
    user = unprivileged_user
    (user_dir / "rootfs").mkdir()
    source = user_dir / "one.txt"
    source.write_text("one\n")
    for path in (user_dir / "rootfs", source):
        os.chown(path, user.uid, user.gid)
    entries, on_disk = as_user(user, _rootless_copy, str(user_dir), str(source))
    assert entries == {"data": (1000, 1000), "data/one.txt": (1000, 1000)}
    assert on_disk == (0o640, user.uid, user.gid)
    saved = OwnershipRecord.load(user_dir / "ownership.json")
    assert saved.get("data/one.txt") == OwnershipEntry(1000, 1000)


def test_rootless_flag_records_even_the_default_owner(rootfs: Path, src: Path) -> None:
    record = OwnershipRecord()
    record.set("over.txt", OwnershipEntry(5, 5))  # as a lower layer might have said
    copy_into(rootfs, record, [src / "one.txt"], "/over.txt", rootless=True)
    assert record.get("over.txt") == OwnershipEntry(0, 0)


def test_rootless_default_owner_adds_nothing_to_an_empty_record(rootfs: Path, src: Path) -> None:
    """0:0 with no entry to override is the record's default already: a COPY of a tree
    records nothing, whatever its size."""
    record = OwnershipRecord()
    copy_into(rootfs, record, [src / "one.txt"], "/fresh/", rootless=True)
    assert dict(record.items()) == {}
    assert (rootfs / "fresh" / "one.txt").read_text() == (src / "one.txt").read_text()


# -- archives -------------------------------------------------------------------------------


def _tar_bytes() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("pkg/bin/tool")
        info.size, info.mode, info.uid, info.gid, info.mtime = 5, 0o755, 7, 8, MTIME
        tar.addfile(info, io.BytesIO(b"tool\n"))
        evil = tarfile.TarInfo("../../outside")
        evil.size = 1
        tar.addfile(evil, io.BytesIO(b"x"))
    return out.getvalue()


COMPRESSORS = {
    "tar": lambda b: b,
    "tar.gz": gzip.compress,
    "tar.xz": lzma.compress,
    "tar.bz2": bz2.compress,
    "tar.zst": lambda b: zstandard.ZstdCompressor().compress(b),
    # A skippable frame (magic 0x184D2A50, 4-byte length, payload) before the data frame.
    "skippable.tar.zst": lambda b: (
        b"\x50\x2a\x4d\x18\x04\x00\x00\x00meta" + zstandard.ZstdCompressor().compress(b)
    ),
}


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_archives_are_extracted_safely_with_their_owners(
    rootfs: Path, tmp_path: Path, suffix: str
) -> None:
    archive = tmp_path / f"pkg.{suffix}"
    archive.write_bytes(COMPRESSORS[suffix](_tar_bytes()))
    assert is_archive(archive)
    record = OwnershipRecord()
    written = extract_archive(rootfs, record, archive, "/usr/local", rootless=os.geteuid() != 0)
    tool = rootfs / "usr" / "local" / "pkg" / "bin" / "tool"
    assert tool.read_text() == "tool\n"
    assert stat.S_IMODE(tool.stat().st_mode) == 0o755 and int(tool.stat().st_mtime) == MTIME
    assert (rootfs / "usr" / "local" / "outside").read_text() == "x"  # contained, not escaped
    assert "usr/local/pkg/bin/tool" in written
    if os.geteuid() == 0:
        assert (tool.stat().st_uid, tool.stat().st_gid) == (7, 8)


def test_non_archives_are_not_extracted(tmp_path: Path) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("just text, long enough " * 40)
    squeezed = tmp_path / "notes.gz"
    squeezed.write_bytes(gzip.compress(plain.read_bytes()))
    broken = tmp_path / "broken.xz"
    broken.write_bytes(b"\xfd7zXZ\x00garbage")
    assert [is_archive(p) for p in (plain, squeezed, broken, tmp_path)] == [False] * 4


# -- downloads ------------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "file.bin").write_bytes(b"payload\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_the_checksum(web: str, tmp_path: Path) -> None:
    good = "sha256:" + hashlib.sha256(b"payload\n").hexdigest()
    path, name, mtime = download(f"{web}/file.bin", tmp_path, checksum=good)
    assert (path.read_bytes(), name) == (b"payload\n", "file.bin")
    assert mtime is not None and mtime > 0
    before = sorted(tmp_path.iterdir())
    with pytest.raises(DigestMismatchError, match="not the expected sha256:0000"):
        download(f"{web}/file.bin", tmp_path, checksum="sha256:" + "0" * 64)
    assert sorted(tmp_path.iterdir()) == before  # nothing left behind
    with pytest.raises(TransportError, match="HTTP 404"):
        download(f"{web}/missing", tmp_path)
