"""run_in_namespace: results and errors cross the fork; an unprivileged user is root of a
single-ID user namespace whose mounts the caller never sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxwright.errors import LayerError, StoreError
from boxwright.layer.ownership import owners_in_side_record
from boxwright.rootless.libc import mount
from boxwright.store.userns import inside_single_id_namespace, run_in_namespace
from boxwright_testing.users import User, as_user, owned_dir


def test_the_result_comes_back() -> None:
    result = run_in_namespace(lambda: {"child": os.getpid(), "n": 42}, user=False, mount=False)
    assert result["n"] == 42
    assert result["child"] != os.getpid()


def _fail() -> None:
    raise LayerError("layer broken: retry")


def test_a_boxwright_error_comes_back_as_the_same_class() -> None:
    with pytest.raises(LayerError, match=r"^layer broken: retry$"):
        run_in_namespace(_fail, user=False, mount=False)


def _oserror() -> None:
    os.rmdir("/nonexistent-boxwright-dir")


def test_an_oserror_becomes_a_store_error_with_its_message() -> None:
    with pytest.raises(StoreError, match="No such file or directory"):
        run_in_namespace(_oserror, user=False, mount=False)


def test_an_unpicklable_result_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot be sent back"):
        run_in_namespace(lambda: lambda: 1, user=False, mount=False)


def _inside(where: str) -> tuple[int, int, bool, bool, list[str]]:
    os.mkdir(os.path.join(where, "m"))
    mount("tmpfs", os.path.join(where, "m"), "tmpfs", 0, "size=1m")
    Path(where, "m", "x").write_text("x")
    return (
        os.geteuid(),
        os.stat(where).st_uid,
        inside_single_id_namespace(),
        owners_in_side_record(),
        os.listdir(os.path.join(where, "m")),
    )


def _as_user(where: str) -> tuple[tuple[int, int, bool, bool, list[str]], list[str], bool]:
    inside = run_in_namespace(lambda: _inside(where), user=True, mount=True)
    return inside, os.listdir(os.path.join(where, "m")), inside_single_id_namespace()


def test_an_unprivileged_user_is_root_inside_and_its_mounts_stay_inside(
    unprivileged_user: User,
) -> None:
    with owned_dir(unprivileged_user, "bw-userns-") as where:
        inside, outside, outside_flag = as_user(unprivileged_user, _as_user, str(where))
    assert inside == (0, 0, True, True, ["x"])
    assert outside == []  # the tmpfs went away with the namespace
    assert outside_flag is False


def test_root_mapping_only_itself_is_not_the_store_namespace_but_keeps_a_side_record() -> None:
    # Root's single-ID namespace maps 0 onto the host's 0: no unprivileged caller's namespace,
    # yet no other ID can be used, so owners still go to the side record.
    if os.geteuid() != 0:
        pytest.skip("needs root")
    flags = run_in_namespace(
        lambda: (inside_single_id_namespace(), owners_in_side_record()), user=True, mount=True
    )
    assert flags == (False, True)
