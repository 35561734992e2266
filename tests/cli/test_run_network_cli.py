"""``boxwright run`` networking as root, end to end: ``-p`` to a Python HTTP server in the
container, outbound connections to a server on the host's loopback through each helper,
the container's ``/etc/resolv.conf``, ``/etc/hosts`` and ``/etc/hostname``, and the errors.

Each run is a ``python -m boxwright`` subprocess with a store of its own; the image
(:mod:`boxwright_testing.netimage`) is busybox, with the host's ``/usr`` bound read-only for
``python3``. The unprivileged runs are in ``tests/runtime/test_runtime_network.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from boxwright_testing.cliproc import run_cli as bw
from boxwright_testing.netimage import (
    HOST_USR,
    HTTP_SERVER,
    make_run_image,
    needs_helper,
)
from boxwright_testing.registry_servers import free_port

pytestmark = pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_run_image(tmp_path_factory.mktemp("netimage") / "layout")


def fetch(url: str, deadline: float = 30.0) -> bytes:
    """GET ``url``, retrying while nothing listens yet."""
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return bytes(answer.read())
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("network", ["slirp4netns", "pasta", "private"])
@pytest.mark.parametrize("isolation", ["native", "oci"])
def test_published_port_reaches_a_python_server_in_the_container(
    image: str, tmp_path: Path, network: str, isolation: str
) -> None:
    needs_helper("slirp4netns" if network == "private" else network)
    if isolation == "oci" and shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    port = free_port()
    argv = [sys.executable, "-m", "boxwright", "--root", str(tmp_path / "store"), "run", "--rm",
            "--isolation", isolation, f"--network={network}", "-p", f"127.0.0.1:{port}:8000",
            "-v", HOST_USR, image, "python3", "-c", HTTP_SERVER]  # fmt: skip
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = fetch(f"http://127.0.0.1:{port}/hello")
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert body == b"from the container /hello"
    assert (run.returncode, out) == (0, ""), err


@pytest.mark.parametrize(
    ("network", "address"),
    [("slirp4netns:allow_host_loopback=true", "10.0.2.2"), ("pasta:--map-gw", "gateway")],
)
def test_container_reaches_the_hosts_loopback_through_the_helper(
    image: str, tmp_path: Path, host_server: int, network: str, address: str
) -> None:
    needs_helper(network.partition(":")[0])
    from boxwright.runtime.network import HOST_NAME

    url = f"http://{HOST_NAME}:{host_server}/from-inside"
    done = bw(tmp_path / "store", "run", "--rm", f"--network={network}", image,
              "wget", "-q", "-O", "-", url)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "host says hi /from-inside"), done.stderr


def test_default_network_keeps_the_hosts_loopback_closed(
    image: str, tmp_path: Path, host_server: int
) -> None:
    needs_helper("slirp4netns")
    url = f"http://10.0.2.2:{host_server}/"
    done = bw(tmp_path / "store", "run", "--rm", image, "sh", "-c",
              f"wget -q -T 3 -O - {url} || echo refused")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "refused\n"), done.stderr


def test_resolv_conf_hosts_and_hostname_as_podman_writes_them(image: str, tmp_path: Path) -> None:
    needs_helper("slirp4netns")
    done = bw(tmp_path / "store", "run", "--rm", "--network", "slirp4netns",
              "--hostname", "web", "--add-host", "db:192.0.2.9", "--dns", "192.0.2.53",
              "--dns-search", "example.test", "--dns-option", "ndots:2", image,
              "cat", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "search example.test\nnameserver 192.0.2.53\noptions ndots:2\n"
        "192.0.2.9\tdb\n10.0.2.100\tweb\n"
        "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost\n"
        "web\n"
    )
    plain = bw(tmp_path / "store", "run", "--rm", "--network", "slirp4netns", image,
               "head", "-n1", "/etc/resolv.conf")  # fmt: skip
    assert plain.stdout == "nameserver 10.0.2.3\n", plain.stderr


def test_network_none_and_host(image: str, tmp_path: Path) -> None:
    listing = "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sort | tr '\\n' ' '"
    none = bw(tmp_path / "store", "run", "--rm", "--network", "none", image, "sh", "-c", listing)
    assert (none.returncode, none.stdout) == (0, "lo "), none.stderr
    host = bw(tmp_path / "store", "run", "--rm", "--network", "host", image,
              "readlink", "/proc/self/ns/net")  # fmt: skip
    assert host.stdout == os.readlink("/proc/self/ns/net") + "\n", host.stderr


def test_ns_path_joins_an_existing_network_namespace(image: str, tmp_path: Path) -> None:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        for _ in range(100):
            if os.readlink(path) != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.02)
        done = bw(tmp_path / "store", "run", "--rm", f"--network=ns:{path}", image,
                  "readlink", "/proc/self/ns/net")  # fmt: skip
        assert (done.returncode, done.stdout) == (0, os.readlink(path) + "\n"), done.stderr
    finally:
        holder.kill()
        holder.wait()


def test_container_network_needs_a_running_container(image: str, tmp_path: Path) -> None:
    root = tmp_path / "store"
    assert bw(root, "run", "--name", "stopped", "--network", "none", image, "true").returncode == 0
    done = bw(root, "run", "--rm", "--network", "container:stopped", image, "true")
    assert done.returncode == 125
    assert done.stderr == "Error: --network container:stopped: the container is not running\n"


def test_publishing_needs_a_helper_network(image: str, tmp_path: Path) -> None:
    done = bw(tmp_path / "store", "run", "--rm", "--network", "host", "-p", "8080:80", image)
    assert done.returncode == 1
    assert done.stderr == "Error: --network host: ports cannot be published (-p, -P)\n"
    bad = bw(tmp_path / "store", "run", "--rm", "-p", "70000:80", image)
    assert bad.returncode == 1
    assert bad.stderr == (
        "Error: invalid port '70000:80': host port '70000' is out of range 1-65535\n"
    )


def test_no_helper_installed_is_one_clear_line(image: str, tmp_path: Path) -> None:
    done = bw(tmp_path / "store", "run", "--rm", image, "true", env={"PATH": str(tmp_path)})
    assert done.returncode == 125
    assert done.stderr == (
        "Error: a private network needs slirp4netns or pasta and neither is installed (Debian "
        "packages slirp4netns, passt): install one, or run with --network host or none\n"
    )


def test_container_network_joins_a_running_container(image: str, tmp_path: Path) -> None:
    """``--network container:NAME``: the second container shares the first one's network
    namespace, so it reaches the first one's server on 127.0.0.1 (the running container's pid
    comes from the state its run keeps, ``userdata/state.json``)."""
    needs_helper("slirp4netns")
    root = tmp_path / "store"
    argv = [sys.executable, "-m", "boxwright", "--root", str(root), "run", "--name", "web",
            "--network", "slirp4netns", "-v", HOST_USR, image,
            "python3", "-c", HTTP_SERVER]  # fmt: skip
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import json

        end = time.monotonic() + 30
        listed: list[dict[str, str]] = []
        while not listed and time.monotonic() < end:
            done = bw(root, "container", "ls", "--format", "json")
            listed = json.loads(done.stdout) if done.returncode == 0 else []
        container_id = listed[0]["id"]
        # A foreground run is its own container's monitor: it records the running pid.
        state = root / "containers" / container_id / "userdata" / "state.json"
        while time.monotonic() < end and not (
            state.exists() and json.loads(state.read_text()).get("pid")
        ):
            time.sleep(0.05)
        assert json.loads(state.read_text())["pid"] > 0
        url = "http://127.0.0.1:8000/joined"
        second = bw(root, "run", "--rm", "--network", "container:web", image,
                    "sh", "-c", f"until wget -q -O - {url}; do sleep 0.1; done")  # fmt: skip
        assert (second.returncode, second.stdout) == (0, "from the container /joined"), (
            second.stderr
        )
        assert first.wait(timeout=30) == 0
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()


#: :data:`HTTP_SERVER` serving until it is stopped.
HTTP_SERVER_FOREVER = HTTP_SERVER.replace("handle_request()", "serve_forever()")


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("network", ["slirp4netns", "pasta"])
def test_detached_oci_container_publishes_its_port_until_stopped(
    image: str, tmp_path: Path, network: str
) -> None:
    """``run -d --isolation oci -p``: conmon's container gets the helper through the
    createRuntime hook; ``ps``, ``port`` (a second process) show the port; ``stop`` ends the
    helper with the container, so the host port closes."""
    needs_helper(network)
    if shutil.which("runc") is None or shutil.which("conmon") is None:
        pytest.skip("runc and conmon are needed")
    root = tmp_path / "store"
    port = free_port()
    started = bw(root, "run", "-d", "--name", "web", "--isolation", "oci",
                 f"--network={network}", "-p", f"127.0.0.1:{port}:8000", "-v", HOST_USR,
                 image, "python3", "-c", HTTP_SERVER_FOREVER)  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        assert fetch(f"http://127.0.0.1:{port}/detached") == b"from the container /detached"
        listed = bw(root, "ps", "--format", "{{.Names}} {{.Ports}}")
        assert listed.stdout == f"web 127.0.0.1:{port}->8000/tcp\n"
        assert bw(root, "port", "web").stdout == f"8000/tcp -> 127.0.0.1:{port}\n"
        assert bw(root, "port", "web", "8000").stdout == f"127.0.0.1:{port}\n"
        missing = bw(root, "port", "web", "81/udp")
        assert (missing.returncode, missing.stderr) == (
            1,
            'Error: failed to find published port "81/udp"\n',
        )
        stopped = bw(root, "stop", "-t", "5", "web")
        assert (stopped.returncode, stopped.stdout) == (0, "web\n"), stopped.stderr
        end = time.monotonic() + 10
        while not _refused(port) and time.monotonic() < end:
            time.sleep(0.05)
        assert _refused(port)
        assert bw(root, "port", "web").stdout == ""
    finally:
        bw(root, "rm", "-f", "web")


@pytest.mark.parametrize("isolation", ["native", "oci"])
def test_publish_all_picks_a_free_port_kept_in_the_state(
    image: str, tmp_path: Path, isolation: str
) -> None:
    """``run -d -P``: the image's EXPOSE 8000 on a host port chosen when the container is
    made, recorded in its run.json: ``ps``, ``ps --format json``, ``container inspect`` and ``port``
    (other processes) all name it, and it reaches the server."""
    needs_helper("slirp4netns")
    if isolation == "oci" and (shutil.which("runc") is None or shutil.which("conmon") is None):
        pytest.skip("runc and conmon are needed")
    import json

    root = tmp_path / "store"
    started = bw(root, "run", "-d", "-P", "--name", "web", "--isolation", isolation,
                 "--network=slirp4netns", "-v", HOST_USR, image,
                 "python3", "-c", HTTP_SERVER_FOREVER)  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        line = bw(root, "port", "web").stdout
        assert line.startswith("8000/tcp -> 0.0.0.0:") and line.endswith("\n"), line
        host_port = int(line.strip().rsplit(":", 1)[1])
        assert bw(root, "port", "web", "8000/tcp").stdout == f"0.0.0.0:{host_port}\n"
        table = bw(root, "ps").stdout.splitlines()
        assert "PORTS" in table[0]
        assert f"0.0.0.0:{host_port}->8000/tcp" in table[1]
        record = json.loads(bw(root, "ps", "--format", "json").stdout)[0]
        assert record["Ports"] == [
            {"host_ip": "", "container_port": 8000, "host_port": host_port, "range": 1,
             "protocol": "tcp"}
        ]  # fmt: skip
        inspected = json.loads(bw(root, "container", "inspect", "web").stdout)
        assert inspected["NetworkSettings"]["Ports"] == {
            "8000/tcp": [{"HostIp": "", "HostPort": str(host_port)}]
        }
        assert fetch(f"http://127.0.0.1:{host_port}/all") == b"from the container /all"
    finally:
        bw(root, "rm", "-f", "web")
