"""The corpus of tests/build/corpus_build built by boxwright and by ``buildah bud --layers
--isolation chroot`` (Debian's buildah 1.28) on the same base image: the file trees and the
config fields must be equal, with the differences docs/compatibility.md lists normalized:

* buildah's label ``io.buildah.version``;
* the ``file:``/``dir:``/``multi:`` digests in COPY/ADD history (buildah hashes a tar stream
  of the content, boxwright the content itself: both change exactly when the content does);
* the history ``comment`` (buildah's ``FROM <base or short id>``; a boxwright build writes
  none): never compared;
* the text of ARG notes (buildah 1.28 writes ``ARG`` and the sorted names of the stage's ARGs
  that have a value, BuildKit and boxwright ``ARG name=value ...`` as declared): compared as
  ``ARG`` alone, and exactly in the case's expectations;
* the order of a RUN's ``|N K=V`` prefix and its ARGs without a value (buildah 1.28 sorts the
  ARGs with a value; BuildKit and boxwright list every declared ARG in declaration order,
  ``K=`` when it has none): compared sorted, ``K=`` items left out (the corpus's ARG values
  hold no spaces);
* the empty mount points buildah's RUN leaves in a layer (``/dev``, ``/proc``, ..., and the
  missing parents of ``RUN --mount`` targets).

A case directory may hold a ``case.toml`` (see ``CaseSpec``): the build's format and
arguments, exact expectations checked on boxwright's image (history, files, absent paths,
config fields), and ``buildah = "differs"`` with a ``reason`` where buildah 1.28 is wrong
(BuildKit is the reference): then only the expectations are checked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from boxwright.store.pullpush import pull
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, config_of, run_build, tree_of

BUILDAH = shutil.which("buildah")
CORPUS = Path(__file__).parent / "corpus_build"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "Containerfile").exists())
DOCKER_FORMAT = {"docker_format"}
NOP = "/bin/sh -c #(nop) "
FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
)
pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(BUILDAH is None, reason="buildah is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="buildah runs as root here"),
]


@pytest.fixture(scope="module")
def buildah(tmp_path_factory: pytest.TempPathFactory, base_layout: Path) -> list[str]:
    """A buildah command line with a private vfs storage holding the base as localhost/bb:1."""
    assert BUILDAH is not None
    work = tmp_path_factory.mktemp("buildah")
    cmd = [BUILDAH, "--root", str(work / "root"), "--runroot", str(work / "run")]
    cmd += ["--storage-driver", "vfs"]
    _run(*cmd, "pull", "-q", f"oci:{base_layout}:1")
    image = _run(*cmd, "images", "-q").split()[0]
    _run(*cmd, "tag", image, BASE)
    return cmd


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


def _normalized(config: dict[str, Any]) -> dict[str, Any]:
    inner = config.get("config") or {}
    out = {field: inner.get(field) or None for field in FIELDS}
    # buildah moves a redefined variable to the end; Docker (and boxwright) keep its place
    out["Env"] = sorted(out["Env"] or [])
    labels = dict(out["Labels"] or {})
    labels.pop("io.buildah.version", None)
    out["Labels"] = labels or None
    out["author"] = config.get("author") or None
    history = []
    for entry in config.get("history", []):
        created_by = re.sub(
            r"\b(file|dir|multi):[0-9a-f]{64}", r"\1:*", entry.get("created_by", "")
        )
        history.append((created_by, bool(entry.get("empty_layer", False))))
    out["history"] = history
    return out


def _compared(history: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """``history`` with the ARG notes and RUN prefixes normalized (module docstring)."""
    out = []
    for created_by, empty in history:
        if created_by.startswith(NOP + "ARG"):
            created_by = NOP + "ARG"
        prefix = re.match(r"\|(\d+) ", created_by)
        if prefix is not None:
            count = int(prefix[1])
            *items, command = created_by[prefix.end() :].split(" ", count)
            kept = sorted(item for item in items if not item.endswith("="))
            created_by = (f"|{len(kept)} {' '.join(kept)} " if kept else "") + command
        out.append((created_by, empty))
    return out


#: What buildah 1.28's chroot isolation leaves in a RUN's layer (empty mount points).
RUN_STUBS = ("dev", "proc", "sys", "run", "etc/hostname", "etc/hosts", "etc/resolv.conf")
#: The empty directories buildah makes for a case's ``RUN --mount`` targets and leaves behind.
MOUNT_STUBS = {"mounts": ("mnt",)}


def _without_stubs(tree: dict[str, Any], case: str) -> dict[str, Any]:
    stubs = RUN_STUBS + MOUNT_STUBS.get(case, ())
    return {p: v for p, v in tree.items() if not (p in stubs and v[4] == "")}


@dataclass(frozen=True)
class CaseSpec:
    """A corpus case's ``case.toml``; every key is optional.

    ``format``: ``"oci"`` or ``"docker"``. ``build_args``: a table of build arguments given
    to both builders. ``target``: the stage to build (``--target``). ``buildah``:
    ``"same"`` (compare with buildah) or ``"differs"`` (buildah
    1.28 is wrong here; ``reason`` says how, and only the expectations are checked).
    ``[expect]``: ``history``, the exact ``created_by`` list (digests as ``file:*``);
    ``files``, a table of path -> ``{type, mode, uid, gid, content}`` (type ``f``/``d``/``l``,
    mode as an octal string, content the text or link target), each key optional;
    ``absent``, paths that must not exist; ``config``, config fields (``Env``, ``Cmd``...)
    with their exact values. ``[flags]``: podman build flags given to both builders, as
    :class:`~boxwright.build.context.BuildOptions` fields: ``labels`` (a table), ``unsetenv``
    (a list), ``omit_history`` (true), ``ignorefile`` (a file of the case).
    """

    format: str = "oci"
    build_args: dict[str, str] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    buildah: str = "same"
    reason: str = ""
    expect: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, case: str) -> CaseSpec:
        path = CORPUS / case / "case.toml"
        if not path.exists():
            return cls(format="docker" if case in DOCKER_FORMAT else "oci")
        spec = cls(**tomllib.loads(path.read_text()))
        assert spec.buildah in ("same", "differs"), spec.buildah
        assert spec.buildah == "same" or spec.reason, f"{case}: a differing case needs a reason"
        return spec


def _check_expectations(spec: CaseSpec, store: Store, image: str, case: str) -> None:
    expect = spec.expect
    if "history" in expect:
        history = [created_by for created_by, _ in _normalized(config_of(store, image))["history"]]
        assert history == expect["history"]
    config = config_of(store, image).get("config") or {}
    for name, value in expect.get("config", {}).items():
        assert config.get(name) == value, name
    tree = tree_of(store, image)
    for path in expect.get("absent", []):
        assert path.lstrip("/") not in tree, path
    keys = {"type": 0, "mode": 1, "uid": 2, "gid": 3, "content": 4}
    for path, want in expect.get("files", {}).items():
        got = tree.get(path.lstrip("/"))
        assert got is not None, f"{case}: {path} is missing"
        for key, value in want.items():
            have = got[keys[key]]
            assert (oct(have) if key == "mode" else have) == (
                oct(int(value, 8)) if key == "mode" else value
            ), f"{case}: {path} {key}"


def _flags(given: dict[str, Any], context: Path) -> tuple[dict[str, Any], list[str]]:
    """A case's ``[flags]`` as BuildOptions keywords and as buildah's command-line flags."""
    options: dict[str, Any] = {}
    flags: list[str] = []
    for name, value in given.items():
        if name == "labels":
            options["labels"] = dict(value)
            flags += [arg for k, v in value.items() for arg in ("--label", f"{k}={v}")]
        elif name == "unsetenv":
            options["unsetenv"] = tuple(value)
            flags += [arg for v in value for arg in ("--unsetenv", v)]
        elif name == "omit_history":
            options["omit_history"] = bool(value)
            flags.append(f"--omit-history={'true' if value else 'false'}")
        elif name == "ignorefile":
            options["ignorefile"] = context / value
            flags += ["--ignorefile", str(context / value)]
        else:
            raise AssertionError(f"unknown flag {name!r} in a case.toml")
    return options, flags


@pytest.mark.parametrize("case", CASES)
def test_boxwright_builds_what_buildah_builds(
    case: str, bstore: Store, buildah: list[str], tmp_path: Path
) -> None:
    context = tmp_path / "ctx"
    shutil.copytree(
        CORPUS / case, context, symlinks=True, ignore=shutil.ignore_patterns("case.toml")
    )
    spec = CaseSpec.of(case)
    fmt = spec.format
    options, flags = _flags(spec.flags, context)
    ours = run_build(
        bstore,
        context,
        timestamp=0,
        format=fmt,
        build_args=spec.build_args,
        target=spec.target,
        **options,
    )
    _check_expectations(spec, bstore, ours.image_id, case)
    if spec.buildah == "differs":
        return

    tag = f"localhost/corpus-{case}:1"
    args = [arg for k, v in spec.build_args.items() for arg in ("--build-arg", f"{k}={v}")]
    args += ["--target", spec.target] if spec.target else []
    _run(
        *buildah,
        "bud",
        "-q",
        "--layers",
        "--isolation",
        "chroot",
        "--format",
        fmt,
        "--timestamp",
        "0",
        *args,
        *flags,
        "-t",
        tag,
        str(context),
    )
    layout = tmp_path / "buildah-out"
    _run(*buildah, "push", "-q", tag, f"dir:{layout}")
    theirs = pull(f"dir:{layout}", store=bstore, name=tag)

    ours_config = _normalized(config_of(bstore, ours.image_id))
    theirs_config = _normalized(config_of(bstore, theirs.id))
    assert _compared(ours_config.pop("history")) == _compared(theirs_config.pop("history"))
    assert ours_config == theirs_config
    ours_tree, theirs_tree = tree_of(bstore, ours.image_id), tree_of(bstore, theirs.id)
    assert ours_tree == _without_stubs(theirs_tree, case)
    assert len(config_of(bstore, ours.image_id)["rootfs"]["diff_ids"]) == len(
        config_of(bstore, theirs.id)["rootfs"]["diff_ids"]
    )
