"""Running commands in containers of the store: ``container run`` and ``boxwright run``.

:func:`run_in_container` is buildah run: the process sees a working container's files through
its rootfs driver (:meth:`boxwright.store.containers.ContainerStore.with_rootfs`), so what it
changes stays in the container and the next commit captures it. The container's pending
config supplies the image defaults (entrypoint, command, environment, user, working
directory); its hostname is the first 12 hex digits of the container ID, as buildah's is.

:func:`run_image` is podman run: a fresh working container from an image (a stored one, or
any transport reference, pulled first), the command run in it with Docker's entrypoint and
cmd rules, the exit code returned; the container stays (``container ls`` lists it) unless
``remove`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.oci.config import ImageConfig
from boxwright.oci.platform import Platform
from boxwright.runtime.idmap import single_id_run
from boxwright.runtime.native import forwarding_to_children
from boxwright.runtime.runner import Runner, run_in_rootfs
from boxwright.runtime.spec import RunOptions
from boxwright.runtime.volumes import joining_container, use_named_volumes
from boxwright.store.store import Store

if TYPE_CHECKING:
    from boxwright.layer.ownership import OwnershipRecord


def run_in_container(
    store: Store, container: str, options: RunOptions, isolation: str | Runner = "native"
) -> int:
    """Run ``options``' command in working container ``container``; return its exit code.

    The caller's signals reach the container also when the runner works in a forked child.
    Raises :class:`~boxwright.errors.RunError` (with podman's ``exit_code``) when the
    process cannot be started.
    """
    record = store.containers.get(container)
    config = ImageConfig.from_data(record.config)
    if config.architecture and not config.platform().runs_natively_on(Platform.host()):
        from boxwright.runtime.emulation import check_can_run  # only a foreign image's run

        check_can_run(config.platform())
    options = replace(options, hostname=options.hostname or record.id[:12])
    options = use_named_volumes(store, record.id, joining_container(store, options))

    def work(root: Path, ownership: OwnershipRecord) -> int:
        if not single_id_run():
            return run_in_rootfs(root, config, options, isolation)
        # fakeroot's ownership keeping serves only a container that maps one ID
        from boxwright.runtime.ownership import keeping_ownership

        with keeping_ownership(root, ownership, config, options.user) as kept:
            code = run_in_rootfs(root, config, kept.options(options), isolation)
        kept.warn_if_failed(code)
        return code

    with forwarding_to_children():
        return store.containers.with_rootfs(record.id, work)


@dataclass(frozen=True)
class ImageRun:
    """How :func:`run_image` ended: the process's exit code, and the container it ran in
    (its ID; ``None`` when it was removed afterwards)."""

    exit_code: int
    container: str | None


def run_image(
    image: str,
    options: RunOptions | None = None,
    *,
    store: Store | None = None,
    root: Path | str | None = None,
    isolation: str = "native",
    remove: bool = False,
    name: str | None = None,
    platform: Platform | None = None,
) -> ImageRun:
    """Run a command in a fresh container of ``image``, as ``podman run`` does.

    ``image`` is a stored image (name or ID) or a transport reference (``oci:DIR:TAG``,
    ``docker://...``), pulled into the store first; ``root`` opens the store there when no
    ``store`` is given. The container is made with ``name`` (default: buildah's naming) and
    removed afterwards when ``remove`` is set, also when the run fails. ``platform`` picks the
    image out of an index or a manifest list (default: this machine's). Raises
    :class:`~boxwright.errors.RunError` when the process cannot be started and
    :class:`~boxwright.errors.ImageNotFoundError` when the image is nowhere.
    """
    if store is None:
        store = Store(root)
    record = store.containers.create(image, name, platform=platform)
    try:
        code = run_in_container(store, record.id, options or RunOptions(), isolation)
    finally:
        if remove:
            store.containers.remove(record.id)
    return ImageRun(code, None if remove else record.id)


__all__ = ["ImageRun", "run_image", "run_in_container"]
