"""binfmt_misc entries read as the kernel writes them, and the one check before a foreign RUN."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxwright.errors import RunError
from boxwright.oci.platform import Platform
from boxwright.runtime.emulation import check_can_run, emulation_report, emulation_status

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")


def _entry(directory: Path, name: str, state: str, flags: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(
        f"{state}\ninterpreter /usr/libexec/qemu-binfmt/{name[5:]}-binfmt-P\nflags: {flags}\n"
        "offset 0\nmagic 7f454c46020101\nmask ffffffffffffff\n"
    )


def test_status_reads_every_qemu_entry(tmp_path: Path) -> None:
    _entry(tmp_path, "qemu-aarch64", "enabled", "PF")
    _entry(tmp_path, "qemu-arm", "disabled", "PF")
    _entry(tmp_path, "python3.11", "enabled", "")
    status = emulation_status(tmp_path)
    assert sorted(status) == ["arm", "arm64"]
    arm64 = status["arm64"]
    assert (arm64.entry, arm64.enabled, arm64.flags, arm64.usable) == (
        "qemu-aarch64",
        True,
        "PF",
        True,
    )
    assert arm64.interpreter == "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
    assert status["arm"].usable is False
    assert emulation_report(tmp_path)["arm"] == {
        "entry": "qemu-arm",
        "interpreter": "/usr/libexec/qemu-binfmt/arm-binfmt-P",
        "flags": "PF",
        "enabled": False,
        "usable": False,
    }
    assert emulation_status(tmp_path / "not-mounted") == {}


def test_check_names_the_package_or_the_fix(tmp_path: Path) -> None:
    check_can_run(AMD64, AMD64, tmp_path)  # native needs nothing
    check_can_run(Platform("linux", "386"), AMD64, tmp_path)
    with pytest.raises(RunError) as missing:
        check_can_run(ARM64, AMD64, tmp_path)
    assert str(missing.value) == (
        f"cannot run linux/arm64/v8 programs on this amd64 machine: no binfmt_misc entry "
        f"{tmp_path}/qemu-aarch64 is registered (install qemu-user-static and binfmt-support)"
    )
    _entry(tmp_path, "qemu-aarch64", "disabled", "PF")
    with pytest.raises(
        RunError, match=r"is disabled \(enable it: update-binfmts --enable qemu-aarch64\)"
    ):
        check_can_run(ARM64, AMD64, tmp_path)
    _entry(tmp_path, "qemu-aarch64", "enabled", "P")
    with pytest.raises(RunError, match="lacks the F flag"):
        check_can_run(ARM64, AMD64, tmp_path)
    _entry(tmp_path, "qemu-aarch64", "enabled", "PF")
    check_can_run(ARM64, AMD64, tmp_path)
