"""The generated hosts table read by the program that serves it on a Qlustar head-node: the
file `qlutui files write hosts` wrote on a head-node, given to a real dnsmasq on 127.0.0.1 as
its only hosts file, asked by dig for every name of every host on every network, and for an
entry of the admin's header."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.cli import main
from qlutui.model.inventory import host_names

pytestmark = pytest.mark.skipif(
    not (shutil.which("dnsmasq") or Path("/usr/sbin/dnsmasq").exists()) or not shutil.which("dig"),
    reason="needs dnsmasq (dnsmasq-base) and dig (bind9-dnsutils): make test installs them",
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_every_name_resolves_to_its_ip_on_its_network(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    header = "### License server not managed by qlutui\n127.55.0.42\tlicense-server lic\n"
    (config.parent / "state/files.toml").write_text(f"[hosts]\nheader = {json.dumps(header)}\n")
    assert main(["--config", str(config), "files", "write", "hosts"]) == 0
    hosts = config.parent / "headnodes/beosrv-d/etc/dnsmasq.hosts"
    inv = Cluster.open(config).inventory()
    port = free_udp_port()
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
