"""Session fixtures shared by every test package: images made by the real peers.

``peer_images`` builds one small but complete image with buildah (private storage, vfs driver,
chroot isolation, no registry), from busybox-static and a few hand-made files:

* layer 1: ``/bin/busybox``, ``/bin/sh`` (a symlink), ``/etc/passwd`` and ``/etc/group``,
  ``/data/a.txt`` with a hardlink ``/data/hard``, ``/data/b.txt``, ``/data/dir/nested.txt``,
  a setuid ``/usr/bin/suid`` (4755) and a sticky ``/tmp`` (1777);
* layer 2 (made by running busybox in the image): ``/data/b.txt`` deleted (a whiteout),
  ``/data/c.txt`` added, ``/data/a.txt`` changed;
* layer 3: ``/etc/motd``; plus Env, Entrypoint, Cmd, WorkingDir, User, Labels and history.

skopeo then exports it to ``oci:`` (gzip), ``oci:`` (zstd), ``oci-archive:`` (gzip),
``docker-archive:`` and ``dir:``. Everything is session-scoped and read-only: a test that
writes must copy first (:func:`copy_tree`). :func:`write_oci_index` writes a multi-platform
OCI index by hand (the peers cannot build foreign-architecture images offline).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from boxwright_testing.layouts import MANIFEST, REF_NAME, Layout, encode
from boxwright_testing.users import User, throwaway_user

# The shared helpers package (tests/boxwright_testing, on the import path through pyproject's
# ``pythonpath``): its modules that define fixtures are plugins, so every test folder can ask
# for those fixtures by name.
pytest_plugins = [
    "boxwright_testing.builds",
    "boxwright_testing.context_servers",
    "boxwright_testing.signing",
    "boxwright_testing.multiarch",
    "boxwright_testing.netimage",
]

# Hypothesis profiles. "default" bounds every fuzz test (tests marked ``fuzz``) so that all of
# them together stay well under a minute on a loaded two-core machine; "nightly" runs each many
# times longer, without a per-example deadline (a hang still fails at the pytest timeout).
# Select it with HYPOTHESIS_PROFILE=nightly or ``pytest --fuzz-nightly`` (docs/testing.md).
FUZZ_NIGHTLY_TIMEOUT = 3600
settings.register_profile(
    "default",
    max_examples=50,
    deadline=5000,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly",
    max_examples=int(os.environ.get("BOXWRIGHT_FUZZ_EXAMPLES", "20000")),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-nightly",
        action="store_true",
        default=False,
        help="run the fuzz tests with the long 'nightly' hypothesis profile",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--fuzz-nightly"):
        settings.load_profile("nightly")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the nightly profile a fuzz test may run for an hour instead of the usual timeout."""
    if settings.default.max_examples <= 1000:
        return
    for item in items:
        if item.get_closest_marker("fuzz") is not None:
            item.add_marker(pytest.mark.timeout(FUZZ_NIGHTLY_TIMEOUT))


BUILDAH = shutil.which("buildah")
SKOPEO = shutil.which("skopeo")
UMOCI = shutil.which("umoci")
BUSYBOX = "/bin/busybox"

IMAGE_NAME = "localhost/boxwright-test"
TAG = "latest"
DOCKER_NAME = f"{IMAGE_NAME}:{TAG}"
ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello world")
ENTRYPOINT = ("/bin/sh", "-c")
CMD = ("echo $GREETING",)
LABELS = {"org.example.role": "test", "org.example.layers": "3"}


def run_peer(*args: str | os.PathLike[str], timeout: float = 180) -> str:
    """Run a peer tool and return its stdout; fail with its stderr when it fails."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def copy_tree(src: Path, dst: Path) -> Path:
    """A private copy of a layout/dir (symlinks kept) for a test that writes to it."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


@dataclass(frozen=True)
class PeerImages:
    """Where the peer-made image lives in each format, and what it is known to contain."""

    storage: str
    oci: Path
    oci_zstd: Path
    oci_archive: Path
    docker_archive: Path
    dir: Path
    tag: str = TAG
    docker_name: str = DOCKER_NAME
    layer_count: int = 3
    env: tuple[str, ...] = ENV
    entrypoint: tuple[str, ...] = ENTRYPOINT
    cmd: tuple[str, ...] = CMD
    labels: dict[str, str] = field(default_factory=lambda: dict(LABELS))
    working_dir: str = "/data"
    user: str = "0:0"

    @property
    def refs(self) -> dict[str, str]:
        """A boxwright/skopeo reference string per format."""
        return {
            "oci": f"oci:{self.oci}:{self.tag}",
            "oci-zstd": f"oci:{self.oci_zstd}:{self.tag}",
            "oci-archive": f"oci-archive:{self.oci_archive}:{self.tag}",
            "docker-archive": f"docker-archive:{self.docker_archive}",
            "dir": f"dir:{self.dir}",
        }


def _make_context(ctx: Path) -> None:
    (ctx / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, ctx / "bin" / "busybox")
    (ctx / "bin" / "sh").symlink_to("busybox")
    (ctx / "etc").mkdir()
    (ctx / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    )
    (ctx / "etc" / "group").write_text("root:x:0:\nalice:x:1000:\n")
    (ctx / "data" / "dir").mkdir(parents=True)
    (ctx / "data" / "a.txt").write_text("a\n")
    os.link(ctx / "data" / "a.txt", ctx / "data" / "hard")
    (ctx / "data" / "b.txt").write_text("b\n")
    (ctx / "data" / "dir" / "nested.txt").write_text("nested\n")
    (ctx / "usr" / "bin").mkdir(parents=True)
    suid = ctx / "usr" / "bin" / "suid"
    suid.write_text("#!/bin/sh\necho suid\n")
    suid.chmod(0o4755)
    (ctx / "tmp").mkdir()
    (ctx / "tmp").chmod(0o1777)


@pytest.fixture(scope="session")
def unprivileged_user() -> Iterator[User]:
    """A throw-away unprivileged system account for the whole run (``users.User``).

    Run code as it with :func:`boxwright_testing.users.as_user`; skips when not root or
    without useradd.
    """
    with throwaway_user("bxu") as user:
        yield user


@pytest.fixture(scope="session")
def peer_images(tmp_path_factory: pytest.TempPathFactory) -> PeerImages:
    """The test image built by buildah and exported by skopeo to every local format."""
    missing = [name for name, path in (("buildah", BUILDAH), ("skopeo", SKOPEO)) if not path]
    if missing or not os.path.exists(BUSYBOX):
        pytest.skip(f"peer tools missing: {', '.join(missing) or BUSYBOX}")
    assert BUILDAH is not None and SKOPEO is not None
    base = tmp_path_factory.mktemp("peer-images")
    root, runroot = base / "storage", base / "run"
    bh = [BUILDAH, "--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs"]
    ctx = base / "context"
    _make_context(ctx)

    c1 = run_peer(*bh, "from", "--quiet", "scratch").strip()
    run_peer(*bh, "copy", c1, str(ctx), "/")
    run_peer(*bh, "config", "--created-by", "COPY context /", c1)
    run_peer(*bh, "commit", "--quiet", "--format", "oci", c1, f"{IMAGE_NAME}:stage1")
    c2 = run_peer(*bh, "from", "--quiet", f"{IMAGE_NAME}:stage1").strip()
    script = "rm /data/b.txt && echo c > /data/c.txt && echo changed > /data/a.txt"
    run_peer(*bh, "run", "--isolation", "chroot", c2, "--", "/bin/sh", "-c", script)
    run_peer(*bh, "config", "--created-by", f"RUN {script}", c2)
    run_peer(*bh, "commit", "--quiet", "--format", "oci", c2, f"{IMAGE_NAME}:stage2")
    c3 = run_peer(*bh, "from", "--quiet", f"{IMAGE_NAME}:stage2").strip()
    motd = base / "motd"
    motd.write_text("welcome\n")
    run_peer(*bh, "copy", c3, str(motd), "/etc/motd")
    config = ["--created-by", "COPY motd /etc/motd", "--workingdir", "/data", "--user", "0:0"]
    for item in ENV:
        config += ["--env", item]
    for key, value in LABELS.items():
        config += ["--label", f"{key}={value}"]
    config += ["--entrypoint", json.dumps(list(ENTRYPOINT)), "--cmd", json.dumps(list(CMD))]
    run_peer(*bh, "config", *config, c3)
    run_peer(*bh, "commit", "--quiet", "--format", "oci", c3, f"{IMAGE_NAME}:{TAG}")
    run_peer(*bh, "rm", "--all")

    storage = f"containers-storage:[vfs@{root}+{runroot}]{IMAGE_NAME}:{TAG}"
    images = PeerImages(
        storage=storage,
        oci=base / "oci",
        oci_zstd=base / "oci-zstd",
        oci_archive=base / "image.oci.tar",
        docker_archive=base / "image.docker.tar",
        dir=base / "dir",
    )
    skopeo = [SKOPEO, "copy", "--quiet"]
    gzip = ["--dest-compress", "--dest-compress-format", "gzip"]
    run_peer(*skopeo, *gzip, storage, f"oci:{images.oci}:{TAG}")
    zstd = ["--dest-compress", "--dest-compress-format", "zstd"]
    run_peer(*skopeo, *zstd, storage, f"oci:{images.oci_zstd}:{TAG}")
    run_peer(*skopeo, *gzip, storage, f"oci-archive:{images.oci_archive}:{TAG}")
    run_peer(*skopeo, storage, f"docker-archive:{images.docker_archive}:{DOCKER_NAME}")
    run_peer(*skopeo, storage, f"dir:{images.dir}")
    return images


def write_oci_index(
    layout: Path,
    platforms: list[dict[str, str]],
    ref_name: str,
    source_ref: str | None = None,
) -> dict[str, Any]:
    """Add a multi-platform image named ``ref_name`` to ``layout``, by hand.

    For each platform (``{"os": ..., "architecture": ..., ["variant": ...]}``) the config of
    the image ``source_ref`` (default: the layout's only entry) is copied with that platform
    and a new manifest points at it and at the same layers; an OCI index lists the manifests
    and is added to ``index.json`` under ``ref_name``. Returns the index descriptor.
    """
    index_path = layout / "index.json"
    top = json.loads(index_path.read_text())
    entries = top["manifests"]
    if source_ref is None:
        assert len(entries) == 1, "name the source image: the layout holds several"
        entry = entries[0]
    else:
        entry = next(
            e
            for e in entries
            if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == source_ref
        )
    out = Layout(layout)
    manifest = json.loads((out.blobs / entry["digest"].split(":", 1)[1]).read_bytes())
    config = json.loads((out.blobs / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    children = []
    for platform in platforms:
        config.update(platform)
        if "variant" not in platform:
            config.pop("variant", None)
        new_manifest = dict(manifest, config={**manifest["config"], **out.config(config)})
        children.append({**out.blob(encode(new_manifest), MANIFEST), "platform": platform})
    index = out.index(children)
    out.tag(index, ref_name)
    return {**index, "annotations": {REF_NAME: ref_name}}


@pytest.fixture(scope="session")
def oci_index_writer() -> Callable[..., dict[str, Any]]:
    """:func:`write_oci_index`, for tests in other packages (conftest is not importable)."""
    return write_oci_index


# -- the OCI JSON schemas (Debian's image-spec and runtime-spec -dev packages) ----------------

GOCODE = Path("/usr/share/gocode/src/github.com")
IMAGE_SPEC_SCHEMAS = GOCODE / "opencontainers/image-spec/schema"
RUNTIME_SPEC_SCHEMAS = GOCODE / "opencontainers/runtime-spec/schema"


def _validator(directory: Path, schema_name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def retrieve(uri: str) -> Resource[Any]:
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        return DRAFT4.create_resource(json.loads((directory / name).read_text()))

    schema = json.loads((directory / schema_name).read_text())
    schema.setdefault("id", f"https://schemas.test/{schema_name}")
    registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    return jsonschema.Draft4Validator(schema, registry=registry)


@pytest.fixture(scope="session")
def image_spec_validator() -> Callable[[str], Any]:
    """A Draft 4 validator for one of image-spec's schemas (refs resolved from its folder)."""
    assert IMAGE_SPEC_SCHEMAS.is_dir(), "missing image-spec schemas: run scripts/install-test-deps"
    return lambda name: _validator(IMAGE_SPEC_SCHEMAS, name)


@pytest.fixture(scope="session")
def runtime_spec_validator() -> Any:
    """A Draft 4 validator for runtime-spec's config-schema.json."""
    assert RUNTIME_SPEC_SCHEMAS.is_dir(), "missing runtime-spec schemas"
    return _validator(RUNTIME_SPEC_SCHEMAS, "config-schema.json")
