"""What every stage of one build shares (:class:`BuildShared`): the options, the store, the
parsed Containerfile and context, the images stages have made, and the event sink.

It sits below the stage runner and the executor, so both use it without importing each other.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.build.context import BuildEvent, BuildOptions, FileHashes, NamedContext

if TYPE_CHECKING:
    from boxwright.build.containerfile.ignore import IgnoreMatcher
    from boxwright.build.containerfile.model import Containerfile
    from boxwright.oci.digest import Digest
    from boxwright.store.store import Store


@dataclass
class BuildShared:
    """What every stage of one build shares."""

    options: BuildOptions
    store: Store
    containerfile: Containerfile
    context: Path
    ignore: IgnoreMatcher | None
    scope: dict[str, str]
    """The global ARG scope."""
    timestamp: int | None
    """The ``created`` time of every image and new history entry (``--timestamp``, else the
    source date epoch), or None for the current time."""
    total_steps: int
    lock: threading.Lock
    stage_images: dict[int, str]
    final_index: int = -1
    file_hashes: FileHashes = field(default_factory=FileHashes)
    failures: list[BaseException] = field(default_factory=list)
    clamp_mtime: bool = True
    """Whether ``timestamp`` also clamps the mtimes in new layers (``--timestamp``, or a
    source date epoch with ``--rewrite-timestamp``)."""

    cache_hits: int = 0
    named_contexts: Mapping[str, NamedContext] = field(default_factory=dict)
    """``--build-context`` NAME → what it names (FROM, ``--from`` and ``from=`` see it first)."""
    steps_before: dict[int, int] = field(default_factory=dict)
    """Stage index -> how many steps the stages before it (in file order) have: podman
    numbers steps in file order, so a stage's numbers do not depend on when it runs."""
    base_images: dict[str, Digest] = field(default_factory=dict)
    """Every image the build read (FROM, ``--from``, ``from=``), as named → the manifest
    digest of the stored image used (what a provenance lists as resolved dependencies)."""
    platform: str = ""
    """The target platform (``os/arch[/variant]``)."""
    containerfile_name: str = ""
    containerfile_text: str = ""
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    attestations: list[Digest] = field(default_factory=list)
    """The attestations kept as referrers of the final image."""

    def note_base(self, name: str, digest: Digest) -> None:
        """Remember that the build read the image ``name`` as the manifest ``digest``."""
        with self.lock:
            self.base_images[name] = digest

    def mtime_clamp(self) -> int | None:
        """The mtime no file of a new layer may pass, or None."""
        return self.timestamp if self.clamp_mtime else None

    def timestamp_keys(self) -> list[str]:
        """What the times add to a step's cache key: a source date epoch that leaves layer
        mtimes alone, whose layers differ from both a plain build's and a ``--timestamp``
        build's; nothing otherwise, so the keys of other builds stay as they are."""
        if self.timestamp is None or self.clamp_mtime:
            return []
        return [f"source-date-epoch={self.timestamp}"]

    def emit(self, event: BuildEvent) -> None:
        """Report ``event`` to the caller (serialized: stages may run on threads)."""
        if self.options.on_event is not None:
            with self.lock:
                self.options.on_event(event)

    def count_cache_hit(self) -> None:
        """One more step taken from the cache."""
        with self.lock:
            self.cache_hits += 1

    def stage_image(self, index: int) -> str | None:
        """The image stage ``index`` made, once it has finished."""
        with self.lock:
            return self.stage_images.get(index)


__all__ = ["BuildShared"]
