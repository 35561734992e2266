"""One stage of a build: FROM, then each instruction, in a working container of the store.

See :mod:`boxwright.build.executor` for how steps become layers, history and cache entries.
The state of a stage: its parent image (the last committed step, or the base), the working
container made from it, the pending config (mirrored into the container's record, so RUN sees
it), the history notes of the config steps since the last commit, and its declared ARGs.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxwright.build import instructions as ins
from boxwright.build.cache import BuildCache, cache_tag, link_key, step_key
from boxwright.build.containerfile.parser import parse
from boxwright.build.containerfile.shell import Expander, parse_key_values
from boxwright.build.context import BuildEvent, OutputStream
from boxwright.build.stages import PROXY_ARGS, stage_of
from boxwright.errors import (
    BoxwrightError,
    BuildError,
    ImageNotFoundError,
    RegistryError,
    UsageError,
)
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import clean_entry_name, mkdir_parents_in_root
from boxwright.oci.config import ImageConfig, created_time
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.platform import Platform
from boxwright.store.images import LINK_CARRIER_LABEL
from boxwright.store.pullpush import pull, push
from boxwright.transport.reference import TRANSPORTS

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.copystep import CopyStep
    from boxwright.build.executor import BuildShared
    from boxwright.build.stages import StagePlan
    from boxwright.store.images import ImageRecord

#: Instructions that only change the config (a history note, no layer of their own).
CONFIG_STEPS = frozenset(
    {
        "ENV",
        "LABEL",
        "CMD",
        "ENTRYPOINT",
        "WORKDIR",
        "USER",
        "EXPOSE",
        "VOLUME",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
        "MAINTAINER",
        "ONBUILD",
        "ARG",
    }
)
NOP = "/bin/sh -c #(nop) "
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Note:
    """A pending history entry and the expanded text the cache key uses for it."""

    created_by: str
    key: str
    created: str


def where(instruction: Instruction) -> str:
    """``file:line`` of an instruction, for error messages."""
    return f"{instruction.location.file}:{instruction.location.line}"


class StageRun:
    """Runs one :class:`~boxwright.build.stages.StagePlan` (module docstring)."""

    def __init__(self, shared: BuildShared, plan: StagePlan, target: Platform) -> None:
        self.shared = shared
        self.plan = plan
        self.stage = plan.stage
        self.store = shared.store
        self.target = target
        self.args: dict[str, str] = {}
        self.config = ImageConfig.from_data({})
        self.notes: list[Note] = []
        self.parent: str | None = None
        self.cid: str | None = None
        self.cmd_set = False
        self.layers = shared.options.layers
        self.committed_any = False
        self._staging: Path | None = None
        self._mounted: dict[str, tuple[str, Path]] = {}
        self._pending_dirs: list[str] = []
        self._workdirs: list[str] = []
        """The WORKDIRs made (or to be made) in the working container since the last commit."""
        self.base_annotations: dict[str, str] = {}
        """buildah's manifest annotations naming the FROM image (OCI format, image bases)."""
        self._arg_keys: list[str] = []
        self.location = ""
        """``file:line`` of the instruction running, for expansion errors."""
        self.step = shared.steps_before.get(plan.stage.index, 0)
        """The global number of the step running (its RUN output events carry it)."""

    # -- the stage ------------------------------------------------------------------------------

    def run(self) -> None:
        """FROM, every instruction, the final commit; the stage's image into ``stage_images``."""
        try:
            self._from()
            for instruction in self.stage.instructions:
                self._step(instruction)
            self._finish()
        finally:
            self._drop_container()
            for cid, _path in self._mounted.values():
                self.store.containers.remove(cid)
            if self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)

    def _emit(self, kind: str, text: str, step: int = 0) -> None:
        self.shared.emit(BuildEvent(kind, text, self.stage.index, step))  # type: ignore[arg-type]

    def output(self, line: str, stream: OutputStream) -> None:
        """Report one line a RUN of the current step wrote on ``stream``."""
        self.shared.emit(BuildEvent("output", line, self.stage.index, self.step, stream))

    def _from(self) -> None:
        self.step += 1
        step = self.step
        original = self.stage.from_instruction.original.strip()
        self._emit("step", f"STEP {step}/{self.shared.total_steps}: {original}", step)
        plan = self.plan
        if plan.base_stage is not None:
            self.parent = self._stage_image(plan.base_stage)
        elif plan.base.lower() == "scratch":
            self.parent = None
        else:
            self.parent = self._resolve_image(plan.base)
            record, matched = self.store.images.resolve(self.parent)
            names = record.names
            self.base_annotations = {
                "org.opencontainers.image.base.digest": str(record.manifest),
                "org.opencontainers.image.base.name": matched or (names[0] if names else ""),
            }
        self._new_container()
        self.config, triggers = ins.take_onbuild(self.config)
        if triggers:
            self._save_config()
            for trigger in triggers:
                self._run_trigger(trigger)

    def _run_trigger(self, trigger: str) -> None:
        text = f"FROM scratch\n{trigger}\n"
        parsed = parse(text, f"ONBUILD of {self.plan.base}")
        for instruction in parsed.stages[0].instructions:
            if instruction.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                raise UsageError(f"ONBUILD {instruction.keyword} is not allowed as a trigger")
            self._emit("output", f"--> ONBUILD {instruction.original.strip()}")
            self._step(instruction, count=False)

    def _stage_image(self, index: int) -> str:
        with self.shared.lock:
            image = self.shared.stage_images.get(index)
        if image is None:
            raise BuildError(f"stage {index} has not been built (internal ordering error)")
        return image

    def _resolve_image(self, name: str) -> str:
        """A FROM image: in the store, or pulled (a transport reference, else a registry)."""
        prefix, sep, _ = name.partition(":")
        if sep and prefix in TRANSPORTS and prefix != "store":
            return pull(
                name,
                store=self.store,
                platform=self._platform_or_none(),
                src_options=self.shared.options.registry_options,
            ).id
        bare = name[len("store:") :] if name.startswith("store:") else name
        if self.store.images.exists(bare):
            return self.store.images.get(bare).id
        return pull(
            f"docker://{bare}",
            store=self.store,
            platform=self._platform_or_none(),
            src_options=self.shared.options.registry_options,
        ).id

    def origin_id(self, name: str) -> str:
        """The image ID a ``--from`` names: an earlier stage (name or number), else an image."""
        index = stage_of(self.shared.containerfile, name, self.stage.index)
        if index is not None:
            return self._stage_image(index)
        return self._resolve_image(name)

    def mounted_image(self, name: str) -> Path:
        """A host path holding the files of what ``--from`` names (kept until the stage ends)."""
        image = self.origin_id(name)
        if image not in self._mounted:
            record = self.store.containers.create(image)
            try:
                path = self.store.containers.mount(record.id)
            except BaseException:
                self.store.containers.remove(record.id)
                raise
            self._mounted[image] = (record.id, path)
        return self._mounted[image][1]

    def _platform_or_none(self) -> Platform | None:
        return self.target if self.shared.options.platform else None

    # -- containers -----------------------------------------------------------------------------

    def _new_container(self) -> None:
        """Continue from ``parent``: its config now, its working container when first needed
        (a fully cached build makes no container at all)."""
        self._drop_container()
        self._pending_dirs = []
        self._workdirs = []
        self.config = self._parent_config()
        if self.parent is None:
            # FROM scratch: Docker's default PATH, as BuildKit and buildah set it
            self.config = ins.set_env(self.config, [("PATH", DEFAULT_PATH)])
        if self.parent is None and self.shared.options.platform:
            target = self.target
            self.config = self.config.with_changes(os=target.os, architecture=target.architecture)
            if target.variant:
                self.config = self.config.with_changes(variant=target.variant)

    def _parent_config(self) -> ImageConfig:
        if self.parent is None:
            from boxwright.oci.platform import Platform

            return ImageConfig.new(Platform.host())
        return self.store.images.config(self.store.images.get(self.parent))

    def container(self) -> str:
        """The working container of the current step (made from ``parent`` on first use)."""
        if self.cid is None:
            # By the 12-hex short ID, which the commit's history comment names, as buildah's.
            base = self.parent[:12] if self.parent and self._is_intermediate() else self.parent
            record = self.store.containers.create(base)
            self.cid = record.id
            self.store.containers.update(self.cid, config=self.config.data)
            pending, self._pending_dirs = self._pending_dirs, []
            for path in pending:
                self._make_workdir(path)
        return self.cid

    def _is_intermediate(self) -> bool:
        """Whether the parent is an image this stage committed or took from the cache."""
        return self.committed_any

    def _drop_container(self) -> None:
        if self.cid is not None:
            cid, self.cid = self.cid, None
            self.store.containers.remove(cid)

    def _save_config(self) -> None:
        if self.cid is not None:
            self.store.containers.update(self.cid, config=self.config.data)

    # -- steps ----------------------------------------------------------------------------------

    def _step(self, instruction: Instruction, count: bool = True) -> None:
        if count:
            self.step += 1
            step = self.step
            text = instruction.original.strip()
            self._emit("step", f"STEP {step}/{self.shared.total_steps}: {text}", step)
        keyword = instruction.keyword
        self.location = str(instruction.location)
        try:
            if keyword in CONFIG_STEPS:
                self._config_step(instruction)
            elif keyword == "RUN":
                self._run_step(instruction)
            elif keyword in ("COPY", "ADD"):
                self._copy_step(instruction)
            else:
                raise UsageError(f"unknown instruction {keyword}")
        except BuildError:
            raise
        except BoxwrightError as error:
            raise BuildError(f"{where(instruction)}: {keyword}: {error}") from error

    def expander(self) -> Expander:
        """The expansion scope of the stage: its ARGs, then its ENV over them; errors name the
        instruction running."""
        scope = {**self.args, **ins.env_map(self.config)}
        return Expander(scope, self.shared.containerfile.escape, location=self.location)

    def _note(self, created_by: str, key: str) -> None:
        self.notes.append(Note(created_by, key, created_time()))

    def _config_step(self, instruction: Instruction) -> None:
        keyword, cfg = instruction.keyword, self.config
        ex = self.expander()
        key = ""
        if keyword == "ARG":
            names: list[str] = []
            for name, default in parse_key_values(instruction):
                value = self._arg_value(name, default, ex)
                if value is not None:
                    self.args[name] = value
                names.append(name)
                key += f"{name}={value} "
            # buildah's note names the ARGs only; their values are in the RUN entries' prefix
            self._arg_keys.append(key)
            self._note(NOP + "ARG " + " ".join(names), "ARG " + key)
            return
        if keyword in ("ENV", "LABEL"):
            pairs = [(ex.word(k), ex.word(v or "")) for k, v in parse_key_values(instruction)]
            cfg = ins.set_env(cfg, pairs) if keyword == "ENV" else ins.set_labels(cfg, pairs)
            key = json.dumps(pairs)
        elif keyword in ("CMD", "ENTRYPOINT"):
            argv = ins.command(cfg, instruction.args, instruction.json_form)
            if keyword == "CMD":
                cfg = ins.set_cmd(cfg, argv)
                self.cmd_set = True
            else:
                cfg = ins.set_entrypoint(cfg, argv, self.cmd_set)
            key = json.dumps(argv)
        elif keyword == "WORKDIR":
            path = ins.workdir_path(cfg, ex.word(" ".join(instruction.args)))
            cfg = ins.set_workdir(cfg, path)
            self._make_workdir(path)
            key = path
        elif keyword == "USER":
            user = ex.word(" ".join(instruction.args))
            cfg = ins.set_user(cfg, user)
            key = user
        elif keyword == "EXPOSE":
            ports = self._words(instruction, ex)
            cfg = ins.add_ports(cfg, ports)
            key = json.dumps(ports)
        elif keyword == "VOLUME":
            paths = self._words(instruction, ex)
            cfg = ins.add_volumes(cfg, paths)
            key = json.dumps(paths)
        elif keyword == "STOPSIGNAL":
            signal = ex.word(" ".join(instruction.args))
            cfg = ins.set_stop_signal(cfg, signal)
            key = signal
        elif keyword == "HEALTHCHECK":
            flags = [(f.name, f.value) for f in instruction.flags]
            cfg = ins.set_healthcheck(cfg, instruction.args, instruction.json_form, flags)
            key = json.dumps(cfg.config.healthcheck)
        elif keyword == "SHELL":
            cfg = ins.set_shell(cfg, instruction.args, instruction.json_form)
            key = json.dumps(list(instruction.args))
        elif keyword == "MAINTAINER":
            cfg = ins.set_maintainer(cfg, " ".join(instruction.args))
            key = " ".join(instruction.args)
        elif keyword == "ONBUILD":
            assert instruction.onbuild is not None  # the parser requires the trigger
            trigger = instruction.onbuild.original.strip()
            cfg = ins.add_onbuild(cfg, trigger)
            key = trigger
        self.config = cfg
        self._save_config()
        self._note(NOP + instruction.original.strip(), f"{keyword} {key}")

    def _arg_value(self, name: str, default: str | None, ex: Expander) -> str | None:
        """An ARG's value in this stage: --build-arg, else its default, else the global one."""
        given = self.shared.options.build_args
        if name in given:
            return given[name]
        if default is not None:
            return ex.word(default)
        return self.shared.scope.get(name)

    def _words(self, instruction: Instruction, ex: Expander) -> list[str]:
        if instruction.json_form:
            return [ex.word(a) for a in instruction.args]
        return ex.words(" ".join(instruction.args))

    def _make_workdir(self, path: str) -> None:
        """Create the WORKDIR (as buildah does) when it is missing."""
        rel = clean_entry_name(path, allow_root=True)
        if not rel:
            return
        self._workdirs.append(path)
        if self.cid is None:
            self._pending_dirs.append(path)
            return

        def work(root: Path, _record: OwnershipRecord) -> None:
            mkdir_parents_in_root(root, rel, 0o755)

        self.store.containers.with_rootfs(self.cid, work)

    # -- commits and the cache ------------------------------------------------------------------

    def _key(self, text: str, content: str = "") -> str:
        notes = [n.key for n in self.notes]
        return step_key(
            self.parent,
            notes,
            text,
            self.args,
            content,
            extra=[self.shared.options.format, *self._arg_keys],
        )

    def _cached(self, key: str) -> bool:
        """Continue from the image ``key`` made before, when the cache has it."""
        if not self.layers or self.shared.options.no_cache:
            return False

        image = BuildCache(self.store).get(key)
        if image is None:
            image = self._from_registry_cache(key)
        if image is None:
            return False
        self.parent = image
        self.notes = []
        self.committed_any = True
        self._new_container()
        with self.shared.lock:
            self.shared.cache_hits += 1
        self._emit("cache", f"--> Using cache {image}")
        return True

    def _from_registry_cache(self, key: str) -> str | None:
        """The image ``key`` made, pulled from a ``--cache-from`` repository that has it."""
        options = self.shared.options
        for repository in options.cache_from:
            ref = f"docker://{_repository(repository)}:{cache_tag(key)}"
            try:
                record = pull(ref, store=self.store, src_options=options.registry_options)
            except (ImageNotFoundError, RegistryError) as error:
                if isinstance(error, RegistryError) and error.status not in (0, 404):
                    raise
                continue
            BuildCache(self.store).put(key, record.id)
            return record.id
        return None

    def _to_registry_cache(self, key: str, image: str) -> None:
        """Push the step's image to the ``--cache-to`` repository, tagged by its cache key."""
        options = self.shared.options
        if options.cache_to:
            ref = f"docker://{_repository(options.cache_to)}:{cache_tag(key)}"
            push(image, ref, store=self.store, dest_options=options.registry_options)

    def _commit(
        self, created_by: str, key: str, *, squash: bool = False, linked: str | None = None
    ) -> None:
        """Commit the container with the pending notes and ``created_by`` for its layer; with
        ``linked`` (a carrier image, see :meth:`_link_step`) the layer is the carrier's layer
        blob, unchanged, and the container's files are not read."""
        self.container()
        assert self.cid is not None
        history: list[dict[str, Any]] = [
            {"created": n.created, "created_by": n.created_by, "empty_layer": True}
            for n in self.notes
        ]
        history.append({"created": created_time(), "created_by": created_by})
        self.store.containers.update(self.cid, config=self.config.data, history=history)
        options = self.shared.options
        if linked is not None:
            image = self._commit_linked(linked, created_by)
        else:
            image = self.store.containers.commit(
                self.cid,
                None,
                squash=squash,
                format=options.format,
                timestamp=self.shared.timestamp,
                annotations=self._annotations(),
            )
        if self.layers and not squash:
            BuildCache(self.store).put(key, image.id)
            self._to_registry_cache(key, image.id)
        self.parent = image.id
        self.notes = []
        self.committed_any = True
        self._emit("commit", f"--> {image.id[:12]}")

    def _commit_linked(self, carrier: str, created_by: str) -> ImageRecord:
        """The working container's pending config and notes over the parent, plus the top
        layer of the ``carrier`` image as the new layer (the same blob, the same diff_id)."""
        from boxwright.store.commit import commit_with_layer

        assert self.cid is not None
        record = self.store.images.get(carrier)
        layer = ImageManifest.parse(self.store.images.manifest(record)).layers[-1]
        return commit_with_layer(
            self.store,
            self.store.containers.get(self.cid),
            None,
            layer,
            record.diff_ids[-1],
            format=self.shared.options.format,
            timestamp=self.shared.timestamp,
            created_by=created_by,
            annotations=self._annotations(),
        )

    def _annotations(self) -> dict[str, str] | None:
        if self.shared.options.format != "oci" or not self.base_annotations:
            return None
        return {k: v for k, v in self.base_annotations.items() if v}

    def _layer_step(self, created_by: str, key: str) -> None:
        """After a RUN/COPY/ADD: commit it (with layers) and continue from a fresh container."""
        if self.layers:
            self._commit(created_by, key)
            self._new_container()
        else:
            self._note(created_by, key)

    def _finish(self) -> None:
        options = self.shared.options
        final = self.plan.stage.index == self.shared.final_index
        squash = final and options.squash
        pending = bool(self._pending_dirs)  # a WORKDIR after a linked step's commit
        if self.notes or squash or not self.committed_any or not self.layers or pending:
            last = self.notes.pop() if self.notes else None
            created_by = last.created_by if last else self._default_created_by()
            if last is None and pending:
                created_by = NOP + f"WORKDIR {self._workdirs[-1]}"
            key = self._key(f"END {last.key if last else ''}")
            if not self._cached_final(key, squash):
                self._commit(created_by, key, squash=squash)
        if self.parent is None:
            raise BuildError(f"stage {self.stage.index} made no image")
        with self.shared.lock:
            self.shared.stage_images[self.stage.index] = self.parent

    def _cached_final(self, key: str, squash: bool) -> bool:
        if squash:
            return False
        return self._cached(key)

    def _default_created_by(self) -> str:
        return NOP + self.stage.from_instruction.original.strip()

    # -- RUN ------------------------------------------------------------------------------------

    def _run_step(self, instruction: Instruction) -> None:
        from boxwright.build.runstep import run_instruction

        created_by, key_text, extra = run_instruction(self, instruction, dry=True)
        key = self._key(key_text, extra)
        if self._cached(key):
            return
        run_instruction(self, instruction, dry=False)
        self._layer_step(created_by, key)

    # -- COPY and ADD ---------------------------------------------------------------------------

    def _copy_step(self, instruction: Instruction) -> None:
        from boxwright.build.copystep import CopyStep

        step = CopyStep(self, instruction)
        try:
            content = step.content_key()
            key = self._key(step.key_text(), content)
            if self._cached(key):
                return
            if step.link and self.layers:
                self._link_step(step, key, content)
                return
            created_by = step.apply()
        finally:
            step.close()
        self._layer_step(created_by, key)

    def _link_step(self, step: CopyStep, key: str, content: str) -> None:
        """``COPY --link``/``ADD --link`` (with layers): the layer is the top layer of a
        *carrier* image, found by the parent-independent :func:`~boxwright.build.cache.link_key`
        (locally, then in ``--cache-from``) or made by copying into an empty working container
        and committing it; the step's image is the parent plus that blob, unchanged."""
        extra = [f"timestamp={self.shared.timestamp}"]
        lkey = link_key(step.link_key_text(), content, extra)
        carrier = self._cached_carrier(lkey)
        if carrier is None:
            carrier, created_by = self._make_carrier(step)
            BuildCache(self.store).put(lkey, carrier)
            self._to_registry_cache(lkey, carrier)
        else:
            created_by = self._carrier_created_by(carrier)
        if not self.store.images.get(carrier).layers:  # the copy wrote nothing at all
            self._layer_step(created_by, key)
            return
        # a WORKDIR made since the last commit is in the container, which a linked commit
        # does not read: it is made again in the next container, for the next commit
        workdirs = [p for p in self._workdirs if not _covered(p, step.link_dest())]
        self._commit(created_by, key, linked=carrier)
        self._new_container()
        for path in workdirs:
            self._make_workdir(path)

    def _cached_carrier(self, lkey: str) -> str | None:
        """The carrier image of ``lkey`` from the local cache or ``--cache-from``."""
        if self.shared.options.no_cache:
            return None

        image = BuildCache(self.store).get(lkey) or self._from_registry_cache(lkey)
        if image is None:
            return None
        with self.shared.lock:
            self.shared.cache_hits += 1
        self._emit("cache", f"--> Using cache {image} (linked layer)")
        return image

    def _make_carrier(self, step: CopyStep) -> tuple[str, str]:
        """Copy into an empty working container and commit it: the carrier image's ID and the
        step's ``created_by`` (also the carrier's history, where a cache hit reads it).

        The carrier's config has the label ``io.boxwright.build.link-carrier=true``
        (:data:`~boxwright.store.images.LINK_CARRIER_LABEL`): it is build cache, which
        ``boxwright images`` hides unless ``--all``. The label is in the config, not the
        layer, so the linked layer's blob is the same; it travels with the carrier through
        ``--cache-to``/``--cache-from``."""

        def labelled(data: dict[str, Any]) -> dict[str, Any]:
            config = ImageConfig.from_data(data)
            return config.with_changes(
                labels={**config.config.labels, LINK_CARRIER_LABEL: "true"}
            ).data

        record = self.store.containers.create(None)
        try:
            created_by = step.apply(record.id)
            self.store.containers.edit(record.id, lambda now: {"config": labelled(now.config)})
            image = self.store.containers.commit(
                record.id,
                None,
                format=self.shared.options.format,
                timestamp=self.shared.timestamp,
                created_by=created_by,
            )
        finally:
            self.store.containers.remove(record.id)
        return image.id, created_by

    def _carrier_created_by(self, carrier: str) -> str:
        history = json.loads(self.store.images.config(self.store.images.get(carrier)).raw).get(
            "history"
        )
        last = history[-1] if isinstance(history, list) and history else {}
        text = last.get("created_by") if isinstance(last, dict) else None
        return text if isinstance(text, str) else NOP + "COPY"

    def staging(self) -> Path:
        """A private scratch directory of this stage under the store's ``tmp``."""
        if self._staging is None:
            tmp = self.store.layout.tmp_dir
            tmp.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix="build-", dir=tmp))
        return self._staging

    def run_env(self) -> list[str]:
        """The environment of a RUN: the config's Env, then the stage's ARGs Env lacks, then
        the proxy ARGs given with --build-arg."""
        env = ins.env_list(self.config)
        names = {e.partition("=")[0] for e in env}
        for name, value in self.args.items():
            if name not in names:
                env.append(f"{name}={value}")
                names.add(name)
        for name, value in self.shared.options.build_args.items():
            if name in PROXY_ARGS and name not in names:
                env.append(f"{name}={value}")
        return env

    def build_args_prefix(self) -> str:
        """buildah's ``|N K=V ...`` prefix of a RUN's created_by: the build args in use."""
        used = sorted(f"{k}={v}" for k, v in self.args.items())
        return f"|{len(used)} {' '.join(used)} " if used else ""


def _covered(workdir: str, dest: str) -> bool:
    """Whether a linked layer copied to the absolute ``dest`` holds the directory
    ``workdir`` (it holds every parent of the destination, and the destination itself when it
    ends with ``/``)."""
    directory = dest if dest.endswith(("/", "/.")) else posixpath.dirname(dest)
    inside = posixpath.normpath("/" + directory)
    wanted = posixpath.normpath("/" + workdir)
    return inside == wanted or inside.startswith(wanted.rstrip("/") + "/")


def _repository(text: str) -> str:
    """A ``--cache-from``/``--cache-to`` repository without its ``docker://`` prefix or tag."""
    from boxwright.errors import UsageError as _UsageError

    repository = text[len("docker://") :] if text.startswith("docker://") else text
    last = repository.rsplit("/", 1)[-1]
    if "@" in repository or ":" in last:
        raise _UsageError(f"cache repository {text!r}: give HOST/REPO without a tag or digest")
    return repository


__all__ = ["CONFIG_STEPS", "NOP", "Note", "StageRun", "where"]
