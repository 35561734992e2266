"""boxwright building inside a container started by ``boxwright run`` and by ``podman run``.

The outer container has no ``/dev/fuse`` and no ``CAP_SYS_ADMIN`` (the default capabilities
of both), and runs as host root, as a user with subordinate ranges (its container maps
65537 IDs) or as one without (one ID). Its image is a few directories and ``/build.sh``;
the host's ``/usr``, the test's interpreter, this checkout's sources, the base layout and
the build context are bound in read-only. Inside, boxwright builds a Containerfile and prints
the image ID: it must be the ID root's build on the host gives (``--timestamp 0``).

The Containerfile is the build benchmark's app (``benchmarks/bench_build.py``: a COPY of
many small files, a RUN writing 500 files with ``seq``, a RUN deleting ``/usr/share/doc``
and files, WORKDIR, CMD) on the Debian bookworm base, with 300 files in the context. A
busybox-static Containerfile with a static ``chown -R 1234:1234`` shows that root of an outer
container that maps many IDs (and holds ``CAP_SETUID``/``CAP_SETGID``) gets them all in its
RUN steps; one ID (a user without ranges, or ``--user 1000`` inside) is single mode, which
builds the app too (its RUN steps change no owner).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import boxwright
from boxwright_testing.users import User, _cli_child_setup, _hidden_prefixes, run_cli_as

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make test users"),
    pytest.mark.slow,  # a Debian app build per outer container: 10 s to 100 s each
]

SRC = Path(boxwright.__file__).resolve().parents[1]
PREFIX = Path(sys.base_prefix).resolve()
# /build.sh BASE: import the base layout (bound at /base) as BASE, build /ctx.
BUILD = f"""set -e
export PYTHONPATH=/src HOME=/tmp BOXWRIGHT_ROOT=/store
bw() {{ {Path(sys.executable)} -m boxwright "$@"; }}
bw info --format '{{{{.Store.UsernsMode}}}}'
bw copy -q oci:/base:1 "store:$1" >/dev/null
bw build -q --timestamp 0 -t app:1 /ctx
echo built
"""
# The build benchmark's Containerfile (benchmarks/bench_build.py) on the Debian base.
APP = """FROM localhost/debian:1
ENV APP=/srv/app
COPY app/ /srv/app/
RUN mkdir -p /var/cache/gen && for i in $(seq 1 500); do echo $i > /var/cache/gen/f$i; done
RUN rm -rf /usr/share/doc /var/cache/gen/f1* && echo done > /srv/app/done
WORKDIR /srv/app
CMD ["/bin/sh"]
"""
APP_FILES, APP_DIRS = 300, 30
# RUN steps that need every ID for real: a static chown.
OWNERS = """FROM localhost/bbx:1
ENV APP=/srv/app
COPY app/ /srv/app/
RUN mkdir -p /var/cache/gen && for i in 1 2 3 4 5; do echo $i > /var/cache/gen/f$i; done
RUN rm -f /var/cache/gen/f1 && echo done > /srv/app/done && chown -R 1234:1234 /srv/app
WORKDIR /srv/app
CMD ["/bin/sh"]
"""
#: Each context: its Containerfile and its base (the fixture of its layout, the name).
CONTEXTS = {
    "app": (APP, "debian_layout", "localhost/debian:1"),
    "owners": (OWNERS, "bbx_layout", "localhost/bbx:1"),
}


def _host_bw(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-m", "boxwright", *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _app_files(app: Path) -> None:
    """The app's files: APP_FILES text files of 1-20 KB in APP_DIRS directories, the same
    bytes every time (the build benchmark's shape, fewer files)."""
    rng = random.Random(1)
    words = ("layer", "image", "store", "build", "commit", "overlay", "digest", "blob")
    for n in range(APP_FILES):
        target = app / f"d{n % APP_DIRS:02}" / f"f{n:05}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for _ in range(rng.randint(1024, 20 * 1024) // 64):
            lines.append(" ".join(rng.choices(words, k=8)) + f" {rng.randrange(10**6)}")
        target.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def nest(bbx_layout: Path, debian_layout: Path) -> Iterator[Path]:
    """A world-readable directory with the outer image (``outer/``, an OCI layout), the
    build contexts (``ctx-*``) and root's image IDs for them (``expected-*``)."""
    top = Path(f"/tmp/bx-nest-{os.getpid()}")
    shutil.rmtree(top, ignore_errors=True)
    rootfs = top / "rootfs"
    for name in ("usr", "etc", "tmp", "store", "src", "ctx", "base", "root", "proc", "dev", "sys"):
        (rootfs / name).mkdir(parents=True)
    (rootfs / PREFIX.relative_to("/")).mkdir(parents=True, exist_ok=True)
    for name in ("bin", "lib", "lib64", "sbin"):
        (rootfs / name).symlink_to(f"usr/{name}")
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nb:x:1000:1000::/tmp:/bin/sh\n"
    )
    (rootfs / "etc/group").write_text("root:x:0:\nb:x:1000:\n")
    (rootfs / "build.sh").write_text(BUILD)
    store = str(top / "host-store")
    _host_bw("--root", store, "container", "from", "-q", "--name", "o", "scratch")
    _host_bw("--root", store, "container", "copy", "o", f"{rootfs}/", "/")
    _host_bw("--root", store, "container", "commit", "-q", "o", "outer:1")
    _host_bw("--root", store, "push", "outer:1", f"oci:{top / 'outer'}:1")
    _host_bw("--root", store, "copy", f"oci:{bbx_layout}:1", "store:localhost/bbx:1")
    _host_bw("--root", store, "copy", f"oci:{debian_layout}:1", "store:localhost/debian:1")
    for name, (text, _, _) in CONTEXTS.items():
        ctx = top / f"ctx-{name}"
        (ctx / "app").mkdir(parents=True)
        _app_files(ctx / "app")
        (ctx / "Containerfile").write_text(text)
        image = _host_bw("--root", store, "build", "-q", "--timestamp", "0", str(ctx)).strip()
        (top / f"expected-{name}").write_text(image)
    shutil.rmtree(store)
    shutil.rmtree(rootfs)
    subprocess.run(["chmod", "-R", "a+rX", str(top)], check=True)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def _volumes(request: pytest.FixtureRequest, nest: Path, ctx: str, store: Path) -> list[str]:
    layout: Path = request.getfixturevalue(CONTEXTS[ctx][1])
    pairs = [
        (f"{PREFIX}", f"{PREFIX}:ro"),
        ("/usr", "/usr:ro"),
        (f"{SRC}", "/src:ro"),
        (f"{nest / f'ctx-{ctx}'}", "/ctx:ro"),
        (f"{layout}", "/base:ro"),
        (f"{store}", "/store"),
    ]
    return [arg for source, target in pairs for arg in ("-v", f"{source}:{target}")]


def _build_command(ctx: str) -> list[str]:
    return ["/bin/sh", "/build.sh", CONTEXTS[ctx][2]]


def _expect(nest: Path, ctx: str, mode: str) -> list[str]:
    return [mode, (nest / f"expected-{ctx}").read_text(), "built"]


def _user(request: pytest.FixtureRequest, who: str) -> User | None:
    """The outer container's user: host root, or the ``ranges_user``/``plain_user`` fixture."""
    if who == "root":
        return None
    user: User = request.getfixturevalue({"ranges": "ranges_user", "single": "plain_user"}[who])
    return user


def _work(user: User | None, inner: tuple[str, ...]) -> Path:
    """A work directory of the outer container's user; ``store/`` (the inner store, a
    volume) is the inner user's (``--user 1000:1000`` of a root outer container)."""
    path = Path(f"/tmp/bx-nest-w-{os.getpid()}-{os.urandom(3).hex()}")
    (path / "store").mkdir(parents=True)
    path.chmod(0o755)
    if user is not None:
        subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(path)], check=True)
    if inner:
        os.chown(path / "store", 1000, 1000)
    return path


@pytest.mark.parametrize(
    ("who", "inner", "ctx", "mode"),
    [
        ("root", (), "app", "root"),
        ("ranges", (), "app", "root"),
        ("ranges", (), "owners", "root"),
        ("root", ("--user", "1000:1000"), "app", "single"),
    ],
)
def test_build_inside_boxwright_run(
    request: pytest.FixtureRequest,
    nest: Path,
    who: str,
    inner: tuple[str, ...],
    ctx: str,
    mode: str,
) -> None:
    user = _user(request, who)
    work = _work(user, inner)
    try:
        args = [
            "--root", str(work / "outer-store"), "run", "--rm", *inner,
            *_volumes(request, nest, ctx, work / "store"),
            f"oci:{nest / 'outer'}:1", *_build_command(ctx),
        ]  # fmt: skip
        if user is None:
            env = {**os.environ, "PYTHONPATH": str(SRC)}
            done = subprocess.run(
                [sys.executable, "-m", "boxwright", *args], env=env, capture_output=True,
                text=True, check=False,
            )  # fmt: skip
        else:
            done = run_cli_as(user, args, {}, cwd=work)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == _expect(nest, ctx, mode), done.stderr
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)


def _stop_podman_pause(user: User) -> None:
    """End the pause process rootless podman left for ``user`` (by its recorded pid)."""
    pid_file = Path(f"/tmp/podman-run-{user.uid}/libpod/tmp/pause.pid")
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text())
        with open(f"/proc/{pid}/status") as status:
            owner = next(line for line in status if line.startswith("Uid:")).split()[1]
        if int(owner) == user.uid:
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(f"/tmp/podman-run-{user.uid}", ignore_errors=True)


@pytest.mark.parametrize(
    ("who", "inner", "ctx", "mode"),
    [
        ("root", (), "app", "root"),
        ("ranges", (), "app", "root"),
        ("ranges", (), "owners", "root"),
        ("root", ("--user", "1000:1000"), "app", "single"),
    ],
)
def test_build_inside_podman_run(
    request: pytest.FixtureRequest,
    nest: Path,
    who: str,
    inner: tuple[str, ...],
    ctx: str,
    mode: str,
) -> None:
    if shutil.which("podman") is None or shutil.which("runc") is None:
        pytest.skip("podman and runc are needed")
    user = _user(request, who)
    work = _work(user, inner)
    (work / "containers.conf").write_text("[containers]\ndefault_ulimits = []\n")
    (work / "layout").mkdir()
    runroot = f"/tmp/bx-nr-{os.urandom(3).hex()}"
    try:
        env = {**os.environ, "CONTAINERS_CONF": str(work / "containers.conf"), "HOME": str(work)}
        env.pop("XDG_RUNTIME_DIR", None)
        subprocess.run(
            ["tar", "-C", str(nest / "outer"), "-cf", str(work / "outer.tar"), "."], check=True
        )
        args = [
            "podman", "--root", str(work / "podman"), "--runroot", runroot, "--runtime", "runc",
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
        ]  # fmt: skip
        setup = None if user is None else _cli_child_setup(user, _hidden_prefixes())
        if user is not None:
            subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(work)], check=True)
        if inner:
            os.chown(work / "store", 1000, 1000)
        loaded = subprocess.run(
            [*args, "pull", "-q", f"oci-archive:{work / 'outer.tar'}"], env=env,
            capture_output=True, text=True, check=False, preexec_fn=setup, cwd=work,
        )  # fmt: skip
        assert loaded.returncode == 0, loaded.stderr
        done = subprocess.run(
            [
                *args, "run", "--rm", "--net", "host", *inner,
                *_volumes(request, nest, ctx, work / "store"),
                loaded.stdout.strip(), *_build_command(ctx),
            ],
            env=env, capture_output=True, text=True, check=False, preexec_fn=setup, cwd=work,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == _expect(nest, ctx, mode), done.stderr
    finally:
        if user is not None:
            _stop_podman_pause(user)
        subprocess.run(["rm", "-rf", str(work), runroot], check=False)
