"""uid/gid and ``USER[:GROUP]`` parsing: the one parser of every entry point."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boxwright.errors import InvalidIDError
from boxwright.oci.ids import MAX_ID, UserSpec, check_id, parse_id, parse_user_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", UserSpec(0)),
        ("app", UserSpec("app")),
        ("app:staff", UserSpec("app", "staff")),
        ("1000:1000", UserSpec(1000, 1000)),
        ("0", UserSpec(0)),
        ("007:0010", UserSpec(7, 10)),
        ("4294967294:4294967294", UserSpec(4294967294, 4294967294)),
        ("alice:50", UserSpec("alice", 50)),
        ("1e3", UserSpec("1e3")),
        ("www-data", UserSpec("www-data")),
    ],
)
def test_valid_specs(spec: str, expected: UserSpec) -> None:
    assert parse_user_spec(spec) == expected


RANGE = "is out of range: IDs are 0 to 4294967294"
NOT_UID = "is neither a uid (0 to 4294967294) nor a user name"
NOT_GID = "is neither a gid (0 to 4294967294) nor a group name"


@pytest.mark.parametrize(
    ("spec", "what"),
    [
        ("4294967295", f"uid 4294967295 {RANGE}"),
        ("4294967295:4294967295", f"uid 4294967295 {RANGE}"),
        ("0:4294967295", f"gid 4294967295 {RANGE}"),
        ("4294967296", f"uid 4294967296 {RANGE}"),
        ("99999999999999999999999", f"uid 99999999999999999999999 {RANGE}"),
        ("-1", f"'-1' {NOT_UID}"),
        ("+5", f"'+5' {NOT_UID}"),
        (" 5", f"' 5' {NOT_UID}"),
        ("5 ", f"'5 ' {NOT_UID}"),
        ("0:-1", f"'-1' {NOT_GID}"),
        ("0:\t1", f"'\\t1' {NOT_GID}"),
        ("\uff11\uff10", f"{chr(0xFF11) + chr(0xFF10)!r} {NOT_UID}"),
        ("a\x1b[2Jb", f"'a\\x1b[2Jb' {NOT_UID}"),
        ("a:b:c", f"'b:c' {NOT_GID}"),
        (":0", "the user is empty (expected USER[:GROUP])"),
        ("0:", "the group is empty (expected USER[:GROUP])"),
    ],
)
def test_invalid_specs(spec: str, what: str) -> None:
    with pytest.raises(InvalidIDError) as raised:
        parse_user_spec(spec, "--user")
    assert str(raised.value) == f"invalid --user {spec!r}: {what}"


def test_huge_specs_are_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidIDError) as raised:
        parse_user_spec("9" * 100_000)
    shown = "9" * 64 + "..."
    assert str(raised.value) == f"invalid user '{shown}': uid '{shown}' {RANGE}"


def test_parse_id_and_check_id() -> None:
    assert parse_id("0") == 0
    assert parse_id(str(MAX_ID), "gid") == MAX_ID
    assert parse_id("0" * 50 + "12") == 12
    for text in ("", "1_000", "+1", "-0", " 1", "0x10", "4294967295"):
        with pytest.raises(InvalidIDError):
            parse_id(text)
    assert check_id(MAX_ID) == MAX_ID
    for value in (-1, MAX_ID + 1, True, 1 << 64):
        with pytest.raises(InvalidIDError):
            check_id(value)  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused(spec: str) -> None:
    """No spec yields an out-of-range ID or an untyped error."""
    try:
        parsed = parse_user_spec(spec)
    except InvalidIDError:
        return
    for part in (parsed.user, parsed.group):
        if isinstance(part, int):
            assert 0 <= part <= MAX_ID
        elif part is not None:
            assert part and ":" not in part and part[0] not in "+-" and part.strip() == part
