"""The generated hosts table read by the program that serves it on a Qlustar head-node:
a real dnsmasq on 127.0.0.1 with the file as its only hosts file, asked by dig for every name
of every host on every network, and for a header entry."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qlutui.backend.demo import build_inventory
from qlutui.model.hostsfile import render
from qlutui.model.inventory import Inventory, host_names

pytestmark = pytest.mark.skipif(
    not (shutil.which("dnsmasq") or Path("/usr/sbin/dnsmasq").exists()) or not shutil.which("dig"),
    reason="needs dnsmasq (dnsmasq-base) and dig (bind9-dnsutils): make test installs them",
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A dnsmasq answering from tmp_path/hosts only (no upstream, no /etc/hosts)."""
    hosts = tmp_path / "dnsmasq.hosts"
    port = free_udp_port()
    yield hosts, port  # the test writes the file, then starts the server with `serve`


def serve(hosts: Path, port: int) -> subprocess.Popen:
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    argv = [binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts"]
    argv += [f"--addn-hosts={hosts}", "--listen-address=127.0.0.1", "--bind-interfaces"]
    argv += [f"--port={port}", "--pid-file=", f"--user={Path.home().owner()}", "--log-facility=-"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def resolve(names: list[str], port: int, tmp_path: Path) -> dict[str, set[str]]:
    """name -> the addresses dnsmasq answers, for every name at once (dig's batch mode)."""
    batch = tmp_path / "queries"
    batch.write_text("".join(f"{name} A\n" for name in names))
    out = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+noall", "+answer", "+tries=3", "-f", str(batch)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    answers: dict[str, set[str]] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[3] == "A":
            answers.setdefault(fields[0].rstrip(".").lower(), set()).add(fields[4])
    return answers


def test_every_name_resolves_to_its_ip_on_its_network(
    dnsmasq: tuple[Path, int], tmp_path: Path
) -> None:
    hosts, port = dnsmasq
    inv = Inventory.from_dict(build_inventory(20, key_source=lambda c: f"ssh-ed25519 AAAA {c}"))
    header = "### License server not managed by qlutui\n127.55.0.42\tlicense-server lic\n"
    hosts.write_text(render(inv, header))
    expected = {"license-server": {"127.55.0.42"}, "lic": {"127.55.0.42"}}
    for host in inv.hosts:
        for network in inv.networks:
            for name in host_names(inv, host, network):
                expected[name.lower()] = {host.ips[network.name]}
    server = serve(hosts, port)
    try:
        answers = {}
        for _ in range(20):  # bounded: until dnsmasq listens
            answers = resolve(sorted(expected), port, tmp_path)
            if answers or server.poll() is not None:
                break
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert answers == expected
