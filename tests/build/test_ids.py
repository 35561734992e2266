"""uid/gid 4294967295 and other invalid IDs in builds: ``COPY``/``ADD --chown`` (plain and
``--link``), ``USER``, the Builder's ``copy``/``add``/``config``. ``(uid_t)-1`` is "no change"
to chown, so a layer written with it would hold root's files: every one is refused, and the
largest valid ID reaches the layer's tar headers exactly."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from boxwright.build import Builder
from boxwright.errors import BuildError, InvalidIDError
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, run_build, write_context

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")

RANGE = "is out of range: IDs are 0 to 4294967294"
MAX = "4294967294:4294967294"


def _top_layer(store: Store, image: str) -> dict[str, tuple[int, int]]:
    """Owners of the entries of ``image``'s last layer, as its tar headers say."""
    digest = store.images.get(image).layers[-1]
    raw = store.blobs.read(digest, limit=64 << 20)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        return {m.name: (m.uid, m.gid) for m in tar.getmembers()}


@pytest.mark.parametrize(
    "step",
    [
        f"COPY --chown={MAX} a.txt /out/a.txt",
        f"ADD --chown={MAX} a.txt /out/a.txt",
        f"COPY --link --chown={MAX} a.txt /out/a.txt",
    ],
)
def test_the_largest_id_reaches_the_layer_exactly(bstore: Store, tmp_path: Path, step: str) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\n{step}\n", {"a.txt": "a\n"})
    image = run_build(bstore, ctx).image_id
    assert _top_layer(bstore, image)["out/a.txt"] == (4294967294, 4294967294)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "COPY --chown=4294967295:4294967295 a.txt /out/",
            "COPY: invalid --chown '4294967295:4294967295': uid 4294967295 " + RANGE,
        ),
        (
            "COPY --chown=alice:4294967295 a.txt /out/",
            "COPY: invalid --chown 'alice:4294967295': gid 4294967295 " + RANGE,
        ),
        (
            "ADD --chown=4294967295 a.txt /out/",
            "ADD: invalid --chown '4294967295': uid 4294967295 " + RANGE,
        ),
        (
            "COPY --link --chown=4294967295:0 a.txt /out/",
            "COPY: invalid COPY --chown '4294967295:0': uid 4294967295 " + RANGE,
        ),
        (
            "COPY --chown=-1:-1 a.txt /out/",
            "COPY: invalid --chown '-1:-1': '-1' is neither a uid (0 to 4294967294) "
            "nor a user name",
        ),
        (
            "USER 4294967295:4294967295",
            "USER: invalid USER '4294967295:4294967295': uid 4294967295 " + RANGE,
        ),
        (
            "USER +0",
            "USER: invalid USER '+0': '+0' is neither a uid (0 to 4294967294) nor a user name",
        ),
    ],
)
def test_invalid_ids_fail_the_step(bstore: Store, tmp_path: Path, step: str, message: str) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\n{step}\n", {"a.txt": "a\n"})
    with pytest.raises(BuildError) as failed:
        run_build(bstore, ctx)
    assert str(failed.value).endswith(f"Containerfile:2: {message}"), str(failed.value)
    assert [r.names for r in bstore.images.list()] == [(BASE,)]


def test_builder_copy_add_and_config_refuse_invalid_ids(bstore: Store, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a\n")
    with Builder.from_image(BASE, store=bstore) as b:
        for chown, message in (
            ("4294967295:4294967295", "invalid --chown '4294967295:4294967295': uid 4294967295"),
            ((4294967295, 0), "uid 4294967295"),
            ((0, 4294967295), "gid 4294967295"),
        ):
            with pytest.raises(InvalidIDError) as refused:
                b.copy([source], "/x", chown=chown)
            assert str(refused.value) == f"{message} {RANGE}"
            with pytest.raises(InvalidIDError):
                b.add([source], "/x", chown=chown)
        with pytest.raises(InvalidIDError) as refused:
            b.config(user="4294967295")
        assert str(refused.value) == f"invalid --user '4294967295': uid 4294967295 {RANGE}"
        assert not (b.mount() / "x").exists()
        b.copy([source], "/x", chown=(4294967294, 4294967294))
        st = (b.mount() / "x").stat()
        assert (st.st_uid, st.st_gid) == (4294967294, 4294967294)
