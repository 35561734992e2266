"""The work of a stage's steps that the cache did not have (:class:`StepWork`): a RUN run, a
COPY or ADD copied, a linked step's carrier made, a commit of the working container.

:class:`~boxwright.build.stagerun.StageRun` walks the stage, computes each step's key and
asks the cache; only on a miss does it import this module, so a rebuild whose every step is
cached loads neither the runtime, the copier nor the commit (``tests/build/test_cache.py``
names the modules it leaves unloaded).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from boxwright.build.commits import carrier_created_by, commit_linked, history_of, make_carrier
from boxwright.build.copyapply import apply_copy
from boxwright.build.runexec import run_step
from boxwright.store.commit import commit_container

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.copystep import CopyStep
    from boxwright.build.shared import BuildShared
    from boxwright.build.step import Note, StepContext
    from boxwright.build.workspace import StageWorkspace
    from boxwright.oci.config import ImageConfig
    from boxwright.store.images import ImageRecord


class StepWork:
    """What runs, copies and commits for one stage (module docstring), in its workspace."""

    def __init__(self, shared: BuildShared, workspace: StageWorkspace) -> None:
        self.shared = shared
        self.store = shared.store
        self.workspace = workspace

    def run(self, ctx: StepContext, instruction: Instruction) -> None:
        """Run the RUN ``instruction`` in the stage's working container."""
        run_step(ctx, instruction)

    def copy(self, step: CopyStep) -> str:
        """Copy ``step``'s sources into the stage's working container; its ``created_by``."""
        return apply_copy(step)

    def carrier(self, step: CopyStep) -> tuple[str, str]:
        """The carrier image of a linked ``step``, made by copying into an empty working
        container (:func:`~boxwright.build.commits.make_carrier`), and its ``created_by``."""
        shared = self.shared
        return make_carrier(
            self.store,
            functools.partial(apply_copy, step),
            format=shared.options.format,
            timestamp=shared.timestamp,
            clamp_mtime=shared.clamp_mtime,
        )

    def carrier_created_by(self, carrier: str) -> str:
        """The ``created_by`` of the step a cached carrier image was made for."""
        return carrier_created_by(self.store, carrier)

    def commit(
        self,
        config: ImageConfig,
        notes: Sequence[Note],
        created_by: str | None,
        *,
        squash: bool,
        linked: str | None,
        annotations: dict[str, str] | None,
    ) -> ImageRecord:
        """Commit the working container with ``config``, the pending ``notes`` and
        ``created_by`` for its layer (None: no history entry); with ``linked`` (a carrier
        image) the layer is the carrier's layer blob, unchanged, and the container's files
        are not read."""
        cid = self.workspace.container()
        history = history_of(notes, created_by) if created_by is not None else []
        # the container is dropped after its commit: its record is not rewritten for it
        record = self.store.containers.pending(cid, config=config.data, history=history)
        options, timestamp = self.shared.options, self.shared.timestamp
        if linked is not None:
            assert created_by is not None  # a linked step always has its entry
            return commit_linked(
                self.store,
                record,
                linked,
                created_by,
                format=options.format,
                timestamp=timestamp,
                annotations=annotations,
            )
        return commit_container(
            self.store,
            record,
            None,
            squash=squash,
            format=options.format,
            timestamp=timestamp,
            annotations=annotations,
            clamp_mtime=self.shared.clamp_mtime,
            base_comment=False,
            history_entry=created_by is not None,
            hand_over=True,  # the stage continues from a new container of the image
        )


__all__ = ["StepWork"]
