"""The layer cache: a rebuild reuses every step, a changed input rebuilds from its step on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boxwright.build.cache import CACHE_FILE, BuildCache, step_key
from boxwright.build.context import BuildEvent
from boxwright.errors import StoreError
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, config_of, run_build, write_context
from boxwright_testing.registry_servers import REGISTRY_BINARY, start_registry

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")

CONTAINERFILE = f"""FROM {BASE}
ARG MODE=dev
COPY one.txt /one.txt
RUN echo "$MODE" > /mode
COPY two.txt /two.txt
RUN cat /one.txt /two.txt > /both
ENV DONE=1
"""


def _context(tmp_path: Path) -> Path:
    return write_context(tmp_path / "ctx", CONTAINERFILE, {"one.txt": "1\n", "two.txt": "2\n"})


def _cache_lines(events: list[BuildEvent]) -> list[int]:
    """The step numbers whose work was reused."""
    hits: list[int] = []
    last_step = 0
    for event in events:
        if event.kind == "step":
            last_step = int(event.text.split()[1].split("/")[0])
        elif event.kind == "cache":
            hits.append(last_step)
    return hits


def test_a_rebuild_reuses_every_step(bstore: Store, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    first = run_build(bstore, ctx)
    assert first.cache_hits == 0
    events: list[BuildEvent] = []
    again = run_build(bstore, ctx, events)
    assert again.image_id == first.image_id
    assert _cache_lines(events) == [3, 4, 5, 6, 7]
    assert again.cache_hits == 5


def test_the_content_not_the_mtime_is_the_key(bstore: Store, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    first = run_build(bstore, ctx)
    os.utime(ctx / "one.txt", (1, 1))
    assert run_build(bstore, ctx).image_id == first.image_id


def test_a_changed_file_rebuilds_from_its_step_on(bstore: Store, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    first = run_build(bstore, ctx)
    (ctx / "two.txt").write_text("changed\n")
    events: list[BuildEvent] = []
    second = run_build(bstore, ctx, events)
    assert _cache_lines(events) == [3, 4]
    assert second.image_id != first.image_id


def test_a_changed_build_arg_rebuilds_the_steps_that_see_it(bstore: Store, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    run_build(bstore, ctx)
    events: list[BuildEvent] = []
    run_build(bstore, ctx, events, build_args={"MODE": "prod"})
    assert _cache_lines(events) == []  # every step after the ARG sees it, as in buildah


def test_no_cache_rebuilds_everything(bstore: Store, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    first = run_build(bstore, ctx, timestamp=0)
    events: list[BuildEvent] = []
    again = run_build(bstore, ctx, events, no_cache=True, timestamp=0)
    assert _cache_lines(events) == [] and again.cache_hits == 0
    assert again.image_id == first.image_id  # same inputs, same timestamp: same image


def test_a_removed_intermediate_image_is_a_miss_not_an_error(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN echo 1 > /one\n")
    first = run_build(bstore, ctx)
    bstore.images.remove(first.image_id)
    events: list[BuildEvent] = []
    again = run_build(bstore, ctx, events)
    assert _cache_lines(events) == []
    assert bstore.images.exists(again.image_id)


def test_the_index_is_a_versioned_record_file_and_corruption_is_reported(
    bstore: Store, tmp_path: Path
) -> None:
    cache = BuildCache(bstore)
    image = bstore.images.get(BASE).id
    key = step_key(None, [], "RUN x", {})
    cache.put(key, image)
    assert cache.get(key) == image and len(cache) == 1
    assert cache.get(step_key(None, [], "RUN y", {})) is None
    (bstore.layout.root / CACHE_FILE).write_text("{not json")
    with pytest.raises(StoreError, match=r"build-cache\.json is corrupt"):
        cache.get(key)


def test_step_keys_change_with_each_input() -> None:
    base = step_key("p", ["ENV A=1"], "RUN x", {"A": "1"}, "c")
    assert base.startswith("sha256:") and len(base) == 71
    assert step_key("p", ["ENV A=1"], "RUN x", {"A": "1"}, "c") == base
    others = [
        step_key("q", ["ENV A=1"], "RUN x", {"A": "1"}, "c"),
        step_key("p", ["ENV A=2"], "RUN x", {"A": "1"}, "c"),
        step_key("p", ["ENV A=1"], "RUN y", {"A": "1"}, "c"),
        step_key("p", ["ENV A=1"], "RUN x", {"A": "2"}, "c"),
        step_key("p", ["ENV A=1"], "RUN x", {"A": "1"}, "d"),
    ]
    assert len({base, *others}) == 6


def test_the_platform_is_in_a_scratch_key_only() -> None:
    arm = step_key(None, [], "COPY x", {}, "c", platform="linux/arm/v7")
    amd = step_key(None, [], "COPY x", {}, "c", platform="linux/amd64")
    assert len({arm, amd, step_key(None, [], "COPY x", {}, "c")}) == 3
    with_parent = step_key("p", [], "COPY x", {}, "c")
    assert step_key("p", [], "COPY x", {}, "c", platform="linux/arm/v7") == with_parent
    assert step_key("p", [], "COPY x", {}, "c", platform="linux/amd64") == with_parent


def test_link_keys_change_with_their_inputs_only() -> None:
    from boxwright.build.cache import link_key

    base = link_key("COPY\0link\0/d/", "c", ["timestamp=0"])
    assert base == link_key("COPY\0link\0/d/", "c", ["timestamp=0"])
    others = {
        link_key("COPY\0link\0/e/", "c", ["timestamp=0"]),
        link_key("COPY\0link\0/d/", "d", ["timestamp=0"]),
        link_key("COPY\0link\0/d/", "c", ["timestamp=None"]),
        step_key(None, [], "COPY\0link\0/d/", {}, "c", ["timestamp=0"]),
    }
    assert base.startswith("sha256:") and base not in others and len(others) == 4


@pytest.fixture(scope="module")
def cache_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's docker-registry over plain HTTP (:mod:`boxwright_testing.registry_servers`)."""
    if REGISTRY_BINARY is None:
        pytest.skip("docker-registry is not installed (scripts/install-test-deps installs it)")
    server = start_registry(tmp_path_factory.mktemp("build-cache-registry"), "plain")
    yield server
    server.stop()


def test_a_registry_shares_the_cache_between_two_machines(
    tmp_path: Path, base_layout: Path, cache_registry: Any
) -> None:
    from boxwright.store.pullpush import pull
    from boxwright.transport.options import TransportOptions

    repo = f"{cache_registry.host}/{cache_registry.repo('cache')}"
    plain = TransportOptions(tls_verify=False, use_blob_info_cache=False)
    ctx = _context(tmp_path)
    stores = []
    for name in ("ci-one", "ci-two"):
        store = Store(tmp_path / name)
        pull(f"oci:{base_layout}:1", store=store, name=BASE)
        stores.append(store)
    first = run_build(stores[0], ctx, cache_to=repo, registry_options=plain, timestamp=0)
    events: list[BuildEvent] = []
    second = run_build(
        stores[1], ctx, events, cache_from=(repo,), registry_options=plain, timestamp=0
    )
    assert _cache_lines(events) == [3, 4, 5, 6, 7]
    assert second.image_id == first.image_id

    (ctx / "two.txt").write_text("changed\n")
    events = []
    run_build(Store(tmp_path / "ci-one"), ctx, events, cache_from=(repo,), registry_options=plain)
    assert _cache_lines(events) == [3, 4]


def test_build_push_sends_every_tag_to_its_registry(
    bstore: Store, tmp_path: Path, cache_registry: Any
) -> None:
    """`boxwright build -t REGISTRY/REPO:TAG --push`: the registry then serves the same image
    (its manifest digest, as skopeo reads it) as the store holds."""
    import json
    import shutil
    import subprocess

    from click.testing import CliRunner

    from boxwright.cli.main import main

    name = f"{cache_registry.host}/{cache_registry.repo('pushed')}:1"
    ctx = _context(tmp_path)
    result = CliRunner().invoke(
        main,
        ["build", "-t", name, "--push", "--tls-verify=false", "--timestamp", "0", str(ctx)],
        env={"BOXWRIGHT_ROOT": str(bstore.layout.root)},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    stored = bstore.images.get(name)
    assert result.stdout.splitlines()[-1] == stored.id
    assert f"Pushed {name}@sha256:" in result.stderr
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    seen = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{name}"],
        check=True,
        capture_output=True,
        text=True,
    )
    pushed = result.stderr.split(f"Pushed {name}@", 1)[1].split()[0]
    assert json.loads(seen.stdout)["Digest"] == pushed == str(stored.manifest)


def test_a_registry_serves_a_linked_layer_under_a_changed_base_step(
    tmp_path: Path, base_layout: Path, cache_registry: Any
) -> None:
    """``--cache-to`` pushes a linked step's one-layer carrier under its parent-independent
    key; a second machine whose RUN before it differs pulls that layer (and nothing of the
    first machine's RUN) and stacks the same blob on its own parent."""
    from boxwright.store.pullpush import pull
    from boxwright.transport.options import TransportOptions

    repo = f"{cache_registry.host}/{cache_registry.repo('linked')}"
    plain = TransportOptions(tls_verify=False, use_blob_info_cache=False)
    steps = f"FROM {BASE}\nRUN echo {{n}} > /n\nCOPY --link one.txt /srv/one.txt\n"
    stores = []
    for name in ("ci-one", "ci-two"):
        store = Store(tmp_path / name)
        pull(f"oci:{base_layout}:1", store=store, name=BASE)
        stores.append(store)
    ctx = write_context(tmp_path / "ctx", steps.format(n=1), {"one.txt": "1\n"})
    first = run_build(stores[0], ctx, cache_to=repo, registry_options=plain, timestamp=0)
    (ctx / "Containerfile").write_text(steps.format(n=2))
    events: list[BuildEvent] = []
    second = run_build(
        stores[1], ctx, events, cache_from=(repo,), registry_options=plain, timestamp=0
    )
    assert _cache_lines(events) == [3]
    assert any(e.text.endswith("(linked layer)") for e in events if e.kind == "cache")
    one, two = stores[0].images.get(first.image_id), stores[1].images.get(second.image_id)
    assert two.layers[2] == one.layers[2] and two.diff_ids[2] == one.diff_ids[2]
    assert two.layers[1] != one.layers[1]
    assert not stores[1].blobs.has(one.layers[1])  # the first machine's RUN layer stayed away


@pytest.mark.parametrize("link", ["", "--link "])
def test_a_scratch_stage_is_cached_per_platform(bstore: Store, tmp_path: Path, link: str) -> None:
    """FROM scratch has no parent image to tell the platforms apart: the key names the
    platform, so each platform gets its own image (the one ``--no-cache`` makes), and a
    repeat of one platform reuses it. A linked layer is the same for every platform: its
    carrier is reused, stacked under each platform's own config."""
    ctx = write_context(tmp_path / "ctx", f"FROM scratch\nCOPY {link}file /\n", {"file": "x\n"})
    platforms = {
        "linux/amd64": ("amd64", None),
        "linux/arm64": ("arm64", None),
        "linux/arm/v7": ("arm", "v7"),
    }
    made: dict[str, str] = {}
    for platform, (architecture, variant) in platforms.items():
        events: list[BuildEvent] = []
        result = run_build(bstore, ctx, events, platform=platform, timestamp=0)
        hits = [e.text for e in events if e.kind == "cache"]
        if link and made:  # the linked layer's bytes are the same for every platform
            first = bstore.images.get(made["linux/amd64"])
            assert len(hits) == 1 and hits[0].endswith(" (linked layer)")
            assert result.cache_hits == 1
            assert bstore.images.get(result.image_id).layers == first.layers
        else:
            assert hits == [] and result.cache_hits == 0
        config = config_of(bstore, result.image_id)
        assert (config["os"], config["architecture"], config.get("variant")) == (
            "linux",
            architecture,
            variant,
        )
        fresh = run_build(bstore, ctx, platform=platform, timestamp=0, no_cache=True)
        assert fresh.cache_hits == 0 and fresh.image_id == result.image_id
        made[platform] = result.image_id
    assert len(set(made.values())) == 3
    for platform, image in made.items():
        events = []
        again = run_build(bstore, ctx, events, platform=platform, timestamp=0)
        assert again.image_id == image
        assert _cache_lines(events) == [2] and again.cache_hits == 1
        assert [e.text for e in events if e.kind == "cache"] == [f"--> Using cache {image}"]


#: What running a step (a RUN, a copy, a commit), fetching a context, writing ``--output``, a
#: pull, a push, a rootless store's namespace, ``--cap-add``, manifest lists or a build for
#: several platforms needs and a rebuild whose every step is cached does not load; nor, as it
#: logs nothing and runs one stage, ``logging`` (nor the stage threads' ``concurrent.futures``,
#: which imports it).
NOT_FOR_A_CACHED_REBUILD = (
    "boxwright.build.builder",
    "boxwright.build.commits",
    "boxwright.build.contexts",
    "boxwright.build.copyapply",
    "boxwright.build.files",
    "boxwright.build.multiplatform",
    "boxwright.build.outputs",
    "boxwright.build.remote",
    "boxwright.build.runexec",
    "boxwright.build.sshagent",
    "boxwright.build.stageexec",
    "boxwright.cli.buildpush",
    "boxwright.copy.pipeline",
    "boxwright.layer.apply",
    "boxwright.layer.generate",
    "boxwright.rootless.namespace",
    "boxwright.runtime.container",
    "boxwright.runtime.emulation",
    "boxwright.runtime.native",
    "boxwright.runtime.spec",
    "boxwright.store.commit",
    "boxwright.store.containers",
    "boxwright.store.manifestops",
    "boxwright.store.manifests",
    "boxwright.store.pulling",
    "boxwright.store.pullpush",
    "boxwright.store.rootfs",
    "boxwright.store.snapshots",
    "boxwright.transport.image",
    "boxwright.transport.oci_layout",
    "boxwright.trust.signing",
    "concurrent.futures",
    "logging",
)

_REBUILD = """
import sys
from pathlib import Path
from boxwright.build.context import BuildOptions
from boxwright.build.executor import build
from boxwright.store.store import Store
options = BuildOptions(
    context=Path(sys.argv[2]), tags=("localhost/cached:1",), on_event=lambda event: None
)
result = build(options, Store(Path(sys.argv[1])))
print(result.cache_hits, result.image_id)
print(*sorted(m for m in {wanted} if m in sys.modules))
"""


#: ``boxwright --root R build -q -t NAME CTX`` in a fresh process, then the modules of
#: ``wanted`` it loaded.
_REBUILD_CLI = """
import sys
from boxwright.cli.main import main
try:
    main(
        ["--root", sys.argv[1], "build", "-q", "-t", "localhost/cached:1", sys.argv[2]],
        standalone_mode=False,
    )
finally:
    print(*sorted(m for m in {wanted} if m in sys.modules))
"""


@pytest.mark.parametrize("how", ["library", "cli"])
def test_a_cached_rebuild_loads_neither_the_runtime_nor_the_copy_pipeline(
    bstore: Store, tmp_path: Path, how: str
) -> None:
    """A rebuild whose every step is cached, naming the image as the first build did, through
    ``build()`` and through the command line, loads nothing that runs a step, fetches a
    context, writes ``--output``, pulls or pushes, nor the manifest lists, nor ``logging``."""
    ctx = _context(tmp_path)
    first = run_build(bstore, ctx, tags=("localhost/cached:1",))
    code = (_REBUILD if how == "library" else _REBUILD_CLI).format(wanted=NOT_FOR_A_CACHED_REBUILD)
    done = subprocess.run(
        [sys.executable, "-c", code, str(bstore.root), str(ctx)],
        capture_output=True,
        text=True,
        check=True,
    )
    shown = f"5 {first.image_id}" if how == "library" else first.image_id
    assert done.stdout.splitlines() == [shown, ""]
