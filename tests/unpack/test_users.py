"""The image's User resolved through the image's own passwd/group, never the host's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxwright.errors import InvalidIDError, UnpackError
from boxwright.unpack.users import ExecUser, resolve_user

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
    "bob:x:1001:1001::/home/bob:/bin/sh\n"
    "broken-line\n"
)
GROUP = "root:x:0:\nwheel:x:10:alice\nstaff:x:50:alice,bob\nbob:x:1001:\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    return tmp_path


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("", ExecUser(0, 0, (), "/root")),
        ("root", ExecUser(0, 0, (), "/root")),
        ("alice", ExecUser(1000, 1000, (10, 50), "/home/alice")),
        ("1000", ExecUser(1000, 1000, (10, 50), "/home/alice")),
        ("bob", ExecUser(1001, 1001, (50,), "/home/bob")),
        ("alice:staff", ExecUser(1000, 50, (), "/home/alice")),
        ("alice:77", ExecUser(1000, 77, (), "/home/alice")),
        ("4242", ExecUser(4242, 0, (), "/")),
        ("4242:4343", ExecUser(4242, 4343, (), "/")),
        ("4242:wheel", ExecUser(4242, 10, (), "/")),
    ],
)
def test_user_specs_resolve_as_runc_does(rootfs: Path, spec: str, want: ExecUser) -> None:
    assert resolve_user(rootfs, spec) == want


def test_unknown_names_are_clear_errors(rootfs: Path) -> None:
    with pytest.raises(UnpackError, match="cannot resolve user 'mallory': the image has no such"):
        resolve_user(rootfs, "mallory")
    with pytest.raises(UnpackError, match="cannot resolve group 'nogroup'"):
        resolve_user(rootfs, "alice:nogroup")


RANGE = "is out of range: IDs are 0 to 4294967294"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("4294967295", f"invalid image User '4294967295': uid 4294967295 {RANGE}"),
        (
            "4294967295:4294967295",
            f"invalid image User '4294967295:4294967295': uid 4294967295 {RANGE}",
        ),
        ("alice:4294967295", f"invalid image User 'alice:4294967295': gid 4294967295 {RANGE}"),
        ("-1", "invalid image User '-1': '-1' is neither a uid (0 to 4294967294) nor a user name"),
    ],
)
def test_invalid_ids_in_the_spec_are_refused(rootfs: Path, spec: str, message: str) -> None:
    with pytest.raises(InvalidIDError) as raised:
        resolve_user(rootfs, spec, "image User")
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("passwd", "group", "spec", "message"),
    [
        (
            "evil:x:4294967295:0::/:/bin/sh\n",
            "",
            "evil",
            f"the image's /etc/passwd entry 'evil': uid 4294967295 {RANGE}",
        ),
        (
            "evil:x:1000:4294967295::/:/bin/sh\n",
            "",
            "evil",
            f"the image's /etc/passwd entry 'evil': gid 4294967295 {RANGE}",
        ),
        (
            "evil:x:abc:0::/:/bin/sh\n",
            "",
            "evil",
            "the image's /etc/passwd entry 'evil': uid 'abc' is not a number from 0 to 4294967294",
        ),
        (
            "",
            "evil:x:4294967295:\n",
            "0:evil",
            f"the image's /etc/group entry 'evil': gid 4294967295 {RANGE}",
        ),
        (
            "alice:x:1000:1000::/:/bin/sh\n",
            "evil:x:-1:alice\n",
            "alice",
            "the image's /etc/group entry 'evil': gid '-1' is not a number from 0 to 4294967294",
        ),
    ],
)
def test_invalid_ids_in_the_image_files_never_mean_root(
    tmp_path: Path, passwd: str, group: str, spec: str, message: str
) -> None:
    """runc reads an unparsable field as 0, and 4294967295 is (uid_t)-1: both are refused."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(passwd)
    (tmp_path / "etc/group").write_text(group)
    with pytest.raises(InvalidIDError) as raised:
        resolve_user(tmp_path, spec)
    assert str(raised.value) == message


def test_entries_with_invalid_ids_do_not_match_numbers(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("evil:x:4294967295:0::/evil:/bin/sh\n")
    assert resolve_user(tmp_path, "4294967294") == ExecUser(4294967294, 0, (), "/")


def test_numeric_users_need_no_passwd(tmp_path: Path) -> None:
    assert resolve_user(tmp_path, "1234:99") == ExecUser(1234, 99, (), "/")
    assert resolve_user(tmp_path, "") == ExecUser(0, 0, (), "/")
    with pytest.raises(UnpackError, match="the image has no /etc/passwd"):
        resolve_user(tmp_path, "alice")


def test_passwd_symlinked_to_host_shadow_is_read_inside_the_rootfs(tmp_path: Path) -> None:
    """CVE-2024-9676: /etc/passwd -> /etc/shadow must name the image's shadow, not the host's."""
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/shadow", tmp_path / "etc/passwd")
    # Without an image shadow: as if there were no passwd at all (the host's is never read).
    with pytest.raises(UnpackError, match="has no /etc/passwd"):
        resolve_user(tmp_path, "root")
    assert resolve_user(tmp_path, "") == ExecUser(0, 0, (), "/")
    # With one, that is what is read.
    (tmp_path / "etc/shadow").write_text("root:x:7:8::/inside:/bin/sh\n")
    assert resolve_user(tmp_path, "root") == ExecUser(7, 8, (), "/inside")


def test_climbing_links_stay_in_the_rootfs(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("../../../../../../etc/passwd", tmp_path / "etc/group")
    (tmp_path / "etc/passwd").write_text("u:x:5:6::/h:/bin/sh\n")
    # /etc/group -> (clamped) /etc/passwd inside the rootfs: the group "u" is read from the
    # image's passwd line "u:x:5:...", whose third field is 5.
    assert resolve_user(tmp_path, "u:u") == ExecUser(5, 5, (), "/h")


def test_passwd_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc/passwd")
    with pytest.raises(UnpackError, match="/etc/passwd in the image is not a regular file"):
        resolve_user(tmp_path, "alice")


def test_symlink_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("passwd", tmp_path / "etc/passwd")
    with pytest.raises(Exception, match="symbolic links"):
        resolve_user(tmp_path, "alice")
