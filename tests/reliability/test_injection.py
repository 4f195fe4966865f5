"""Injection and escape: shell metacharacters in every user string that reaches a head-node
stay inert (a marker file a successful injection would create never appears); symlink and
`..` attacks on root-fs files and chroot removal never leave their base; unknown host keys are
refused; `qlutui serve` binds to loopback by default."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import one_line_reason, qlutui, remote_root, ssh_demo, tree_hash
from sshd import SSHD, free_port

from qlutui.backend.chroots import ChrootsService
from qlutui.backend.cluster import Cluster
from qlutui.backend.transport_ssh import SSHTransport
from qlutui.errors import QlutuiError, Refused, TransportError

pytestmark = pytest.mark.ssh


def payloads(marker: Path) -> list[str]:
    m = str(marker)
    return [
        f"$(touch {m})",
        f";touch {m}",
        f"`touch {m}`",
        f"'; touch {m}; '",
        f'"; touch {m}; "',
        f"| touch {m}",
        f"&& touch {m}",
        f"\ntouch {m}\n",
        f"$(touch${{IFS}}{m})",
    ]


async def test_arguments_reach_the_remote_command_verbatim(sshd: SSHD, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    transport = SSHTransport(sshd.headnode("beosrv-d"))
    try:
        for payload in payloads(marker):
            result = await transport.run(["printf", "%s", payload])
            assert result.stdout.decode() == payload
            lines = [line async for _, line in transport.stream(["echo", payload])]
            assert "\n".join(lines) == payload
    finally:
        await transport.close()
    assert not marker.exists()


async def test_user_strings_over_ssh_stay_inert(own_sshd: SSHD, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    config = ssh_demo(tmp_path, own_sshd)
    remote = remote_root(tmp_path)
    for payload in payloads(marker):
        qlutui(config, "rootfs", "new", "inj-cfg", "--description", payload)
        qlutui(config, "rootfs", "put", "inj-cfg", f"etc/{payload.strip()}", input=payload.encode())
        qlutui(config, "rootfs", "put", "inj-cfg", "etc/plain", input=payload.encode())
        qlutui(config, "rootfs", "mkdir", "inj-cfg", f"d{payload.strip()}")
        qlutui(config, "rootfs", "scripts", "inj-cfg")
        qlutui(config, "rootfs", "rm", "inj-cfg")
        qlutui(config, "images", "set", "Standard-noble", "--postinst", payload)
        qlutui(config, "images", "set", "Standard-noble", "--description", payload)
        qlutui(config, "ssh", "describe", "known_hosts", payload.strip())
        qlutui(config, "ssh", "header", "known_hosts", "--set", "-", input=f"# {payload}".encode())
        qlutui(config, "chroots", "new", payload, "--flavour", "bookworm", "--version", "13.1")
        qlutui(config, "chroots", "rm", payload)
        assert not marker.exists(), payload
    # a header comment and a description with metacharacters are written as plain text
    header = f"# {payloads(marker)[0]}\n"
    done = qlutui(config, "ssh", "header", "known_hosts", "--set", "-", input=header.encode())
    assert done.returncode == 0, done.stderr
    assert qlutui(config, "ssh", "write").returncode == 0
    assert (remote / "ssh/known_hosts").read_text().startswith(header)
    assert not marker.exists()


async def test_init_script_with_metacharacters_is_only_checked_not_run(
    own_sshd: SSHD, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    config = ssh_demo(tmp_path, own_sshd)
    script = f"#!/bin/sh\ntouch {marker}\n$(touch {marker})\n"
    assert qlutui(config, "rootfs", "new", "chk", "--init-d").returncode == 0
    put = qlutui(
        config,
        "rootfs",
        "put",
        "chk",
        "lib/qlustar/init.d/10-x",
        "--mode",
        "755",
        input=script.encode(),
    )
    assert put.returncode == 0, put.stderr
    assert qlutui(config, "rootfs", "scripts", "chk").returncode in (0, 1)  # sh -n: syntax only
    assert not marker.exists()


async def test_rootfs_path_escapes_are_refused(own_sshd: SSHD, tmp_path: Path) -> None:
    config = ssh_demo(tmp_path, own_sshd)
    remote = remote_root(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret\n")
    local = config.parent / "headnodes/beosrv-c" / str(remote).lstrip("/")
    for base in (remote, local):  # a link planted in the config on both head-nodes
        (base / "rootfs/ntp-tweaks/etc/evil").symlink_to(outside)
        (base / "rootfs/ntp-tweaks/etc/secret-link").symlink_to(outside / "secret")
    before = tree_hash(outside, config.parent / "state")
    attacks = [
        ["rootfs", "put", "ntp-tweaks", "../gpu-setup/x"],
        ["rootfs", "put", "ntp-tweaks", "../../../outside/x"],
        ["rootfs", "put", "ntp-tweaks", "/etc/passwd"],
        ["rootfs", "put", "ntp-tweaks", "etc/evil/planted"],
        ["rootfs", "put", "ntp-tweaks", "etc/secret-link"],
        ["rootfs", "cat", "ntp-tweaks", "etc/secret-link"],
        ["rootfs", "cat", "ntp-tweaks", "etc/evil/secret"],
        ["rootfs", "cat", "ntp-tweaks", "../../../outside/secret"],
        ["rootfs", "ls", "ntp-tweaks", "etc/evil"],
        ["rootfs", "mkdir", "ntp-tweaks", "etc/evil/newdir"],
        ["rootfs", "chmod", "ntp-tweaks", "etc/evil", "777"],
        ["rootfs", "chmod", "ntp-tweaks", "etc/secret-link", "777"],
        ["rootfs", "ls", "..", ""],
        ["rootfs", "rm", ".."],
    ]
    for args in attacks:
        result = qlutui(config, *args, input=b"planted\n")
        reason = one_line_reason(result)
        assert "Traceback" not in reason, args
        assert "secret\n" not in result.stdout, args
    assert tree_hash(outside, config.parent / "state") == before
    assert (outside / "secret").stat().st_mode & 0o777 != 0o777


async def test_chroot_removal_never_leaves_its_base(own_sshd: SSHD, tmp_path: Path) -> None:
    config = ssh_demo(tmp_path, own_sshd)
    chroots = remote_root(tmp_path) / "chroots"
    outside = tmp_path / "precious"
    (outside / "etc").mkdir(parents=True)
    (outside / "etc/data").write_text("keep\n")
    chroots.mkdir(parents=True)
    (chroots / "linked").symlink_to(outside)
    (chroots / "inner").mkdir()
    (chroots / "inner/escape").symlink_to(outside)
    entries = {
        "linked": chroots / "linked",  # the chroot itself is a link out
        "dotdot": f"{chroots}/../../precious",  # `..` in the recorded path
        "elsewhere": outside,  # a recorded path outside the base
        "through": chroots / "inner/escape",  # a link component below the base
        "base": chroots,  # the base itself
    }
    state = config.parent / "state/chroots.toml"
    state.write_text(
        "".join(
            f'[chroots.{name}]\nserver = "beosrv-d"\npath = "{path}"\nflavour = "bookworm"\n'
            'version = "13.1"\nstate = "ready"\n'
            for name, path in entries.items()
        )
    )
    cluster = Cluster.open(config)
    try:
        service = ChrootsService(cluster)
        for name in entries:
            try:
                job = await service.remove(await service.load(), name)
            except QlutuiError:
                continue  # refused up front
            await asyncio.wait_for(job.wait(), 30)
            assert job.record.state == "Failed", name
        # and the transport's own guard, called directly
        transport = cluster.transport("beosrv-d")
        for path in entries.values():
            with pytest.raises(Refused):
                await transport.remove_tree(str(path), str(chroots))
    finally:
        await cluster.jobs.close()
        await cluster.aclose()
    assert (outside / "etc/data").read_text() == "keep\n"
    assert (chroots / "linked").is_symlink() and (chroots / "inner/escape").is_symlink()


async def test_unknown_host_key_is_refused(own_sshd: SSHD, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    transport = SSHTransport(own_sshd.headnode("beosrv-d", known_hosts=empty))
    try:
        with pytest.raises(TransportError, match=r"host key for .* not found in known_hosts"):
            await transport.run(["true"])
    finally:
        await transport.close()
    config = ssh_demo(tmp_path, own_sshd)
    config.write_text(config.read_text().replace(str(own_sshd.known_hosts), str(empty)))
    listing = qlutui(config, "rootfs", "list")
    assert "not found in known_hosts" in listing.stderr


def listeners(port: int) -> list[str]:
    """Local addresses listening on `port` (IPv4 and IPv6), from /proc/net."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:
                found.append(address)
    return found


def test_serve_binds_to_loopback_by_default(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve")
    from qlutui.backend.demo import init_demo

    config = init_demo(tmp_path / "demo")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qlutui", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not listeners(port):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "qlutui serve never listened"
            time.sleep(0.1)
        assert listeners(port) == ["0100007F"]  # 127.0.0.1 only
        with pytest.raises(OSError):  # not reachable on another local address
            socket.create_connection(("127.0.0.2", port), timeout=1).close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
