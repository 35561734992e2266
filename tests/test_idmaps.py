"""The one reader of a user namespace's ID maps (/proc/PID/uid_map, gid_map), read in a real
namespace made by a forked child."""

from __future__ import annotations

import os

import pytest

from boxwright._idmaps import IDMapRow, own_uid_map, read_id_map
from boxwright.errors import StoreError
from boxwright.rootless.forked import call_in_namespace
from boxwright_testing.users import User, as_user


def _maps() -> tuple[tuple[IDMapRow, ...], tuple[IDMapRow, ...], tuple[IDMapRow, ...] | None]:
    return read_id_map("uid"), read_id_map("gid", os.getpid()), own_uid_map()


def _maps_in_namespace() -> tuple[
    tuple[IDMapRow, ...], tuple[IDMapRow, ...], tuple[IDMapRow, ...] | None
]:
    return call_in_namespace(_maps, error=StoreError, user=True)


def test_a_single_id_namespace_reads_as_its_one_row(unprivileged_user: User) -> None:
    uids, gids, own = as_user(unprivileged_user, _maps_in_namespace)
    assert uids == ((0, unprivileged_user.uid, 1),)
    assert gids == ((0, unprivileged_user.gid, 1),)
    assert own == uids


def test_a_process_that_is_gone_has_no_map_to_read() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    with pytest.raises(FileNotFoundError):
        read_id_map("uid", pid)
