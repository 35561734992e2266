"""One stage of a build: FROM, then each instruction, in a working container of the store.

See :mod:`boxwright.build.executor` for how steps become layers, history and cache entries.
:class:`StageRun` drives the stage: it keeps what the stage has done so far (its parent image,
the last committed step or the base; its config; the history notes of the config steps since
the last commit; its ARGs), hands each step a :class:`~boxwright.build.step.StepContext`, asks
the cache with the step's key before running it, and records what the step returns. The files
the steps touch are the stage's :class:`~boxwright.build.workspace.StageWorkspace`.

This module plans and looks up: the keys (:mod:`boxwright.build.runstep`,
:mod:`boxwright.build.copystep`, :mod:`boxwright.build.configsteps`) and the cache. The work
of a step the cache lacks (run, copy, commit) is :class:`~boxwright.build.stageexec.StepWork`'s,
imported at the first miss: a rebuild whose every step is cached never loads it.
"""

from __future__ import annotations

import json
import posixpath
from typing import TYPE_CHECKING

from boxwright.build import instructions as ins
from boxwright.build.cache import LayerCache, link_key, step_key
from boxwright.build.configsteps import CONFIG_STEPS, config_step
from boxwright.build.containerfile.parser import parse
from boxwright.build.context import BuildEvent, EventKind, OutputStream
from boxwright.build.copystep import CopyStep, copy_key
from boxwright.build.runstep import run_created_by, run_key
from boxwright.build.step import NOP, Note, StepContext, StepKey, where
from boxwright.build.workspace import StageWorkspace, resolve_image
from boxwright.errors import BoxwrightError, BuildError, UsageError
from boxwright.oci.config import ImageConfig, created_time
from boxwright.oci.platform import Platform
from boxwright.oci.runtime_spec import SEARCH_PATH

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.shared import BuildShared
    from boxwright.build.stageexec import StepWork
    from boxwright.build.stages import StagePlan


class StageRun:
    """Runs one :class:`~boxwright.build.stages.StagePlan` (module docstring)."""

    def __init__(self, shared: BuildShared, plan: StagePlan, target: Platform) -> None:
        self.shared = shared
        self.plan = plan
        self.stage = plan.stage
        self.store = shared.store
        self.target = Platform.parse(plan.platform) if plan.platform else target
        self.layers = shared.options.layers
        self.workspace = StageWorkspace(shared, plan.stage.index, self._platform_or_none())
        self.cache = LayerCache(shared.store, shared.options)
        self.config = ImageConfig.from_data({})
        self.args: dict[str, str] = {}
        self.arg_names: tuple[str, ...] = ()
        self.shadowed: frozenset[str] = frozenset()
        self.arg_keys: list[str] = []
        self.cmd_set = False
        self.notes: list[Note] = []
        self.parent: str | None = None
        self.committed_any = False
        """Whether the parent is an image this stage committed or took from the cache."""
        self.base_annotations: dict[str, str] = {}
        """buildah's manifest annotations naming the FROM image (OCI format, image bases)."""
        self.step = shared.steps_before.get(plan.stage.index, 0)
        """The global number of the step running (its RUN output events carry it)."""
        self._step_work: StepWork | None = None

    # -- the stage ------------------------------------------------------------------------------

    def run(self) -> None:
        """FROM, every instruction, the final commit; the stage's image into ``stage_images``."""
        try:
            self._from()
            for instruction in self.stage.instructions:
                self._step(instruction)
            self._finish()
        finally:
            self.workspace.close()

    def _emit(self, kind: EventKind, text: str, step: int = 0) -> None:
        self.shared.emit(BuildEvent(kind, text, self.stage.index, step))

    def output(self, line: str, stream: OutputStream) -> None:
        """Report one line a RUN of the current step wrote on ``stream``."""
        self.shared.emit(BuildEvent("output", line, self.stage.index, self.step, stream))

    def _from(self) -> None:
        self.step += 1
        original = self.stage.from_instruction.original.strip()
        self._emit("step", f"STEP {self.step}/{self.shared.total_steps}: {original}", self.step)
        plan = self.plan
        if plan.base_stage is not None:
            self.parent = self.workspace.stage_image(plan.base_stage)
        elif plan.base.lower() != "scratch":
            self.parent = resolve_image(self.shared, plan.base, self._platform_or_none())
            record, matched = self.store.images.resolve(self.parent)
            names = record.names
            self.base_annotations = {
                "org.opencontainers.image.base.digest": str(record.manifest),
                "org.opencontainers.image.base.name": matched or (names[0] if names else ""),
            }
        self._continue()
        config, triggers = ins.take_onbuild(self.config)
        self._set_config(config)
        for trigger in triggers:
            self._run_trigger(trigger)

    def _run_trigger(self, trigger: str) -> None:
        parsed = parse(f"FROM scratch\n{trigger}\n", f"ONBUILD of {self.plan.base}")
        for instruction in parsed.stages[0].instructions:
            if instruction.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                raise UsageError(f"ONBUILD {instruction.keyword} is not allowed as a trigger")
            self._emit("output", f"--> ONBUILD {instruction.original.strip()}")
            self._step(instruction, count=False)

    def _platform_or_none(self) -> Platform | None:
        """The platform asked of this stage (``FROM --platform`` or the build's), or None."""
        return self.target if self.shared.options.platform or self.plan.platform else None

    def _continue(self) -> None:
        """Continue from ``parent``: its config now, its working container when first needed
        (a fully cached build makes no container at all)."""
        self.config = self._parent_config()
        if self.parent is None:
            # FROM scratch: Docker's default PATH, as BuildKit and buildah set it
            self.config = ins.set_env(self.config, [("PATH", SEARCH_PATH)])
        if self.parent is None and self._platform_or_none() is not None:
            target = self.target
            self.config = self.config.with_changes(os=target.os, architecture=target.architecture)
            if target.variant:
                self.config = self.config.with_changes(variant=target.variant)
        # By the 12-hex short ID, which the commit's history comment names, as buildah's.
        base = self.parent[:12] if self.parent and self.committed_any else self.parent
        self.workspace.reset(base, self.config)

    def _parent_config(self) -> ImageConfig:
        if self.parent is None:
            return ImageConfig.new(Platform.host())
        return self.store.images.config(self.store.images.get(self.parent))

    def _set_config(self, config: ImageConfig) -> None:
        self.config = config
        self.workspace.set_config(config)

    # -- steps ----------------------------------------------------------------------------------

    def _context(self, instruction: Instruction) -> StepContext:
        """What a step of this stage needs, as the stage is now."""
        shared = self.shared
        return StepContext(
            config=self.config,
            args=dict(self.args),
            options=shared.options,
            store=self.store,
            context=shared.context,
            ignore=shared.ignore,
            escape=shared.containerfile.escape,
            scope=shared.scope,
            target=self.target,
            workspace=self.workspace,
            output=self.output,
            file_hashes=shared.file_hashes,
            hashes_lock=shared.lock,
            location=str(instruction.location),
            cmd_set=self.cmd_set,
            arg_names=self.arg_names,
            shadowed=self.shadowed,
        )

    def _step(self, instruction: Instruction, count: bool = True) -> None:
        if count:
            self.step += 1
            text = instruction.original.strip()
            self._emit("step", f"STEP {self.step}/{self.shared.total_steps}: {text}", self.step)
        keyword = instruction.keyword
        try:
            ctx = self._context(instruction)
            if keyword in CONFIG_STEPS:
                self._config_step(ctx, instruction)
            elif keyword == "RUN":
                self._run_step(ctx, instruction)
            elif keyword in ("COPY", "ADD"):
                self._copy_step(ctx, instruction)
            else:
                raise UsageError(f"unknown instruction {keyword}")
        except BuildError:
            raise
        except BoxwrightError as error:
            raise BuildError(f"{where(instruction)}: {keyword}: {error}") from error

    def _config_step(self, ctx: StepContext, instruction: Instruction) -> None:
        outcome = config_step(ctx, instruction)
        self.args = dict(outcome.args)
        self.arg_names = outcome.arg_names
        self.shadowed = outcome.shadowed
        self.cmd_set = outcome.cmd_set
        if outcome.arg_key is not None:
            self.arg_keys.append(outcome.arg_key)
        else:
            self._set_config(outcome.config)
        if outcome.workdir is not None:
            self.workspace.make_workdir(outcome.workdir)
        self.notes.append(Note(outcome.created_by, outcome.key, created_time()))

    def _run_step(self, ctx: StepContext, instruction: Instruction) -> None:
        created_by = run_created_by(ctx, instruction)
        key = self._key(run_key(ctx, instruction), [created_by])
        if self._cached(key):
            return
        self._work().run(ctx, instruction)
        self._layer_step(created_by, key)

    def _copy_step(self, ctx: StepContext, instruction: Instruction) -> None:
        step = CopyStep(ctx, instruction)
        what = copy_key(step)
        key = self._key(what, [step.raw_dest])
        if self._cached(key):
            return
        if step.link and self.layers:
            self._link_step(step, key, what.content)
            return
        self._layer_step(self._work().copy(step), key)

    def _link_step(self, step: CopyStep, key: str, content: str) -> None:
        """``COPY --link``/``ADD --link`` (with layers): the layer is the top layer of a
        *carrier* image, found by the parent-independent :func:`~boxwright.build.cache.link_key`
        (locally, then in ``--cache-from``) or made by copying into an empty working container
        and committing it; the step's image is the parent plus that blob, unchanged."""
        shared = self.shared
        extra = [f"timestamp={shared.timestamp}"]
        if shared.timestamp is not None and not shared.clamp_mtime:
            extra.append("no-clamp")
        lkey = link_key(step.link_key_text(), content, extra)
        carrier = self._cached_carrier(lkey)
        if carrier is None:
            carrier, created_by = self._work().carrier(step)
            self.cache.remember(lkey, carrier)
        else:
            created_by = self._work().carrier_created_by(carrier)
        if not self.store.images.get(carrier).layers:  # the copy wrote nothing at all
            self._layer_step(created_by, key)
            return
        # a WORKDIR made since the last commit is in the container, which a linked commit
        # does not read: it is made again in the next container, for the next commit
        workdirs = [p for p in self.workspace.workdirs if not _covered(p, step.link_dest())]
        self._commit(created_by, key, linked=carrier)
        self._continue()
        for path in workdirs:
            self.workspace.make_workdir(path)

    # -- commits and the cache ------------------------------------------------------------------

    def _key(self, step: StepKey, history: list[str] | None = None) -> str:
        """The cache key of a step at this point of the stage (:func:`step_key`). It reads the
        history text the commit writes (the notes' and ``history``, the step's own where its
        key does not already fix it), so a cached image's history is the one this build would
        write."""
        written = [n.created_by for n in self.notes] + (history or [])
        return step_key(
            self.parent,
            [n.key for n in self.notes],
            step.text,
            self.args,
            step.content,
            extra=[
                self.shared.options.format,
                *self.arg_keys,
                *self.shared.timestamp_keys(),
                json.dumps(written),
            ],
            platform=str(self.target),
        )

    def _cached(self, key: str) -> bool:
        """Continue from the image ``key`` made before, when the cache has it."""
        if not self.layers:
            return False
        image = self.cache.lookup(key)
        if image is None:
            return False
        self.parent = image
        self.notes = []
        self.committed_any = True
        self._continue()
        self.shared.count_cache_hit()
        self._emit("cache", f"--> Using cache {image}")
        return True

    def _cached_carrier(self, lkey: str) -> str | None:
        """The carrier image of ``lkey`` from the local cache or ``--cache-from``."""
        image = self.cache.lookup(lkey)
        if image is None:
            return None
        self.shared.count_cache_hit()
        self._emit("cache", f"--> Using cache {image} (linked layer)")
        return image

    def _work(self) -> StepWork:
        """What runs, copies and commits the steps the cache lacks (made on first use)."""
        if self._step_work is None:
            # Where the cached path ends: a step runs. A rebuild whose every step is cached
            # never gets here, so it loads no runtime, copier or commit.
            from boxwright.build.stageexec import StepWork

            self._step_work = StepWork(self.shared, self.workspace)
        return self._step_work

    def _commit(
        self,
        created_by: str | None,
        key: str,
        *,
        squash: bool = False,
        linked: str | None = None,
    ) -> None:
        """Commit the container with the pending notes and ``created_by`` for its layer (None:
        no history entry, for a stage that is only a FROM); with ``linked`` (a carrier image,
        see :meth:`_link_step`) the layer is the carrier's layer blob, unchanged, and the
        container's files are not read."""
        image = self._work().commit(
            self.config,
            self.notes,
            created_by,
            squash=squash,
            linked=linked,
            annotations=self._annotations(),
        )
        if self.layers and not squash:
            self.cache.remember(key, image.id)
        self.parent = image.id
        self.notes = []
        self.committed_any = True
        self._emit("commit", f"--> {image.id[:12]}")

    def _annotations(self) -> dict[str, str] | None:
        if self.shared.options.format != "oci" or not self.base_annotations:
            return None
        return {k: v for k, v in self.base_annotations.items() if v}

    def _layer_step(self, created_by: str, key: str) -> None:
        """After a RUN/COPY/ADD: commit it (with layers) and continue from a fresh container."""
        if self.layers:
            self._commit(created_by, key)
            self._continue()
        else:
            self.notes.append(Note(created_by, key, created_time()))

    def _finish(self) -> None:
        """The stage's image: a last commit of what is pending (config notes, a WORKDIR to
        make, ``--squash``). A stage that is only a FROM records no history, as in BuildKit:
        an intermediate one is its base image itself; the final one (or one FROM scratch) is
        committed without an entry, so the image has the build's format and timestamp."""
        final = self.plan.stage.index == self.shared.final_index
        squash = final and self.shared.options.squash
        pending = self.workspace.has_pending_dirs  # a WORKDIR after a linked step's commit
        if self.notes or squash or pending:
            last = self.notes.pop() if self.notes else None
            created_by = (
                last.created_by if last else NOP + self.stage.from_instruction.original.strip()
            )
            if last is None and pending:
                created_by = NOP + f"WORKDIR {self.workspace.workdirs[-1]}"
            key = self._key(StepKey(f"END {last.key if last else ''}"), [created_by])
            if squash or not self._cached(key):
                self._commit(created_by, key, squash=squash)
        elif not self.committed_any and (final or self.parent is None):
            key = self._key(StepKey("END"), [])
            if not self._cached(key):
                self._commit(None, key)
        if self.parent is None:
            raise BuildError(f"stage {self.stage.index} made no image")
        with self.shared.lock:
            self.shared.stage_images[self.stage.index] = self.parent


def _covered(workdir: str, dest: str) -> bool:
    """Whether a linked layer copied to the absolute ``dest`` holds the directory
    ``workdir`` (it holds every parent of the destination, and the destination itself when it
    ends with ``/``)."""
    directory = dest if dest.endswith(("/", "/.")) else posixpath.dirname(dest)
    inside = posixpath.normpath("/" + directory)
    wanted = posixpath.normpath("/" + workdir)
    return inside == wanted or inside.startswith(wanted.rstrip("/") + "/")


__all__ = ["StageRun"]
