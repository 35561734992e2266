"""What a build gives every RUN step (podman build's -v, --network, --add-host, --no-hosts,
--cap-add/--cap-drop) and the mounts a RUN asks for with the build's --secret and --ssh:
each seen from inside the RUN, and nothing of them in a layer, the history or the config."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright.build.runsettings import (
    BuildVolume,
    SecretSource,
    SshSource,
    capabilities,
    check_network,
    parse_add_host,
    parse_secret,
    parse_ssh,
    parse_volume,
)
from boxwright.errors import BuildError, UsageError
from boxwright.runtime.spec import CAPABILITY_NUMBERS, DEFAULT_CAPABILITIES
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, config_of, run_build, tree_of, write_context
from boxwright_testing.runtime import glibc_rootfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these builds run as root")


def _blobs_holding(store: Store, needle: bytes) -> list[Path]:
    """Every file of the store (blobs: layers, configs with their history, manifests) that
    holds ``needle``; layers are gzip-compressed, so each is also read uncompressed."""
    import gzip

    found = []
    for path in (store.layout.root / "blobs").rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data += gzip.decompress(data)
        if needle in data:
            found.append(path)
    return found


# ---------------------------------------------------------------------------------------------
# -v / --volume


def test_a_volume_is_bound_into_every_run_and_kept_out_of_the_layer(
    bstore: Store, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "in.txt").write_text("from the host\n")
    text = (
        f"FROM {BASE}\n"
        "RUN cat /data/in.txt > /first && echo written > /data/out.txt\n"
        "RUN cat /data/out.txt > /second\n"
    )
    ctx = write_context(tmp_path / "ctx", text)
    result = run_build(bstore, ctx, volumes=(parse_volume(f"{host}:/data"),))
    tree = tree_of(bstore, result.image_id)
    assert tree["first"] == ("f", 0o644, 0, 0, "from the host\n")
    assert tree["second"] == ("f", 0o644, 0, 0, "written\n")
    assert "data" not in tree  # neither the mount point nor what is under it
    assert (host / "out.txt").read_text() == "written\n"  # read-write, as podman's


def test_a_read_only_and_an_overlay_volume(bstore: Store, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("keep\n")
    text = (
        f"FROM {BASE}\n"
        "RUN (echo x > /ro/f || echo refused > /ro-result)"
        " && echo changed > /ov/f && echo new > /ov/g && cat /ov/f /ov/g > /ov-result\n"
    )
    ctx = write_context(tmp_path / "ctx", text)
    volumes = (parse_volume(f"{host}:/ro:ro,z"), parse_volume(f"{host}:/ov:O"))
    tree = tree_of(bstore, run_build(bstore, ctx, volumes=volumes).image_id)
    assert tree["ro-result"] == ("f", 0o644, 0, 0, "refused\n")
    assert tree["ov-result"] == ("f", 0o644, 0, 0, "changed\nnew\n")
    assert sorted(os.listdir(host)) == ["f"] and (host / "f").read_text() == "keep\n"
    assert "ro" not in tree and "ov" not in tree


def test_a_volume_is_in_the_cache_key_by_its_paths_not_its_content(
    bstore: Store, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN ls /v > /listed\n")
    volume = parse_volume(f"{host}:/v")
    first = run_build(bstore, ctx, volumes=(volume,))
    (host / "new").write_text("")
    again = run_build(bstore, ctx, volumes=(volume,))
    assert (again.image_id, again.cache_hits) == (first.image_id, 1)
    read_only = run_build(bstore, ctx, volumes=(parse_volume(f"{host}:/v:ro"),))
    assert read_only.cache_hits == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rel:/d", "-v 'rel:/d': the host path must be absolute (named volumes are podman's, "
                   "not a build's)"),
        ("/:d", "-v '/:d': the container path must be absolute, without '..'"),
        ("/:/a/../b", "-v '/:/a/../b': the container path must be absolute, without '..'"),
        ("/:/d:U", "-v '/:/d:U': unsupported option 'U' (accepted: rw, ro, O, z, "
                   "Z, private, rprivate)"),
        ("/:/d:shared", "-v '/:/d:shared': unsupported option 'shared' (accepted: rw, ro, O, "
                        "z, Z, private, rprivate)"),
        ("/:/d:ro,rw", "-v '/:/d:ro,rw': ro and rw contradict each other"),
        ("/:/d:O,Z", "-v '/:/d:O,Z': O cannot be combined with ro, z or Z"),
        ("/nonexistent-bw:/d", "-v '/nonexistent-bw:/d': /nonexistent-bw does not exist"),
        ("/d", "-v '/d': expected HOST-DIR:CONTAINER-DIR[:OPTIONS]"),
    ],
)  # fmt: skip
def test_volume_specs_are_checked(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_volume(text)
    assert str(caught.value) == message


def test_volume_options_as_podman_takes_them() -> None:
    assert parse_volume("/tmp:/t") == BuildVolume(Path("/tmp"), "/t", False, False)
    assert parse_volume("/tmp:/t:ro,Z,rprivate") == BuildVolume(Path("/tmp"), "/t", True, False)
    assert parse_volume("/tmp:/t:O") == BuildVolume(Path("/tmp"), "/t", False, True)


# ---------------------------------------------------------------------------------------------
# --network, --add-host, --no-hosts


def test_the_build_network_is_each_runs_default(bstore: Store, tmp_path: Path) -> None:
    text = (
        f"FROM {BASE}\n"
        "RUN ls /sys/class/net > /default\n"
        "RUN --network=host ls /sys/class/net > /host\n"
    )
    ctx = write_context(tmp_path / "ctx", text)
    tree = tree_of(bstore, run_build(bstore, ctx, network=check_network("none")).image_id)
    assert tree["default"][4] == "lo\n"
    assert tree["host"][4] == "".join(f"{n}\n" for n in sorted(os.listdir("/sys/class/net")))


def test_an_unsupported_network_is_one_clear_error() -> None:
    with pytest.raises(UsageError) as caught:
        check_network("private")
    assert str(caught.value) == (
        "--network private: RUN steps run with the host's network (host) or none (none); "
        "a network of their own needs slirp4netns, pasta or CNI, which boxwright does not drive"
    )


def test_add_host_lines_come_first_in_the_runs_hosts_file(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN cat /etc/hosts > /seen\n")
    hosts = (parse_add_host("db:10.1.2.3"), parse_add_host("v6:fd00::1"))
    result = run_build(bstore, ctx, add_hosts=hosts, network="none")
    tree = tree_of(bstore, result.image_id)
    assert tree["seen"][4].splitlines()[:4] == [
        "10.1.2.3\tdb",
        "fd00::1\tv6",
        "127.0.0.1\tlocalhost localhost.localdomain",
        "::1\tlocalhost ip6-localhost",
    ]
    assert "etc/hosts" not in tree


def test_no_hosts_leaves_the_images_own_hosts_file(bstore: Store, tmp_path: Path) -> None:
    own = "192.0.2.7\tmine\n"
    text = f"FROM {BASE}\nCOPY hosts /etc/hosts\nRUN cat /etc/hosts > /seen\n"
    ctx = write_context(tmp_path / "ctx", text, {"hosts": own})
    tree = tree_of(bstore, run_build(bstore, ctx, no_hosts=True).image_id)
    assert tree["seen"] == ("f", 0o644, 0, 0, own)
    assert tree["etc/hosts"] == ("f", 0o644, 0, 0, own)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db", "--add-host 'db': expected HOST:IP"),
        ("db:host-gateway", "--add-host 'db:host-gateway': 'host-gateway' is not an IP address"),
        ("a b:1.2.3.4", "--add-host 'a b:1.2.3.4': expected HOST:IP"),
    ],
)
def test_add_host_is_checked(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_add_host(text)
    assert str(caught.value) == message


# ---------------------------------------------------------------------------------------------
# --cap-add / --cap-drop


def _mask(names: tuple[str, ...]) -> str:
    return f"{sum(1 << CAPABILITY_NUMBERS[n] for n in names):016x}"


def test_cap_add_and_cap_drop_shape_the_runs_capabilities(bstore: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE}\nRUN busybox grep -E '^Cap(Eff|Bnd)' /proc/self/status > /caps\n"
    ctx = write_context(tmp_path / "ctx", text)
    caps = capabilities(("sys_time", "CAP_NET_ADMIN", "chown"), ("CAP_CHOWN", "kill"))
    assert caps is not None and "CAP_CHOWN" not in caps and "CAP_SYS_TIME" in caps
    tree = tree_of(bstore, run_build(bstore, ctx, capabilities=caps).image_id)
    want = _mask(caps)
    assert tree["caps"][4] == f"CapEff:\t{want}\nCapBnd:\t{want}\n"
    dropped = tree_of(
        bstore, run_build(bstore, ctx, capabilities=capabilities((), ("ALL",))).image_id
    )
    assert dropped["caps"][4] == f"CapEff:\t{0:016x}\nCapBnd:\t{0:016x}\n"


def test_the_default_capabilities_and_an_unknown_name() -> None:
    assert capabilities((), ()) is None
    assert capabilities(("ALL",), ("ALL",)) == ()
    assert capabilities(("ALL",), ()) == tuple(
        dict.fromkeys((*DEFAULT_CAPABILITIES, *CAPABILITY_NUMBERS))
    )
    with pytest.raises(UsageError) as caught:
        capabilities(("CAP_NOPE",), ())
    assert str(caught.value) == "--cap-add/--cap-drop: unknown capability 'CAP_NOPE'"


def _build_without_sys_time(store: str, ctx: str) -> str:
    """Build as root that dropped CAP_SYS_TIME from its own sets, asking for it in the RUN."""
    from boxwright.runtime import linux

    number = CAPABILITY_NUMBERS["CAP_SYS_TIME"]
    linux.drop_bounding_capability(number)
    full = (1 << (linux.last_capability() + 1)) - 1
    held = full & ~(1 << number) & ~(1 << CAPABILITY_NUMBERS["CAP_SYS_RESOURCE"])
    linux.capset(held, held, 0)
    try:
        run_build(Store(store), Path(ctx), capabilities=capabilities(("SYS_TIME",), ()))
    except BuildError as error:
        return f"{type(error).__name__}: {error}"
    return "built"


def test_a_capability_the_runner_lacks_is_refused_clearly(bstore: Store, tmp_path: Path) -> None:
    from boxwright_testing.runtime import in_child

    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN true\n")
    outcome = in_child(_build_without_sys_time, str(bstore.layout.root), str(ctx))
    assert outcome == (
        f"BuildError: {ctx / 'Containerfile'}:2: RUN: cannot give the container CAP_SYS_TIME: "
        "boxwright runs without it, and a container outside a user namespace gets only "
        "capabilities its runner holds"
    )


# ---------------------------------------------------------------------------------------------
# --secret id=ID,env=VAR


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "env-s3cret-" + "5" * 24
    monkeypatch.setenv("BW_TEST_TOKEN", value)
    return value


def test_a_secret_from_a_variable_as_a_file_and_as_a_variable(
    bstore: Store, tmp_path: Path, secret_env: str
) -> None:
    digest = hashlib.sha256(secret_env.encode()).hexdigest()
    text = (
        f"FROM {BASE}\n"
        "RUN --mount=type=secret,id=tok "
        f"test \"$(busybox sha256sum < /run/secrets/tok)\" = '{digest}  -' && touch /as-file\n"
        "RUN --mount=type=secret,id=tok,env=T "
        f'test "$(printf %s "$T" | busybox sha256sum)" = \'{digest}  -\' && touch /as-env\n'
    )
    ctx = write_context(tmp_path / "ctx", text)
    secrets = dict([parse_secret("id=tok,env=BW_TEST_TOKEN")])
    assert secrets == {"tok": SecretSource("env", "BW_TEST_TOKEN")}
    result = run_build(bstore, ctx, secrets=secrets)
    tree = tree_of(bstore, result.image_id)
    assert tree["as-file"] == tree["as-env"] == ("f", 0o644, 0, 0, "")
    assert not any(p.startswith("run/secrets") for p in tree)
    assert _blobs_holding(bstore, secret_env.encode()) == []
    assert secret_env not in str(config_of(bstore, result.image_id))
    # The value is not in the cache key: another value reuses both steps.
    os.environ["BW_TEST_TOKEN"] = "other"
    again = run_build(bstore, ctx, secrets=secrets)
    assert (again.image_id, again.cache_hits) == (result.image_id, 2)


def test_secret_flags_as_buildah_parses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("x")
    monkeypatch.setenv("HASENV", "1")
    assert parse_secret("id=a,src=f.txt") == ("a", SecretSource("file", str(tmp_path / "f.txt")))
    assert parse_secret("id=HASENV") == ("HASENV", SecretSource("env", "HASENV"))
    assert parse_secret("env=HASENV") == ("HASENV", SecretSource("env", "HASENV"))
    assert parse_secret("id=b,src=HASENV,type=env") == ("b", SecretSource("env", "HASENV"))
    for text, message in (
        ("id=c", "--secret 'id=c': c is not a file"),
        ("id=c,type=dir", "--secret 'id=c,type=dir': type must be file or env"),
        ("src=f.txt", "--secret 'src=f.txt': an id=ID is needed"),
        ("id=c,x=1", "--secret 'id=c,x=1': expected id=ID[,src=PATH][,env=VAR][,type=file|env]"),
    ):
        with pytest.raises(UsageError) as caught:
            parse_secret(text)
        assert str(caught.value) == message


# ---------------------------------------------------------------------------------------------
# --ssh and RUN --mount=type=ssh


@pytest.fixture
def ssh_key(tmp_path: Path) -> tuple[Path, str]:
    """An ed25519 key without a passphrase, and the line ``ssh-add -l`` prints for it."""
    key = tmp_path / "keys" / "id_test"
    key.parent.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bw-test", "-f", str(key)],
        check=True,
    )
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(key)], capture_output=True, text=True)
    return key, listed.stdout


@pytest.fixture
def host_agent(tmp_path: Path, ssh_key: tuple[Path, str]) -> Iterator[Path]:
    """A running ssh-agent holding ``ssh_key`` (what a user's SSH_AUTH_SOCK names)."""
    sock = Path("/tmp") / f"bw-agent-{os.getpid()}-{tmp_path.name[-12:]}"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        for _ in range(500):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.01"], check=True)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(ssh_key[0])], env=env, check=True)
        yield sock
    finally:
        agent.terminate()
        agent.wait()
        sock.unlink(missing_ok=True)


def _ssh_context(ctx: Path, runs: str) -> Path:
    """A context whose image is a glibc root file system holding the host's ssh-add."""
    glibc_rootfs(ctx / "rootfs", ("sh", "ssh-add", "cat", "touch", "test"))
    (ctx / "Containerfile").write_text(f"FROM scratch\nCOPY rootfs/ /\n{runs}")
    return ctx


SSH_RUNS = (
    "RUN --mount=type=ssh ssh-add -l > /listed && echo $SSH_AUTH_SOCK > /sock\n"
    'RUN test ! -e /run/buildkit/ssh_agent.0 && test -z "$SSH_AUTH_SOCK" && touch /none-after\n'
)


def test_ssh_keys_are_held_by_an_agent_only_the_asking_run_sees(
    bstore: Store, tmp_path: Path, ssh_key: tuple[Path, str]
) -> None:
    key, listed = ssh_key
    ctx = _ssh_context(tmp_path / "ctx", SSH_RUNS)
    result = run_build(bstore, ctx, ssh=dict([parse_ssh(f"default={key}")]))
    tree = tree_of(bstore, result.image_id)
    assert tree["listed"][4] == listed
    assert tree["sock"][4] == "/run/buildkit/ssh_agent.0\n"
    assert tree["none-after"][0] == "f"
    assert "run" not in tree
    secret = b"".join(key.read_bytes().splitlines()[1:-1])  # the base64 body of the key
    assert _blobs_holding(bstore, secret) == [] and _blobs_holding(bstore, key.read_bytes()) == []


def test_an_agent_socket_is_forwarded_with_the_mounts_owner(
    bstore: Store, tmp_path: Path, ssh_key: tuple[Path, str], host_agent: Path
) -> None:
    runs = (
        "USER alice\n"
        "RUN --mount=type=ssh,id=work,target=/home/alice/agent,uid=1000,mode=0600 "
        "SSH_AUTH_SOCK=/home/alice/agent ssh-add -l > /tmp/listed\n"
        "RUN --mount=type=ssh,id=work,target=/home/alice/agent "
        "(SSH_AUTH_SOCK=/home/alice/agent ssh-add -l || true) > /tmp/denied 2>&1\n"
    )
    ctx = _ssh_context(tmp_path / "ctx", runs)
    ssh = dict([parse_ssh(f"work={host_agent}")])
    assert ssh == {"work": SshSource(socket=host_agent)}
    tree = tree_of(bstore, run_build(bstore, ctx, ssh=ssh).image_id)
    assert tree["tmp/listed"] == ("f", 0o644, 1000, 1000, ssh_key[1])
    # without uid=, the socket is root's 0600 (BuildKit's default): alice cannot use it
    assert tree["tmp/denied"][4] == ("Error connecting to agent: Permission denied\n")
    assert "home/alice/agent" not in tree


def test_a_required_ssh_mount_without_an_agent_fails_clearly(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN --mount=type=ssh,required true\n")
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    assert str(caught.value) == (
        f"{ctx / 'Containerfile'}:2: RUN: RUN --mount=type=ssh: no SSH agent 'default': "
        "give --ssh default[=SOCKET|KEY[,KEY]]"
    )
    optional = write_context(
        tmp_path / "opt", f"FROM {BASE}\nRUN --mount=type=ssh echo $SSH_AUTH_SOCK > /s\n"
    )
    tree = tree_of(bstore, run_build(bstore, optional).image_id)
    assert tree["s"][4] == "/run/buildkit/ssh_agent.0\n"  # as BuildKit: set, with no socket


def test_a_key_with_a_passphrase_is_refused(bstore: Store, tmp_path: Path) -> None:
    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pw", "-f", str(key)], check=True)
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN --mount=type=ssh true\n")
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx, ssh=dict([parse_ssh(f"default={key}")]))
    assert str(caught.value) == (
        f"{ctx / 'Containerfile'}:2: RUN: --ssh default: ssh-add could not load the keys, and "
        f"a key with a passphrase cannot be used (ssh-add: Enter passphrase for {key}:)"
    )


def test_ssh_flags_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    (tmp_path / "k").write_text("")
    for text, message in (
        ("default", "--ssh default: SSH_AUTH_SOCK is not set; give default=SOCKET or key files"),
        (f"a={tmp_path}", f"--ssh a: expected one agent socket or regular key files, "
                          f"not '{tmp_path}'"),
        (f"a={tmp_path}/nope", f"--ssh a: cannot use {tmp_path}/nope: No such file or directory"),
    ):  # fmt: skip
        with pytest.raises(UsageError) as caught:
            parse_ssh(text)
        assert str(caught.value) == message
    assert parse_ssh(f"a={tmp_path}/k,{tmp_path}/k") == (
        "a",
        SshSource(keys=(tmp_path / "k", tmp_path / "k")),
    )
