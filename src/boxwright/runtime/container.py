"""Running a command in a working container of the store (``container run``, buildah run).

The process sees the container's files through its rootfs driver
(:meth:`boxwright.store.containers.ContainerStore.with_rootfs`), so what it changes stays in
the container and the next commit captures it. The container's pending config supplies the
image defaults (entrypoint, command, environment, user, working directory); its hostname is
the first 12 hex digits of the container ID, as buildah's is.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.oci.config import ImageConfig
from boxwright.runtime.runner import run_in_rootfs
from boxwright.runtime.spec import RunOptions

if TYPE_CHECKING:
    from boxwright.layer.ownership import OwnershipRecord
    from boxwright.store.store import Store


def run_in_container(
    store: Store, container: str, options: RunOptions, isolation: str = "native"
) -> int:
    """Run ``options``' command in working container ``container``; return its exit code."""
    record = store.containers.get(container)
    config = ImageConfig.from_data(record.config)
    options = replace(options, hostname=options.hostname or record.id[:12])

    def work(root: Path, _ownership: OwnershipRecord) -> int:
        return run_in_rootfs(root, config, options, isolation)

    return store.containers.with_rootfs(record.id, work)


__all__ = ["run_in_container"]
