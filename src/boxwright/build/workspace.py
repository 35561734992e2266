"""The files of one stage (:class:`StageWorkspace`): its working container, the images its
``--from`` flags name, its scratch directory; and the images FROM names (:func:`resolve_image`).

The working container is made on first use from the stage's parent image (a fully cached
build makes none); its record holds the stage's config, which :meth:`StageWorkspace.set_config`
keeps current, so a RUN, a COPY and a commit read the config there and nowhere else. A
WORKDIR made before the container exists is made in it when it is.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.build.context import find_named
from boxwright.build.stages import stage_of
from boxwright.errors import (
    BoxwrightError,
    ImageNotFoundError,
    PlatformNotFoundError,
    UsageError,
)
from boxwright.layer.pathsafe import clean_entry_name, mkdir_parents_in_root
from boxwright.store.names import LOCAL_HOST, parse_name
from boxwright.store.platformimage import image_for_platform
from boxwright.transport.reference import TRANSPORTS

if TYPE_CHECKING:
    from boxwright.build.shared import BuildShared
    from boxwright.layer.ownership import OwnershipRecord
    from boxwright.oci.config import ImageConfig
    from boxwright.oci.platform import Platform
    from boxwright.store.store import Store


def resolve_image(shared: BuildShared, name: str, platform: Platform | None) -> str:
    """:func:`_resolve_image`, noting the image read for the build's provenance."""
    image_id = _resolve_image(shared, name, platform)
    shared.note_base(name, shared.store.images.get(image_id).manifest)
    return image_id


def _resolve_image(shared: BuildShared, name: str, platform: Platform | None) -> str:
    """A FROM image's ID: a transport reference pulled, else a name of the store or a registry,
    as the pull policy says (:attr:`~boxwright.build.context.BuildOptions.pull`): ``missing``
    pulls only what the store lacks, ``always`` pulls every time (a failure fails the build),
    ``never`` takes the store's image or fails, ``newer`` pulls and falls back to the store's
    image when the pull fails (a pull of an unchanged image moves no blob)."""
    store, options = shared.store, shared.options

    def pulled(ref: str) -> str:
        from boxwright.store.pullpush import pull  # the copy pipeline: only to pull

        return pull(ref, store=store, platform=platform, src_options=options.registry_options).id

    prefix, sep, _ = name.partition(":")
    if sep and prefix in TRANSPORTS and prefix != "store":
        return pulled(name)
    bare = name[len("store:") :] if name.startswith("store:") else name
    policy = options.pull
    local = image_for_platform(store, bare, platform)
    if local is not None and policy in ("missing", "never"):
        return local
    other = _stored_platform(store, bare) if local is None else None
    wrong = f"FROM {bare}: the store's image is for {other}, not {platform}"
    if other is not None and (policy == "never" or _local_only(store, bare)):
        why = "--pull=never forbids pulling" if policy == "never" else "no registry holds it"
        raise PlatformNotFoundError(
            f"{wrong}, and {why}; build or pull it for {platform} "
            f"(boxwright pull --platform {platform} REF)"
        )
    if policy == "never":
        raise ImageNotFoundError(
            f"image {bare!r} is not in the store, and --pull=never forbids pulling it"
        )
    try:
        image_id = pulled(f"docker://{bare}")
    except BoxwrightError as error:
        if policy == "newer" and local is not None:
            return local
        if other is not None:
            raise PlatformNotFoundError(
                f"{wrong}, and pulling docker://{bare} for {platform} failed: {error}"
            ) from error
        raise
    if other is not None and image_for_platform(store, image_id, platform) is None:
        raise PlatformNotFoundError(
            f"{wrong}, and docker://{bare} is for {_stored_platform(store, image_id)} too"
        )
    return image_id


def _stored_platform(store: Store, name: str) -> Platform | None:
    """The platform of the stored image ``name`` (None: the store has no image of it)."""
    if not store.images.exists(name):
        return None
    return store.images.config(store.images.get(name)).platform()


def _local_only(store: Store, name: str) -> bool:
    """Whether ``name`` names a stored image no registry can hold: by its ID, or by a name
    of the ``localhost`` domain (what ``build -t``, ``tag`` and ``commit`` give a bare name)."""
    _, matched = store.images.resolve(name)
    if matched is None:
        return "@" not in name
    return parse_name(matched).host == LOCAL_HOST


class StageWorkspace:
    """The files of one stage (module docstring); :meth:`close` removes them."""

    def __init__(self, shared: BuildShared, stage: int, platform: Platform | None) -> None:
        self._shared = shared
        self._store: Store = shared.store
        self._stage = stage
        self._platform = platform
        self._base: str | None = None
        self._config: ImageConfig | None = None
        self.cid: str | None = None
        self._retired: str | None = None
        """The container a :meth:`reset` let go of: removed when the next one is made, in
        the same write of the store's container records, or by :meth:`drop`."""
        self._staging: Path | None = None
        self._mounted: dict[str, tuple[str, Path]] = {}
        self._pending_dirs: list[str] = []
        self.workdirs: list[str] = []
        """The WORKDIRs made (or to be made) in the working container since :meth:`reset`."""

    # -- the working container ------------------------------------------------------------------

    def reset(self, base: str | None, config: ImageConfig) -> None:
        """Continue from the image ``base`` (an ID, its 12-hex short form, or None for
        scratch) with ``config``: the container so far is dropped, the next is made on use."""
        self._retire()
        self._base = base
        self._config = config
        self._pending_dirs = []
        self.workdirs = []

    def set_config(self, config: ImageConfig) -> None:
        """The stage's config from now on, in the container's record when it exists."""
        self._config = config
        if self.cid is not None:
            self._store.containers.update(self.cid, config=config.data)

    def container(self) -> str:
        """The working container of the current step (made on first use)."""
        if self.cid is None:
            assert self._config is not None, "reset() first"
            record = self._store.containers.create(
                self._base, config=self._config.data, replacing=self._retired
            )
            self._retired = None
            self.cid = record.id
            pending, self._pending_dirs = self._pending_dirs, []
            for path in pending:
                self.make_workdir(path)
        return self.cid

    @property
    def has_pending_dirs(self) -> bool:
        """Whether a WORKDIR waits for a container to be made in."""
        return bool(self._pending_dirs)

    def make_workdir(self, path: str) -> None:
        """Create the WORKDIR (as buildah does) when it is missing."""
        rel = clean_entry_name(path, allow_root=True)
        if not rel:
            return
        self.workdirs.append(path)
        if self.cid is None:
            self._pending_dirs.append(path)
            return

        def work(root: Path, _record: OwnershipRecord) -> None:
            mkdir_parents_in_root(root, rel, 0o755)

        self._store.containers.with_rootfs(self.cid, work)

    def _retire(self) -> None:
        """Let go of the working container; the next :meth:`container` removes it."""
        if self.cid is not None:
            self.drop_retired()
            self._retired, self.cid = self.cid, None

    def drop_retired(self) -> None:
        """Remove the container a :meth:`reset` let go of, if still there."""
        if self._retired is not None:
            cid, self._retired = self._retired, None
            self._store.containers.remove(cid)

    def drop(self) -> None:
        """Remove the working container (the next :meth:`container` makes a new one)."""
        self.drop_retired()
        if self.cid is not None:
            cid, self.cid = self.cid, None
            self._store.containers.remove(cid)

    # -- what --from names ----------------------------------------------------------------------

    def origin_id(self, name: str) -> str:
        """The image ID a ``--from`` names: a named context's image, an earlier stage (name or
        number), else an image; for a named context that is a directory, ``context:NAME``
        (the cache key takes the content of what is copied from it)."""
        context = find_named(self._shared.named_contexts, name)
        if context is not None:
            if context.image is None:
                return f"context:{context.name}"
            return resolve_image(self._shared, context.image, self._platform)
        index = stage_of(self._shared.containerfile, name, self._stage)
        if index is not None:
            return self.stage_image(index)
        return resolve_image(self._shared, name, self._platform)

    def stage_image(self, index: int) -> str:
        """The image stage ``index`` made. It has finished when the plan made this stage wait
        for it (:func:`~boxwright.build.stages.plan_stages`); a ``--from`` whose value changed
        after the plan (an ARG set by a base image's ONBUILD trigger) is refused."""
        image = self._shared.stage_image(index)
        if image is None:
            stage = self._shared.containerfile.stages[index]
            raise UsageError(
                f"stage {stage.name or index} is named here by a value the build could not "
                "know when it chose which stages to build first (an ONBUILD trigger's ARG?): "
                "give the stage by its name or with --build-arg"
            )
        return image

    def mounted_image(self, name: str) -> Path:
        """A host path holding the files of what ``--from`` names (kept until :meth:`close`):
        a named context's directory is itself."""
        context = find_named(self._shared.named_contexts, name)
        if context is not None and context.directory is not None:
            return context.directory
        image = self.origin_id(name)
        if image not in self._mounted:
            record = self._store.containers.create(image)
            try:
                path = self._store.containers.mount(record.id)
            except BaseException:
                self._store.containers.remove(record.id)
                raise
            self._mounted[image] = (record.id, path)
        return self._mounted[image][1]

    def mounted_ownership(self, name: str) -> OwnershipRecord | None:
        """The side record of :meth:`mounted_image`'s files: the owners they mean where the
        files themselves cannot hold them (a rootless store). None for a named directory
        context: its files are copied as the build context's are, owned by 0:0 (BuildKit)."""
        context = find_named(self._shared.named_contexts, name)
        if context is not None and context.directory is not None:
            return None
        self.mounted_image(name)
        cid, _path = self._mounted[self.origin_id(name)]
        return self._store.containers.ownership(cid)

    def staging(self) -> Path:
        """A private scratch directory of this stage under the store's ``tmp``."""
        if self._staging is None:
            tmp = self._store.layout.tmp_dir
            tmp.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix="build-", dir=tmp))
        return self._staging

    def close(self) -> None:
        """Remove the working container, the mounted images' containers and the scratch."""
        self.drop()
        for cid, _path in self._mounted.values():
            self._store.containers.remove(cid)
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)


__all__ = ["StageWorkspace", "resolve_image"]
