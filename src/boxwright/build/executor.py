"""``boxwright build``: running a Containerfile's stages in the local store, as podman build.

Each stage runs in a working container of the store (:mod:`boxwright.store.containers`):

* with ``layers`` (the default), every RUN, COPY and ADD ends with a commit to an unnamed
  intermediate image and the next step starts from a fresh container of it, so each of them
  is one layer; the config instructions before it (ENV, LABEL, ...) are history notes with
  ``empty_layer`` in the same commit. Each commit's cache key (:mod:`boxwright.build.cache`)
  is looked up first: a hit skips the work and continues from the cached image;
* without ``layers``, the stage is one container and one commit at its end;
* the history's ``created_by`` is what buildah writes: ``/bin/sh -c #(nop) <instruction>``
  for config steps, ``/bin/sh -c <command>`` for RUN (prefixed ``|N K=V ...`` with the build
  args it sees), ``/bin/sh -c #(nop) COPY file:<sha256> in <dest> `` for COPY and ADD.

The context is a directory, or is fetched first (git, a tarball URL, standard input), with
the named contexts (``--build-context``), into directories removed when the build ends
(:mod:`boxwright.build.contexts`). The stages the target needs run dependencies first;
stages that do not depend on each other run at once on threads
(:func:`boxwright.build.stages.plan_stages`). The final image is tagged with every ``tags``
name and, with ``output``, copied to that reference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import sys
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.build.containerfile.ignore import IgnoreMatcher, load_ignore, read_patterns
from boxwright.build.containerfile.model import Instruction, Location
from boxwright.build.containerfile.parser import find_containerfile, parse
from boxwright.build.context import BuildEvent, BuildOptions, BuildResult, FileHashes
from boxwright.build.finish import finish_image, write_iidfile
from boxwright.build.shared import BuildShared
from boxwright.build.stagerun import StageRun
from boxwright.build.stages import duplicate_names, global_args, plan_stages, platform_args
from boxwright.errors import UsageError
from boxwright.oci.mediatype import format_name
from boxwright.oci.platform import Platform
from boxwright.store.store import Store

if TYPE_CHECKING:
    from concurrent.futures import Future

    from boxwright.build.containerfile.model import Containerfile
    from boxwright.build.context import NamedContext
    from boxwright.build.stages import StagePlan
    from boxwright.store.images import ImageRecord


FILE_HASHES = "build-file-hashes.json"


def read_containerfile(options: BuildOptions) -> tuple[str, str, Path | None]:
    """The Containerfile's text, its display name, and its path (None for stdin)."""
    if options.containerfile_text is not None:
        return options.containerfile_text, options.containerfile or "-", None
    if not options.context.is_dir():
        raise UsageError(f"build context {options.context} is not a directory")
    found = find_containerfile(options.context, options.containerfile)
    if found == "-":
        return sys.stdin.read(), "-", None
    path = Path(found)
    try:
        return path.read_text(encoding="utf-8"), str(path), path
    except FileNotFoundError:
        raise UsageError(f"no Containerfile at {path}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text ({error})") from None


def build(options: BuildOptions, store: Store | None = None) -> BuildResult:
    """Build ``options.context`` (module docstring); return the final image."""

    options = dataclasses.replace(options, format=format_name(options.format))
    if store is None:
        store = Store(options.root)
    with _contexts(options, store.layout.tmp_dir) as (options, named):
        text, filename, path = read_containerfile(options)
        shared, plans, target = _prepare(options, store, parse(text, filename), path, named)
        shared.containerfile_name, shared.containerfile_text = filename, text
        try:
            _run_plans(shared, plans, target)
        finally:
            shared.file_hashes.save()
        record = _publish(shared, shared.stage_images[plans[-1].stage.index])
    if options.outputs:
        from boxwright.build.outputs import export_outputs  # the layer applier: --output only

        export_outputs(store, record, options.outputs, shared.timestamp)
    if options.iidfile is not None:
        write_iidfile(options.iidfile, record.id)
    return BuildResult(
        image_id=record.id,
        names=record.names,
        digest=str(record.manifest),
        steps=shared.total_steps,
        cache_hits=shared.cache_hits,
        stage_images=dict(shared.stage_images),
        base_images={name: str(digest) for name, digest in shared.base_images.items()},
        attestations=tuple(str(d) for d in shared.attestations),
    )


def _contexts(
    options: BuildOptions, tmp: Path
) -> AbstractContextManager[tuple[BuildOptions, dict[str, NamedContext]]]:
    """The build's options and named contexts: a local context directory as it is; a fetched
    main context or named contexts through :func:`~boxwright.build.contexts.prepared_contexts`,
    which only such a build loads (git, downloads, archives, OCI layouts)."""
    if options.context_source is None and not options.build_contexts:
        return contextlib.nullcontext((options, {}))
    from boxwright.build.contexts import prepared_contexts  # where a context is fetched

    return prepared_contexts(options, tmp)


def _prepare(
    options: BuildOptions,
    store: Store,
    cf: Containerfile,
    path: Path | None,
    named: Mapping[str, NamedContext],
) -> tuple[BuildShared, list[StagePlan], Platform]:
    """The stages the target needs, in file order, what they share, and the target platform."""
    context = options.context.resolve()
    ignore = _ignore(options, context, path)
    host = Platform.host()
    target = Platform.parse(options.platform) if options.platform else host
    timestamp = options.effective_timestamp()
    source_date_epoch = options.effective_source_date_epoch()
    predefined = platform_args(target, host)
    if source_date_epoch is not None:
        predefined["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
    if options.env:
        cf = with_env(cf, options.env)
    scope = global_args(cf, options.build_args, predefined)
    plans = plan_stages(cf, scope, options.target, options.build_args, named)
    steps_before, total = _step_numbers(plans)
    # What every stage shares, named field by field: the build's own type, alike only in
    # shape to the option objects the CLI fills.
    shared = BuildShared(
        options=options,
        store=store,
        containerfile=cf,
        context=context,
        ignore=ignore,
        scope=scope,
        timestamp=timestamp if timestamp is not None else source_date_epoch,
        clamp_mtime=timestamp is not None
        or (source_date_epoch is not None and options.rewrite_timestamp),
        total_steps=total,
        steps_before=steps_before,
        lock=threading.Lock(),
        stage_images={},
        final_index=plans[-1].stage.index,
        file_hashes=FileHashes(
            store.layout.root / FILE_HASHES,
            transient=(os.path.realpath(store.layout.tmp_dir) + os.sep,),
        ),
        named_contexts=named,
        platform=str(target),
    )
    _warn_duplicate_names(shared, cf)
    return shared, plans, target


def _step_numbers(plans: list[StagePlan]) -> tuple[dict[int, int], int]:
    """How many steps come before each planned stage (by stage index), and the total: a
    stage counts its FROM and each instruction."""
    steps_before: dict[int, int] = {}
    total = 0
    for p in plans:
        steps_before[p.stage.index] = total
        total += 1 + len(p.stage.instructions)
    return steps_before, total


def _warn_duplicate_names(shared: BuildShared, cf: Containerfile) -> None:
    """Warn of each stage whose name an earlier stage has already."""
    for stage in duplicate_names(cf):
        where = stage.from_instruction.location
        shared.emit(
            BuildEvent(
                "warning",
                f'{where}: Duplicate stage name "{stage.name}", stage names should be unique '
                "(the last stage of a name is the one --from and --target use)",
                stage.index,
            )
        )


def _ignore(options: BuildOptions, context: Path, path: Path | None) -> IgnoreMatcher:
    """The ignore rules: ``--ignorefile`` when given, else the file buildah would find."""
    if options.ignorefile is None:
        return load_ignore(context, path)
    try:
        text = options.ignorefile.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as error:
        raise UsageError(f"--ignorefile {options.ignorefile}: {error.strerror}") from None
    return IgnoreMatcher(read_patterns(text), str(options.ignorefile))


def with_env(cf: Containerfile, env: Mapping[str, str]) -> Containerfile:
    """``cf`` with ``ENV "K"="V" ...`` (``--env``) as the first instruction of every stage, as
    podman adds it: RUN steps see the variables, the history records them, a later ENV wins.

    Each word is quoted with the file's escape character before ``"``, ``$`` and itself, so
    the values are taken literally, never expanded."""
    escape = cf.escape

    def quoted(text: str) -> str:
        for char in dict.fromkeys((escape, '"', "$")):
            text = text.replace(char, escape + char)
        return f'"{text}"'

    line = " ".join(f"{quoted(k)}={quoted(v)}" for k, v in env.items())
    stages = []
    for stage in cf.stages:
        where = stage.from_instruction.location
        instruction = Instruction(
            keyword="ENV",
            flags=(),
            args=(line,),
            json_form=False,
            heredocs=(),
            original=f"ENV {line}",
            location=Location(where.file, where.line, where.line),
            escape=escape,
        )
        stages.append(dataclasses.replace(stage, instructions=(instruction, *stage.instructions)))
    return dataclasses.replace(cf, stages=tuple(stages))


def _publish(shared: BuildShared, final: str) -> ImageRecord:
    """Apply the final image's edits, tag it, copy it to ``--output REF``, and report it."""
    options, store = shared.options, shared.store

    def warn(text: str) -> None:
        shared.emit(BuildEvent("warning", text))

    record = store.images.get(finish_image(store, final, options, warn))
    if options.tags:
        record = store.images.tag(record.id, *options.tags)
    if options.sbom or options.provenance:
        from boxwright.build.attestations import attach_attestations

        shared.attestations = attach_attestations(shared, record)
    if options.output:
        from boxwright.store.pullpush import push  # the copy pipeline: only to push

        push(
            record.id,
            options.output,
            store=store,
            format=options.format,
            dest_options=options.registry_options,
            signers=options.signers,
            sign_identity=options.sign_identity,
            referrers=bool(shared.attestations),
        )
    shared.emit(BuildEvent("commit", f"COMMIT {' '.join(options.tags)}".rstrip()))
    shared.emit(BuildEvent("commit", f"--> {record.id[:12]}"))
    for name in record.names:
        shared.emit(BuildEvent("commit", f"Successfully tagged {name}"))
    return record


def _run_plans(shared: BuildShared, plans: list[StagePlan], target: Platform) -> None:
    """Run every stage of ``plans`` once its dependencies are built; independent ones at once,
    on threads, as root and rootless alike.

    A RUN forks while other threads may hold store locks; the fork's copies of their file
    descriptors no longer keep those locks, because the store releases a lock with ``LOCK_UN``
    (which ends it for every copy) before closing it (:mod:`boxwright.store.locking`).

    One worker runs the stages in this thread, without :mod:`concurrent.futures` (which loads
    :mod:`logging`)."""
    workers = _workers(shared.options.jobs, len(plans))
    if workers == 1:
        for plan in plans:
            StageRun(shared, plan, target).run()
        return
    from concurrent.futures import ThreadPoolExecutor

    _import_before_threads()
    futures: dict[int, Future[None]] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage") as pool:
        # Submitted dependencies first (plans are ordered so), so a worker waiting for a
        # dependency never starves it of a worker.
        for plan in plans:
            futures[plan.stage.index] = pool.submit(_waiting, futures, plan, shared, target)
        for index in sorted(futures):
            futures[index].exception()  # wait for every stage
    if shared.failures:
        raise shared.failures[0]  # the first stage that failed, not one that waited for it


#: How many stages run at the same time unless ``--jobs`` says otherwise.
DEFAULT_JOBS = 4


def _workers(jobs: int | None, stages: int) -> int:
    """The threads that run ``stages`` stages: ``jobs`` (0: one per stage), else
    :data:`DEFAULT_JOBS`, never more than there are stages. Stages run in file order, each
    after those it depends on, so one worker runs them one after the other."""
    if jobs is not None and jobs < 0:
        raise UsageError(f"--jobs {jobs}: give 0 (no limit) or a positive number")
    wanted = DEFAULT_JOBS if jobs is None else jobs
    return max(1, stages if wanted == 0 else min(wanted, stages))


#: Modules a step the cache lacks imports (:mod:`boxwright.build.stageexec` and what it
#: loads), some of them in the forked child of the runtime. They are imported before stages
#: start on threads: a child forked while another thread is in the middle of importing a
#: module would wait forever for that module's import lock.
_FORK_SAFE_IMPORTS = (
    "socket",
    "boxwright.build.files",
    "boxwright.build.builder",
    "boxwright.build.commits",
    "boxwright.build.copyapply",
    "boxwright.build.runexec",
    "boxwright.build.runoutput",
    "boxwright.build.sshagent",
    "boxwright.build.stageexec",
    "boxwright.layer.apply",
    "boxwright.layer.generate",
    "boxwright.layer.overlay",
    "boxwright.layer.pathsafe",
    "boxwright.layer.snapshot",
    "boxwright.runtime.container",
    "boxwright.runtime.emulation",
    "boxwright.runtime.idmap",
    "boxwright.runtime.linux",
    "boxwright.runtime.native",
    "boxwright.runtime.ownership",
    "boxwright.runtime.runner",
    "boxwright.runtime.spec",
    "boxwright.store.commit",
    "boxwright.store.rootfs",
    "boxwright.store.snapshotapply",
    "boxwright.store.userns",
    "boxwright.unpack.users",
)


def _import_before_threads() -> None:
    """Import every module of :data:`_FORK_SAFE_IMPORTS` (each must exist: a test checks)."""
    for name in _FORK_SAFE_IMPORTS:
        importlib.import_module(name)


def _waiting(
    futures: Mapping[int, Future[None]], plan: StagePlan, shared: BuildShared, target: Platform
) -> None:
    for dep in sorted(plan.depends):
        if futures[dep].exception() is not None:
            return  # the dependency's failure is reported
    try:
        StageRun(shared, plan, target).run()
    except BaseException as error:
        with shared.lock:
            shared.failures.append(error)
        raise


__all__ = ["BuildShared", "build", "read_containerfile"]
