"""Stages, history and ARG scoping as BuildKit's dockerfile2llb makes them (the reference of
docs/compatibility.md): no history for FROM, ARG notes with their values, the RUN prefix with
the environment's values, ``COPY --from=${ARG}`` in every scope, duplicate stage names, and the
exit status of a failed RUN. Each test states BuildKit's exact outcome."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxwright.build.context import BuildEvent
from boxwright.errors import BuildError, RunStepError, UsageError
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, config_of, history_of, run_build, tree_of, write_context

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")
NOP = "/bin/sh -c #(nop) "
#: The base image's own history (tests/boxwright_testing/builds.py).
BASE_HISTORY = [("base", False)]


def test_from_records_no_history_and_a_from_only_stage_carries_nothing(
    bstore: Store, tmp_path: Path
) -> None:
    # BuildKit: FROM adds no history entry; a stage that is only a FROM is its base.
    text = f"FROM {BASE} AS base\nFROM base AS build\nRUN echo hi > /hi\nFROM build\n"
    result = run_build(bstore, write_context(tmp_path / "ctx", text), timestamp=0)
    assert history_of(bstore, result.image_id) == [
        *BASE_HISTORY,
        ("/bin/sh -c echo hi > /hi", False),
    ]
    assert result.stage_images[0] == bstore.images.get(BASE).id
    assert all("comment" not in h for h in config_of(bstore, result.image_id)["history"])

    only = run_build(bstore, write_context(tmp_path / "only", f"FROM {BASE}\n"), timestamp=0)
    assert history_of(bstore, only.image_id) == BASE_HISTORY
    assert config_of(bstore, only.image_id)["created"] == "1970-01-01T00:00:00Z"

    scratch = run_build(bstore, write_context(tmp_path / "scratch", "FROM scratch\n"))
    config = config_of(bstore, scratch.image_id)
    assert config.get("history", []) == [] and config["rootfs"]["diff_ids"] == []


def test_history_text_never_comes_from_the_cache(bstore: Store, tmp_path: Path) -> None:
    # The same step written two ways has the same expansion (and cache key text) but BuildKit
    # records each as written: a cached image of the other form is not reused.
    first = run_build(bstore, write_context(tmp_path / "a", f"FROM {BASE} AS a\nENV A=1\n"))
    second = run_build(bstore, write_context(tmp_path / "b", f"FROM {BASE}\nENV A 1\n"))
    assert history_of(bstore, first.image_id)[1:] == [(NOP + "ENV A=1", True)]
    assert history_of(bstore, second.image_id)[1:] == [(NOP + "ENV A 1", True)]
    again = run_build(bstore, write_context(tmp_path / "c", f"FROM {BASE} AS c\nENV A 1\n"))
    assert again.image_id == second.image_id and again.cache_hits == 1


def test_arg_history_records_each_name_with_its_value(bstore: Store, tmp_path: Path) -> None:
    # BuildKit's dispatchArg: NAME=value (--build-arg, else the default, else the global one),
    # a bare NAME without any; testExportedHistoryFlattenArgs for the RUN prefix.
    text = f"""ARG G=global
FROM {BASE}
ARG foo=bar
ARG bar=123
ARG foo=bar2 G none
ARG V=default X=${{foo}}-x
RUN ls /etc/
"""
    ctx = write_context(tmp_path / "ctx", text)
    result = run_build(bstore, ctx, build_args={"V": "given"})
    assert history_of(bstore, result.image_id)[1:] == [
        (NOP + "ARG foo=bar", True),
        (NOP + "ARG bar=123", True),
        (NOP + "ARG foo=bar2 G=global none", True),
        (NOP + "ARG V=given X=bar2-x", True),
        ("|6 foo=bar2 bar=123 G=global none= V=given X=bar2-x /bin/sh -c ls /etc/", False),
    ]


def test_run_prefix_and_environment_take_the_later_of_arg_and_env(
    bstore: Store, tmp_path: Path
) -> None:
    # BuildKit's runCommandString takes each declared ARG's value from the environment, where
    # an ENV after the ARG wins and an ARG after the ENV wins (moby/buildkit#915 for the
    # ARG-without-value case).
    text = f"""FROM {BASE}
ARG shadowed=arg
ENV shadowed=env
ENV later=env
ARG later=arg
ARG CONT_IMG_VER
ENV CONT_IMG_VER=${{CONT_IMG_VER:-v1.0.0}}
RUN echo "$shadowed $later $CONT_IMG_VER" > /seen
"""
    result = run_build(bstore, write_context(tmp_path / "ctx", text))
    history = history_of(bstore, result.image_id)
    assert history[-1] == (
        '|3 shadowed=env later=arg CONT_IMG_VER=v1.0.0 /bin/sh -c echo "$shadowed $later '
        '$CONT_IMG_VER" > /seen',
        False,
    )
    assert tree_of(bstore, result.image_id)["seen"][4] == "env arg v1.0.0\n"
    env = config_of(bstore, result.image_id)["config"]["Env"]
    assert env == [
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "shadowed=env",
        "later=env",
        "CONT_IMG_VER=v1.0.0",
    ]


def _stages(copy_lines: str, meta: str = "") -> str:
    return f"""{meta}FROM {BASE} AS one
RUN echo 1 > /x
FROM {BASE} AS two
RUN echo 2 > /x
FROM scratch
{copy_lines}"""


@pytest.mark.parametrize(
    ("meta", "lines", "build_args", "copied"),
    [
        ("ARG SRC=one\n", "COPY --from=${SRC} /x /x\n", {}, "1\n"),  # global, not redeclared
        ("ARG SRC=one\n", "COPY --from=${SRC} /x /x\n", {"SRC": "two"}, "2\n"),
        ("ARG SRC=one\n", "ARG SRC\nCOPY --from=$SRC /x /x\n", {}, "1\n"),
        ("ARG SRC=one\n", "ARG SRC=two\nCOPY --from=$SRC /x /x\n", {}, "2\n"),
        ("", "ARG N=t\nARG SRC=${N}wo\nCOPY --from=$SRC /x /x\n", {}, "2\n"),
        ("", "ARG SRC=one\nCOPY --from=${SRC} /x /x\n", {"SRC": "two"}, "2\n"),
        ("", "ENV SRC=two\nARG SRC=one\nCOPY --from=$SRC /x /x\n", {}, "1\n"),
    ],
)
def test_copy_from_expands_args_in_every_scope(
    bstore: Store,
    tmp_path: Path,
    meta: str,
    lines: str,
    build_args: dict[str, str],
    copied: str,
) -> None:
    ctx = write_context(tmp_path / "ctx", _stages(lines, meta))
    result = run_build(bstore, ctx, build_args=build_args)
    assert tree_of(bstore, result.image_id) == {"x": ("f", 0o644, 0, 0, copied)}
    assert len(result.stage_images) == 2  # the stage it names, and the last


@pytest.mark.parametrize(
    ("meta", "lines", "build_args", "seen"),
    [
        ("ARG SRC=one\n", "ARG SRC\n", {}, "1\n"),
        ("ARG SRC=one\n", "ARG SRC\n", {"SRC": "two"}, "2\n"),
        ("", "ARG SRC=two\n", {}, "2\n"),
    ],
)
def test_run_mount_from_expands_args_as_copy_from_does(
    bstore: Store,
    tmp_path: Path,
    meta: str,
    lines: str,
    build_args: dict[str, str],
    seen: str,
) -> None:
    text = f"""{meta}FROM {BASE} AS one
RUN echo 1 > /x
FROM {BASE} AS two
RUN echo 2 > /x
FROM {BASE}
{lines}RUN --mount=type=bind,from=${{SRC}},target=/m cat /m/x > /seen
"""
    ctx = write_context(tmp_path / "ctx", text)
    result = run_build(bstore, ctx, build_args=build_args)
    assert tree_of(bstore, result.image_id)["seen"][4] == seen
    assert len(result.stage_images) == 2  # the stage it names, and the last


def test_copy_from_an_arg_known_only_while_building_is_refused(
    bstore: Store, tmp_path: Path
) -> None:
    text = _stages("ENV S=one\nARG SRC=$S\nCOPY --from=$SRC /x /x\n")
    ctx = write_context(tmp_path / "ctx", text)
    with pytest.raises(UsageError) as error:
        run_build(bstore, ctx)
    assert str(error.value) == (
        f"{ctx}/Containerfile:8: COPY --from=$SRC: the value of SRC is known only while building "
        "(its ARG default reads the environment), but the stages a stage waits for are chosen "
        "before building: give it with --build-arg or a default without variables"
    )
    ok = run_build(bstore, write_context(tmp_path / "ok", text), build_args={"SRC": "two"})
    assert tree_of(bstore, ok.image_id)["x"][4] == "2\n"


def test_duplicate_stage_names_warn_and_the_last_one_wins(bstore: Store, tmp_path: Path) -> None:
    # BuildKit: FROM names the last earlier stage of a name; --from and --target the last in
    # the file (a --from may name a later stage); the DuplicateStageName warning.
    text = f"""FROM {BASE} AS a
RUN echo first > /x
FROM a AS b
COPY --from=a /x /from-b
FROM {BASE} AS a
RUN echo second > /x
FROM b
"""
    ctx = write_context(tmp_path / "ctx", text)
    events: list[BuildEvent] = []
    result = run_build(bstore, ctx, events)
    tree = tree_of(bstore, result.image_id)
    assert (tree["x"][4], tree["from-b"][4]) == ("first\n", "second\n")
    assert [e.text for e in events if e.kind == "warning"] == [
        f'{ctx}/Containerfile:5: Duplicate stage name "a", stage names should be unique '
        "(the last stage of a name is the one --from and --target use)"
    ]
    target = run_build(bstore, ctx, target="a")
    assert tree_of(bstore, target.image_id)["x"][4] == "second\n"


def test_a_cycle_of_stages_is_refused(bstore: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE} AS a\nCOPY --from=b /x /x\nFROM {BASE} AS b\nCOPY --from=a /y /y\n"
    ctx = write_context(tmp_path / "ctx", text)
    with pytest.raises(UsageError) as error:
        run_build(bstore, ctx)
    assert str(error.value) == f"{ctx}/Containerfile:1: circular dependency detected on stage: a"


def test_a_failed_run_carries_its_exit_status(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN exit 42\n")
    with pytest.raises(RunStepError) as error:
        run_build(bstore, ctx)
    assert error.value.exit_code == 42 and isinstance(error.value, BuildError)
    assert str(error.value).endswith(
        'Containerfile:2: building at STEP "RUN exit 42": exit status 42'
    )


def test_an_unneeded_stage_is_only_planned(bstore: Store, tmp_path: Path) -> None:
    # ${V:?msg} fails only where a stage is built; planning reads every stage's ARGs
    text = f"FROM {BASE} AS unneeded\nARG X=${{Y:?required}}\nFROM {BASE}\nENV A=1\n"
    ctx = write_context(tmp_path / "ctx", text)
    assert history_of(bstore, run_build(bstore, ctx).image_id)[1:] == [(NOP + "ENV A=1", True)]
    with pytest.raises(BuildError, match="Y: required"):
        run_build(bstore, ctx, target="unneeded")
