"""A real OpenSSH sshd on 127.0.0.1 for tests: fresh host and user keys, its own config.

`SSHD(directory)` writes everything into `directory`; `start()` runs `/usr/sbin/sshd -D -e`
on a free port and waits until it answers; `stop()` ends it and the session processes it
forked (so connections really drop); `restart()` starts it again on the same port with the
same keys. Works as root (which is how CI runs the tests).
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

SSHD_BIN = "/usr/sbin/sshd"
START_TIMEOUT = 10.0


def _keygen(path: Path, kind: str) -> None:
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "qlutui-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """The processes below `pid`: sshd forks a monitor and a session process per connection."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # the command name is in parentheses and may contain spaces: split after it
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, level = [], [pid]
    while level:
        level = [child for child, parent in parents.items() if parent in level]
        found += level
    return found


class SSHD:
    def __init__(self, directory: Path) -> None:
        self.tmp = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_keys = [directory / "ssh_host_ed25519_key", directory / "ssh_host_rsa_key"]
        self.identity = directory / "id_ed25519"
        self.known_hosts = directory / "known_hosts"
        self.config = directory / "sshd_config"
        self.log = directory / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        for key, kind in zip(self.host_keys, ("ed25519", "rsa"), strict=True):
            _keygen(key, kind)
        _keygen(self.identity, "ed25519")
        (directory / "authorized_keys").write_bytes(self.identity.with_suffix(".pub").read_bytes())
        self.known_hosts.write_text(
            "".join(self.known_hosts_line(key.with_suffix(".pub")) for key in self.host_keys)
        )
        self._write_config()

    def known_hosts_line(self, public_key: Path) -> str:
        kind, blob = public_key.read_text().split()[:2]
        return f"[{self.host}]:{self.port} {kind} {blob}\n"

    def _write_config(self) -> None:
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            *(f"HostKey {key}" for key in self.host_keys),
            f"AuthorizedKeysFile {self.tmp / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            f"PidFile {self.tmp / 'sshd.pid'}",
            "MaxSessions 50",
            "MaxStartups 50",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ]
        self.config.write_text("\n".join(lines) + "\n")

    def headnode(self, name: str, **over: Any) -> Any:
        """A config.HeadNode reaching this sshd; keyword arguments override fields."""
        from qlutui.backend.config import HeadNode

        fields: dict[str, Any] = {
            "name": name,
            "transport": "ssh",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "known_hosts": self.known_hosts,
            "identity": self.identity,
            "connect_timeout": 5.0,
            "keepalive": 15.0,
        }
        return HeadNode(**(fields | over))

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        check = subprocess.run(
            [SSHD_BIN, "-t", "-f", str(self.config)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise RuntimeError(f"sshd -t rejects {self.config}: {check.stderr.strip()}")
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [SSHD_BIN, "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"sshd exited ({self._proc.returncode}): {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not answer on port {self.port}: {self.log_tail()}")

    def stop(self) -> None:
        """End sshd and every session process it forked: open connections drop."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        sessions = _descendants(proc.pid)
        proc.terminate()
        for pid in sessions:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 5) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])
