"""`qlutui init` against the real sshd: the host key fingerprint is shown and trusted only when
confirmed (on a real pty, or by a matching --trust-fingerprint); then the config works."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from sshd import SSHD

from qlutui.backend.cluster import Cluster
from qlutui.backend.config import load_config
from qlutui.cli import main

pytestmark = pytest.mark.ssh
PTY_TIMEOUT = 60.0


def fingerprints(sshd: SSHD) -> dict[str, str]:
    """Key type (as ssh-keygen names it, e.g. ED25519) -> SHA256 fingerprint, by ssh-keygen."""
    found = {}
    for key in sshd.host_keys:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        found[out[-1].strip("()")] = out[1]
    return found


def init_argv(sshd: SSHD, directory: Path, *extra: str) -> list[str]:
    return [
        "init",
        str(directory),
        "--headnode",
        f"hs=ssh://{sshd.user}@{sshd.host}:{sshd.port}",
        "--identity",
        str(sshd.identity),
        *extra,
    ]


def qlutui(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def shown_fingerprint(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if "key fingerprint is" in line)
    return line.split()[-1]


def test_without_a_terminal_it_shows_the_fingerprint_and_refuses(
    sshd: SSHD, tmp_path: Path
) -> None:
    done = qlutui(*init_argv(sshd, tmp_path / "c"))
    assert done.returncode == 1
    assert f"hs: the host key of [{sshd.host}]:{sshd.port}" in done.stdout
    assert shown_fingerprint(done.stdout) == fingerprints(sshd)["ED25519"]
    assert "ssh-ed25519 key fingerprint is SHA256:" in done.stdout
    assert "hs: host key not confirmed (no terminal to ask on)" in done.stderr
    assert not (tmp_path / "c").exists()


def test_a_wrong_fingerprint_is_refused(sshd: SSHD, tmp_path: Path) -> None:
    wrong = fingerprints(sshd)["RSA"]  # a real fingerprint, but of the other key
    done = qlutui(*init_argv(sshd, tmp_path / "c", "--trust-fingerprint", wrong))
    assert done.returncode == 1
    assert "not the one given with --trust-fingerprint: not trusted, nothing written" in (
        done.stderr
    )
    assert not (tmp_path / "c").exists()


def test_the_right_fingerprint_gives_a_working_config(sshd: SSHD, tmp_path: Path) -> None:
    right = fingerprints(sshd)["ED25519"]
    directory = tmp_path / "c"
    done = qlutui(*init_argv(sshd, directory, "--trust-fingerprint", right))
    assert done.returncode == 0, done.stderr
    assert "trusted: it matches --trust-fingerprint" in done.stdout
    kind, blob = sshd.host_keys[0].with_suffix(".pub").read_text().split()[:2]
    assert (directory / "known_hosts").read_text() == f"[{sshd.host}]:{sshd.port} {kind} {blob}\n"
    config = load_config(directory / "config.toml")
    (headnode,) = config.headnodes
    assert (headnode.host, headnode.port, headnode.user) == (sshd.host, sshd.port, sshd.user)
    assert headnode.known_hosts == directory / "known_hosts"
    assert (directory / "state").is_dir()
    text = (directory / "config.toml").read_text()
    assert text.startswith("# qlutui configuration, written by `qlutui init`")
    assert tomllib.loads(text)["headnodes"][0]["known_hosts"] == "known_hosts"
    check = qlutui("--config", str(directory / "config.toml"), "check")
    assert check.returncode == 0, check.stderr

    async def connect() -> bytes:
        cluster = Cluster.open(directory / "config.toml")
        try:
            return (await cluster.transport("hs").run(["echo", "verified"])).stdout
        finally:
            await cluster.aclose()

    assert asyncio.run(connect()) == b"verified\n"
    again = qlutui(*init_argv(sshd, directory, "--trust-fingerprint", right))
    assert again.returncode == 1 and "exists already" in again.stderr


def test_two_headnodes_each_confirmed(sshd: SSHD, tmp_path: Path) -> None:
    """Two names for the same sshd: each key is confirmed, the line written once."""
    right = fingerprints(sshd)["ED25519"]
    argv = init_argv(sshd, tmp_path / "c", "--trust-fingerprint", right)
    argv += ["--headnode", f"hs2=ssh://{sshd.user}@{sshd.host}:{sshd.port}"]
    done = qlutui(*argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("trusted: it matches --trust-fingerprint") == 2
    assert len((tmp_path / "c/known_hosts").read_text().splitlines()) == 1
    names = [h.name for h in load_config(tmp_path / "c/config.toml").headnodes]
    assert names == ["hs", "hs2"]


def on_a_pty(argv: list[str], answer: str) -> tuple[int, str]:
    """Run qlutui with a real terminal; type `answer` once the question shows."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qlutui", *argv], stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    output, answered = b"", False
    deadline = time.monotonic() + PTY_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if not answered and b"Type yes to accept: " in output:
                os.write(master, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=PTY_TIMEOUT), output.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_on_a_terminal_only_yes_trusts(sshd: SSHD, tmp_path: Path) -> None:
    code, output = on_a_pty(init_argv(sshd, tmp_path / "no"), "no")
    assert code == 1
    assert fingerprints(sshd)["ED25519"] in output
    assert "host key not trusted: nothing written" in output
    assert not (tmp_path / "no").exists()
    code, output = on_a_pty(init_argv(sshd, tmp_path / "y"), "y")
    assert code == 1 and not (tmp_path / "y").exists()
    code, output = on_a_pty(init_argv(sshd, tmp_path / "yes"), "yes")
    assert code == 0, output
    assert load_config(tmp_path / "yes/config.toml").headnodes[0].known_hosts == (
        tmp_path / "yes/known_hosts"
    )


def test_known_hosts_given_and_already_trusted(sshd: SSHD, tmp_path: Path) -> None:
    """--known-hosts naming a file that already trusts the key: no question asked."""
    done = qlutui(*init_argv(sshd, tmp_path / "c", "--known-hosts", str(sshd.known_hosts)))
    assert done.returncode == 0, done.stderr
    assert f"already trusted in {sshd.known_hosts}" in done.stdout
    assert not (tmp_path / "c/known_hosts").exists()
    other = tmp_path / "other_known_hosts"
    other.write_text(f"[{sshd.host}]:{sshd.port} {fingerprint_free_key()}\n")
    done = qlutui(*init_argv(sshd, tmp_path / "d", "--known-hosts", str(other)))
    assert done.returncode == 1
    assert "holds a different key" in done.stderr and "possible attack or reinstall" in done.stderr
    assert not (tmp_path / "d").exists()


def test_a_generated_file_is_refused_as_known_hosts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    generated = root / "etc/ssh/ssh_known_hosts"
    argv = ["init", str(tmp_path / "c"), "--headnode", f"hn=local:{root}"]
    assert main([*argv, "--known-hosts", str(generated)]) == 1
    assert "qlutui generates that file (Write Files)" in capsys.readouterr().err
    assert main([*argv, "--known-hosts", "/etc/ssh/ssh_known_hosts"]) == 1
    assert not (tmp_path / "c").exists()


def fingerprint_free_key() -> str:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    return " ".join(key.split()[:2])


def test_local_headnode_with_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    (root / "etc/ssh").mkdir(parents=True)
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n10.1.0.1 beo-01\n")  # not used
    (root / "etc/dnsmasq.hosts").write_text(
        "# Network: Boot\n10.1.0.1 beo-01\n10.1.0.2 beo-02\n# Network: IB\n10.2.0.1 beo-01-ib\n"
    )
    key = fingerprint_free_key()
    other = fingerprint_free_key()
    (root / "etc/ssh/ssh_known_hosts").write_text(f"beo-01,10.1.0.1 {key}\nbeo-02 {other}\n")
    directory = tmp_path / "c"
    code = main(["init", str(directory), "--headnode", f"hn=local:{root}", "--import"])
    out = capsys.readouterr().out
    assert code == 0
    assert "hn:/etc/ethers: no such file, skipped" in out
    assert "created network boot (ether, primary, 10.1.0.0/24) from hn:/etc/dnsmasq.hosts:1" in out
    assert "added 2 hosts: beo-[01-02]" in out
    data = tomllib.loads((directory / "state/inventory.toml").read_text())
    assert data["hosts"][0] == {
        "name": "beo-01",
        "host_keys": [key],
        "ips": {"boot": "10.1.0.1", "ib": "10.2.0.1"},
    }
    assert load_config(directory / "config.toml").headnodes[0].root == root
    # sound, generated files included (every host has its key)
    assert main(["--config", str(directory / "config.toml"), "check"]) == 0


@pytest.mark.parametrize(
    "spec",
    ["hs", "hs=ftp://x", "hs=ssh://", "../x=local", "hs=ssh://a@b:99999", "hs=ssh://-o@h"],
)
def test_bad_headnode_specs_are_usage_errors(spec: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["init", str(tmp_path / "c"), "--headnode", spec])
    assert usage.value.code == 2
    assert not (tmp_path / "c").exists()


NODES = 9


def headnode_files(root: Path) -> dict[str, str]:
    """A head-node's dnsmasq.hosts (boot and ib), ssh_known_hosts and ethers for beo-01..09;
    returns each node's host key."""
    root.mkdir(parents=True)
    keys = {f"beo-{i:02d}": fingerprint_free_key() for i in range(1, NODES + 1)}
    lines = ["# Network: Boot", *(f"10.1.0.{i} beo-{i:02d}" for i in range(1, NODES + 1))]
    lines += ["# Network: IB", *(f"10.2.0.{i} beo-{i:02d}-ib" for i in range(1, NODES + 1))]
    (root / "dnsmasq.hosts").write_text("\n".join(lines) + "\n")
    (root / "ssh_known_hosts").write_text("".join(f"{n} {k}\n" for n, k in keys.items()))
    (root / "ethers").write_text("02:00:00:00:00:01 beo-01\n")
    return keys


def test_from_init_to_written_files(sshd: SSHD, tmp_path: Path) -> None:
    """What a new admin does: init against the head-node, import its files, create an image,
    set it on a range, check, write the files; every step on the real sshd."""
    directory, hn = tmp_path / "c", tmp_path / "hn"
    keys = headnode_files(hn)
    done = qlutui(*init_argv(sshd, directory, "--trust-fingerprint", fingerprints(sshd)["ED25519"]))
    assert done.returncode == 0, done.stderr
    catalog = directory / "state/catalog.toml"
    assert f"wrote {catalog}: Qlustar releases 12.0.0 .. 13.1.1 of bookworm, jammy, noble" in (
        done.stdout
    )
    assert catalog.read_text().startswith("# Qlustar releases, flavours, modules and tasks")
    config = directory / "config.toml"
    out = hn / "out"  # the generated files land here on the head-node, not in its /etc
    with config.open("a") as text:
        text.write(
            f'\n[ssh_files.known_hosts]\ndestinations = ["{out}/ssh_known_hosts"]\n'
            f'[ssh_files.shosts_equiv]\ndestinations = ["{out}/shosts.equiv"]\n'
            f'[ssh_files.authorized_keys]\ndestinations = ["{out}/authorized_keys"]\n'
            f'[hosts_file]\ndestinations = ["{out}/dnsmasq.hosts"]\n'
            f'[images]\ndestination = "{out}/images/{{image}}/qlutui.conf"\nrebuild = []\n'
        )

    def step(*argv: str) -> str:
        done = qlutui("--config", str(config), *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        return done.stdout

    files = [f"hs:{hn}/{name}" for name in ("dnsmasq.hosts", "ssh_known_hosts", "ethers")]
    assert "added 9 hosts: beo-[01-09]" in step("hosts", "import", *files)
    step("images", "new", "Compute", "--flavour", "noble", "--version", "13.1", "--module", "slurm")
    assert step("hosts", "set", "beo-[01-08]", "--image", "Compute").startswith(
        "changed 8 hosts (beo-[01-08])"
    )
    step("check")
    step("files", "write")
    image = tomllib.loads((out / "images/Compute/qlutui.conf").read_text())
    assert image["resolved"] == "13.1.1" and image["hosts"] == "beo-[01-08]"
    assert image["packages"] == [
        "qlustar-module-core-noble-amd64-13.1.1",
        "qlustar-module-slurm-noble-amd64-13.1.1",
    ]
    known = (out / "ssh_known_hosts").read_text()
    for i, (name, key) in enumerate(keys.items(), start=1):
        assert f"{name},{name}-ib,10.1.0.{i},10.2.0.{i} {key}\n" in known
    assert "10.2.0.9\tbeo-09-ib\n" in (out / "dnsmasq.hosts").read_text()
    assert "nothing to write" in step("files", "write")


def test_init_keeps_a_catalog_already_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "c/state"
    state.mkdir(parents=True)
    (state / "catalog.toml").write_text('[flavours.trixie]\ndistribution = "debian"\n')
    assert main(["init", str(tmp_path / "c"), "--headnode", f"hn=local:{tmp_path}"]) == 0
    assert "catalog.toml" not in capsys.readouterr().out
    assert (state / "catalog.toml").read_text() == '[flavours.trixie]\ndistribution = "debian"\n'


def test_a_refused_import_says_what_is_written_and_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/dnsmasq.hosts").write_text("# Network: Boot\n10.1.0.1 beo-01\n10.1.0.2 beo-02\n")
    (root / "etc/ethers").write_text("aa:bb:cc:dd:ee:01 beo-01\naa:bb:cc:dd:ee:01 beo-02\n")
    directory = tmp_path / "c"
    code = main(["init", str(directory), "--headnode", f"hn=local:{root}", "--import"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and len(err) == 1
    config = directory / "config.toml"
    assert err[0].endswith(
        f"; config.toml is written, not the inventory: `qlutui --config {config}"
        " hosts import hn:/etc/dnsmasq.hosts"
        " hn:/etc/ethers`"
    ), err[0]
    assert not (directory / "state/inventory.toml").exists()
    # the file fixed, the command it names imports into the config written
    (root / "etc/ethers").write_text("aa:bb:cc:dd:ee:01 beo-01\naa:bb:cc:dd:ee:02 beo-02\n")
    command = err[0].rsplit("`", 2)[1].split()[1:]
    assert main(command) == 0
    assert "added 2 hosts: beo-[01-02]" in capsys.readouterr().out
