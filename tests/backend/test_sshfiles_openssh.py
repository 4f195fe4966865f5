"""The generated files, written by the service, proven with real OpenSSH (ssh and sshd).

A cluster with one local head-node whose destinations lie in tmp_path: the service renders
and writes the files there with a real job, then the real `ssh` client uses the written
ssh_known_hosts as its only known hosts file, and a second real sshd reads the written
authorized_keys.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from authorized_options import SSHD_ACCEPTS, SSHD_REFUSES
from sshd import SSHD

from qlutui.backend.cluster import Cluster
from qlutui.backend.demo import init_demo
from qlutui.backend.files import files_service
from qlutui.backend.sshfiles import SSHFilesService
from qlutui.errors import InvalidInput
from qlutui.model.generated import BANNER
from qlutui.model.inventory import Inventory, host_names
from qlutui.model.sshfiles import validate_header

pytestmark = pytest.mark.ssh


def _cluster(tmp_path: Path) -> tuple[Cluster, Path]:
    """The demo's state, one root-less local head-node, every file written below tmp_path/out."""
    config = init_demo(tmp_path / "demo")
    out = tmp_path / "out"
    config.write_text(
        'state_dir = "state"\n'
        '[[headnodes]]\nname = "hn"\ntransport = "local"\n'
        f'[ssh_files.known_hosts]\ndestinations = ["{out}/ssh_known_hosts"]\n'
        f'[ssh_files.shosts_equiv]\ndestinations = ["{out}/shosts.equiv"]\n'
        f'[ssh_files.authorized_keys]\ndestinations = ["{out}/authorized_keys"]\nmode = 0o600\n'
    )
    return Cluster.open(config), out


def _pub(path: Path) -> str:
    return path.with_suffix(".pub").read_text().strip()


def _set_host_keys(cluster: Cluster, keys: dict[str, list[str]]) -> None:
    def mutate(doc) -> None:
        for entry in doc["hosts"]:
            if entry["name"] in keys:
                entry["host_keys"] = keys[entry["name"]]

    cluster.store.update("inventory", mutate)


def _set_hashed(cluster: Cluster, hashed: bool) -> None:
    cluster.store.update("sshfiles", lambda doc: doc["known_hosts"].update({"hashed": hashed}))


async def _write(service: SSHFilesService, kind: str) -> None:
    files = files_service(service.cluster, ["ssh"])
    job = await files.write(await files.statuses([kind]), only_changed=False)
    await job.wait()
    assert job.record.state == "Success", [line.text for line in job.lines()]


def _ssh(sshd: SSHD, known_hosts: Path, alias: str, identity: Path) -> subprocess.CompletedProcess:
    options = [f"UserKnownHostsFile={known_hosts}", "GlobalKnownHostsFile=/dev/null",
               "StrictHostKeyChecking=yes", f"HostKeyAlias={alias}", "BatchMode=yes",
               "IdentitiesOnly=yes"]  # fmt: skip
    argv = ["ssh", "-F", "/dev/null", *(x for o in options for x in ("-o", o))]
    argv += ["-i", str(identity), "-p", str(sshd.port), f"{sshd.user}@127.0.0.1", "true"]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )


def _names(cluster: Cluster, host_name: str) -> list[str]:
    """Every generated name and IP of a host (networks with ssh = true)."""
    inv = Inventory.from_dict(cluster.store.load("inventory").data)
    host = next(h for h in inv.hosts if h.name == host_name)
    nets = [n for n in inv.networks if n.ssh and n.name in host.ips]
    return [name for n in nets for name in host_names(inv, host, n)] + [
        host.ips[n.name] for n in nets
    ]


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
async def test_known_hosts_verifies_real_sshd(sshd: SSHD, tmp_path: Path, hashed: bool) -> None:
    cluster, out = _cluster(tmp_path)
    other = tmp_path / "other_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    # beo-01 carries the fixture's real host keys, beo-02 a key the server does not have.
    _set_host_keys(cluster, {"beo-01": [_pub(k) for k in sshd.host_keys], "beo-02": [_pub(other)]})
    _set_hashed(cluster, hashed)
    service = SSHFilesService(cluster)
    try:
        await _write(service, "known_hosts")
    finally:
        await cluster.aclose()
    known_hosts = out / "ssh_known_hosts"
    text = known_hosts.read_text()
    assert ("|1|" in text) is hashed
    names = _names(cluster, "beo-01")
    assert {"beo-01", "beo-01-ib", "127.52.1.11", "127.53.1.11"} <= set(names)
    for name in names:
        result = _ssh(sshd, known_hosts, name, sshd.identity)
        assert result.returncode == 0, (name, result.stderr)
    for name in _names(cluster, "beo-02"):
        result = _ssh(sshd, known_hosts, name, sshd.identity)
        assert result.returncode == 255, name
        assert "IDENTIFICATION HAS CHANGED" in result.stderr, result.stderr
    unknown = _ssh(sshd, known_hosts, "not-in-the-inventory", sshd.identity)
    assert unknown.returncode == 255
    assert "Host key verification failed" in unknown.stderr


async def test_authorized_keys_admits_only_header_keys(tmp_path: Path) -> None:
    server = SSHD(tmp_path / "sshd")  # a second sshd: its AuthorizedKeysFile is ours to write
    cluster, out = _cluster(tmp_path)
    server.config.write_text(
        server.config.read_text().replace(
            f"AuthorizedKeysFile {server.tmp / 'authorized_keys'}",
            f"AuthorizedKeysFile {out / 'authorized_keys'}",
        )
    )
    outsider = tmp_path / "outsider"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(outsider)], check=True)
    service = SSHFilesService(cluster)
    header = f"# the admins\nrestrict,pty {_pub(server.identity)}\n"
    service.save_header(service.load(), "authorized_keys", header)
    try:
        await _write(service, "authorized_keys")
    finally:
        await cluster.aclose()
    written = out / "authorized_keys"
    assert written.read_text() == header
    assert written.stat().st_mode & 0o777 == 0o600
    server.start()
    try:
        known = server.known_hosts
        admitted = _ssh(server, known, f"[127.0.0.1]:{server.port}", server.identity)
        assert admitted.returncode == 0, admitted.stderr
        refused = _ssh(server, known, f"[127.0.0.1]:{server.port}", outsider)
        assert refused.returncode == 255
        assert "Permission denied (publickey)" in refused.stderr
    finally:
        server.stop()


# --- hostile input against real OpenSSH (issue 15, items 1 and 8) --------------------------

# An ed25519 key whose base64 has no '/' (ipaddress refused a '/' even after the '%').
ATTACKER = (
    "ssh-ed25519 " + base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + b"A" * 32).decode()
)
HOSTILE_IPS = {
    "a line trusting a key for every host": "fd00::1%x\n* {key}",
    "'*' added to a host's names": "fd00::11%x,*",
}


@pytest.mark.parametrize("ip", HOSTILE_IPS.values(), ids=list(HOSTILE_IPS))
async def test_a_scoped_ipv6_address_never_reaches_known_hosts(tmp_path: Path, ip: str) -> None:
    cluster, out = _cluster(tmp_path)
    service = SSHFilesService(cluster)
    try:
        await _write(service, "known_hosts")  # a good file first

        def mutate(doc) -> None:
            doc["networks"].append({"name": "v6", "kind": "ether", "suffix": "v6"})
            doc["hosts"][0]["ips"]["v6"] = ip.format(key=ATTACKER)

        cluster.store.update("inventory", mutate)
        with pytest.raises(InvalidInput, match=r"hosts\[0\] \(beosrv-c\): ips\.v6: not an IP"):
            await files_service(cluster, ["ssh"]).statuses(["known_hosts", "shosts_equiv"])
        assert any("ips.v6: not an IP address" in p for p in cluster.problems())
    finally:
        await cluster.aclose()
    assert not (out / "shosts.equiv").exists()
    for host in ("anyhost", "beo-01"):  # the file on disk is still the good one
        found = subprocess.run(
            ["ssh-keygen", "-F", host, "-f", str(out / "ssh_known_hosts")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (found.returncode == 0) is (host == "beo-01"), found.stdout
        assert ATTACKER.split()[1] not in found.stdout


def _login(server: SSHD, options: str, authorized: Path) -> subprocess.CompletedProcess:
    """A real login with the fixture's key, authorized by one line with `options`."""
    authorized.write_text(f"{options} {_pub(server.identity)}\n")
    return _ssh(server, server.known_hosts, f"[127.0.0.1]:{server.port}", server.identity)


def test_authorized_keys_options_are_judged_as_sshd_judges_them(tmp_path: Path) -> None:
    """Every option string the validator accepts logs in through a real sshd; every one it
    refuses is one sshd refuses too (the key is ignored: no login)."""
    server = SSHD(tmp_path / "sshd")
    authorized = server.tmp / "authorized_keys"
    key = _pub(server.identity)
    server.start()
    try:
        for options in SSHD_ACCEPTS:
            assert validate_header("authorized_keys", f"{options} {key}") == [], options
            result = _login(server, options, authorized)
            assert result.returncode == 0, (options, result.stderr, server.log_tail())
        for options in SSHD_REFUSES:
            assert validate_header("authorized_keys", f"{options} {key}") != [], options
            result = _login(server, options, authorized)
            assert result.returncode == 255, (options, result.stdout)
            assert "Permission denied (publickey)" in result.stderr, options
    finally:
        server.stop()


# --- the modes: a host CA (@cert-authority), set as the SSH Configs screen and CLI set it ---


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
async def test_a_cert_authority_line_is_accepted_by_ssh(tmp_path: Path, hashed: bool) -> None:
    """The CA signs the server's host key for beo-01's names: ssh accepts that certificate
    under every name of beo-01, and no other host's name (nor a name outside the file)."""
    server = SSHD(tmp_path / "sshd")
    cluster, out = _cluster(tmp_path)
    ca = tmp_path / "host_ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    names = _names(cluster, "beo-01")
    host_key = server.host_keys[0].with_suffix(".pub")
    sign = ["ssh-keygen", "-q", "-s", str(ca), "-I", "beo-01", "-h", "-n", ",".join(names)]
    subprocess.run([*sign, str(host_key)], check=True, capture_output=True)
    cert = server.host_keys[0].with_name(server.host_keys[0].name + "-cert.pub")
    server.config.write_text(server.config.read_text() + f"HostCertificate {cert}\n")
    service = SSHFilesService(cluster)
    service.set_modes(service.load(), "known_hosts", ca_key=_pub(ca), hashed=hashed)
    try:
        await _write(service, "known_hosts")
    finally:
        await cluster.aclose()
    known_hosts = out / "ssh_known_hosts"
    generated = known_hosts.read_text().split(BANNER + "\n", 1)[1].splitlines()
    assert generated and all(line.startswith("@cert-authority ") for line in generated)
    assert all(line.endswith(_pub(ca).split()[1]) for line in generated)
    assert ("|1|" in generated[0]) is hashed
    server.start()
    try:
        for name in names:
            result = _ssh(server, known_hosts, name, server.identity)
            assert result.returncode == 0, (name, result.stderr)
        for name in [*_names(cluster, "beo-02")[:2], "not-in-the-inventory"]:
            result = _ssh(server, known_hosts, name, server.identity)
            assert result.returncode == 255, name
            assert "Host key verification failed" in result.stderr, result.stderr
    finally:
        server.stop()


def test_a_ca_key_that_is_no_public_key_is_refused_and_nothing_saved(tmp_path: Path) -> None:
    cluster, _ = _cluster(tmp_path)
    ca = tmp_path / "host_ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "x", "-h", str(ca.with_suffix(".pub"))],
        check=True,
        capture_output=True,
    )
    service = SSHFilesService(cluster)
    path = cluster.store.path("sshfiles")
    before = path.read_bytes()
    bad = {
        ca.read_text(): "that is a private key",
        ca.with_name("host_ca-cert.pub").read_text(): "that is a certificate",
        " ".join(_pub(ca).split()[:2])[:-4]: "the ssh-ed25519 key data is broken",
        "ssh-ed25519": "missing the base64 key data",
        f"{_pub(ca)}\x1b[2J": "the CA key ",
    }
    for line, reason in bad.items():
        with pytest.raises(InvalidInput, match=f"known_hosts.ca_key not saved: {reason}"):
            service.set_modes(None, "known_hosts", ca_key=line)
    with pytest.raises(InvalidInput, match="shosts_equiv has no mode ca_key"):
        service.set_modes(None, "shosts_equiv", ca_key=_pub(ca))
    with pytest.raises(InvalidInput, match="authorized_keys has no modes"):
        service.set_modes(None, "authorized_keys", include_ips=False)
    with pytest.raises(InvalidInput, match="no network 'nope'"):
        service.set_modes(None, "known_hosts", networks=["boot", "nope"])
    assert path.read_bytes() == before
    assert not cluster.store.history("sshfiles")
