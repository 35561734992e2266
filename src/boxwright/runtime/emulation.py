"""Running programs of a foreign architecture: the kernel's binfmt_misc entries for qemu.

A RUN for another architecture than the host's runs through qemu user emulation when the
kernel has a ``binfmt_misc`` entry for that architecture: the kernel itself then starts the
emulator for every foreign ELF binary. Debian's ``qemu-user-static`` (with
``binfmt-support``) registers one entry per architecture, named ``qemu-ARCH``, with the
``F`` (fix binary) flag: the kernel opens the emulator when the entry is registered, so it
works inside any rootfs and nothing is copied into the image. An entry without ``F`` would
look for its interpreter inside the container's rootfs, where it is not: it is reported, and
refused, as such.

:func:`emulation_status` says what this machine can run; :func:`check_can_run` is the one
check before a command of a foreign architecture starts. Both only read
``/proc/sys/fs/binfmt_misc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from boxwright.errors import RunError
from boxwright.oci.platform import Platform, normalize_arch

BINFMT_DIR: Final = Path("/proc/sys/fs/binfmt_misc")
#: OCI architecture → the name qemu (and Debian's binfmt entry ``qemu-NAME``) gives it.
QEMU_NAMES: Final = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm": "arm",
    "386": "i386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64le": "mips64el",
    "loong64": "loongarch64",
}
PACKAGES: Final = "qemu-user-static and binfmt-support"
"""What to install on Debian and Ubuntu for emulated RUN."""


@dataclass(frozen=True)
class Emulator:
    """One registered binfmt_misc entry for an architecture."""

    architecture: str
    entry: str
    enabled: bool
    interpreter: str
    flags: str

    @property
    def fix_binary(self) -> bool:
        """Whether the kernel holds the emulator open (``F``), so it runs in any rootfs."""
        return "F" in self.flags

    @property
    def usable(self) -> bool:
        """Whether a container of this architecture can run through this entry."""
        return self.enabled and self.fix_binary


def _read_entry(path: Path, architecture: str) -> Emulator | None:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    fields = dict(line.partition(" ")[::2] for line in lines[1:])
    return Emulator(
        architecture=architecture,
        entry=path.name,
        enabled=bool(lines) and lines[0].strip() == "enabled",
        interpreter=fields.get("interpreter", "").strip(),
        flags=fields.get("flags:", "").strip(),
    )


def emulation_status(binfmt_dir: Path = BINFMT_DIR) -> dict[str, Emulator]:
    """The architectures with a qemu binfmt_misc entry, by OCI name (empty when
    binfmt_misc is not mounted or nothing is registered)."""
    found: dict[str, Emulator] = {}
    for arch, qemu in QEMU_NAMES.items():
        entry = _read_entry(binfmt_dir / f"qemu-{qemu}", arch)
        if entry is not None:
            found[arch] = entry
    return found


def emulation_report(binfmt_dir: Path = BINFMT_DIR) -> dict[str, dict[str, object]]:
    """:func:`emulation_status` as JSON-ready data, by OCI architecture (what ``info``
    shows under ``host.emulation``)."""
    return {
        arch: {
            "entry": e.entry,
            "interpreter": e.interpreter,
            "flags": e.flags,
            "enabled": e.enabled,
            "usable": e.usable,
        }
        for arch, e in emulation_status(binfmt_dir).items()
    }


def check_can_run(
    platform: Platform, host: Platform | None = None, binfmt_dir: Path = BINFMT_DIR
) -> None:
    """Return when programs of ``platform`` run on this machine: natively, or through an
    enabled qemu entry with the ``F`` flag; else :class:`RunError` naming what to install."""
    host = host or Platform.host()
    if platform.runs_natively_on(host):
        return
    arch, _ = normalize_arch(platform.architecture)
    qemu = QEMU_NAMES.get(arch, arch)
    entry = emulation_status(binfmt_dir).get(arch)
    where = f"{binfmt_dir}/qemu-{qemu}"
    if entry is None:
        raise RunError(
            f"cannot run {platform} programs on this {host.architecture} machine: no "
            f"binfmt_misc entry {where} is registered (install {PACKAGES})"
        )
    if not entry.enabled:
        raise RunError(
            f"cannot run {platform} programs: the binfmt_misc entry {where} is disabled "
            f"(enable it: update-binfmts --enable qemu-{qemu})"
        )
    if not entry.fix_binary:
        raise RunError(
            f"cannot run {platform} programs: the binfmt_misc entry {where} lacks the F flag, "
            f"so its interpreter {entry.interpreter} would be looked for inside the container "
            f"(install {PACKAGES}, which register it with F)"
        )


__all__ = [
    "PACKAGES",
    "QEMU_NAMES",
    "Emulator",
    "check_can_run",
    "emulation_report",
    "emulation_status",
]
