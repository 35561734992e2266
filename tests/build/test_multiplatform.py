"""Builds for other and for several platforms: emulated RUN, FROM --platform, --manifest.

The bases are Debian's busybox-static of amd64 and of arm64 (``busybox_platforms``); a RUN of
the arm64 image runs through qemu-user-static (``arm64_emulation``).
"""

from __future__ import annotations

from pathlib import Path

from boxwright.store import Store
from boxwright_testing.builds import config_of, run_build, tree_of, write_context
from boxwright_testing.multiarch import BusyboxPlatforms


def test_a_foreign_run_goes_through_qemu(
    tmp_path: Path, busybox_platforms: BusyboxPlatforms, arm64_emulation: None
) -> None:
    store = Store(tmp_path / "store")
    text = f"FROM {busybox_platforms.ref('multi')}\nRUN /bin/busybox uname -m > /arch\n"
    ctx = write_context(tmp_path / "ctx", text)
    built = run_build(store, ctx, platform="linux/arm64")
    assert tree_of(store, built.image_id)["arch"][4] == "aarch64\n"
    assert (
        config_of(store, built.image_id)["architecture"],
        config_of(store, built.image_id)["variant"],
    ) == ("arm64", "v8")
