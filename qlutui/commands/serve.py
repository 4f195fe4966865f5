"""`qlutui serve [--host 127.0.0.1] [--port 8000] | --unix PATH`: the terminal UI in a browser.

textual-serve starts one `python -m qlutui --config <config>` per browser tab. Each start makes
a new secret token; only the URL printed (once, on stdout) carries it, and `GuardedServer`
refuses every request without it and every foreign Origin. It binds to the loopback address
unless told otherwise (and warns when told otherwise: plain HTTP). `--unix PATH` listens on a
Unix socket of mode 0600 instead, for an SSH tunnel: `ssh -L 8000:PATH head-node`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

from qlutui.errors import InvalidInput, QlutuiError


def register(verbs: Any) -> None:
    p = verbs.add_parser("serve", help="serve the terminal UI to a web browser (secret URL)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000; 0 = any free one)")
    p.add_argument("--unix", metavar="PATH", help="listen on a new Unix socket (mode 0600)")
    p.set_defaults(standalone=serve)  # runs its own event loop: no Cluster handler


def serve_command(config_path: Path) -> str:
    """The shell command textual-serve runs per browser session. TERM is set because the
    browser's terminal is an xterm, whatever console `qlutui serve` was started from."""
    argv = [sys.executable, "-m", "qlutui", "--config", str(config_path.resolve())]
    return "TERM=xterm-256color " + shlex.join(argv)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen_tcp(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise QlutuiError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def listen_unix(path: Path) -> socket.socket:
    """A new Unix socket at `path`, mode 0600 from the start (umask), never an existing file."""
    if os.path.lexists(path):
        raise InvalidInput(f"{path} already exists (another qlutui serve?): remove it first")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise QlutuiError(f"cannot listen on {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(umask)
    sock.listen(128)
    return sock


def serve(args: argparse.Namespace) -> int:
    from qlutui.backend.config import load_config

    config = load_config(args.config)  # a broken config fails here, not in every browser tab
    if args.unix and (args.host is not None or args.port is not None):
        raise InvalidInput("--unix cannot be combined with --host or --port")
    try:
        from qlutui.commands.guarded_server import GuardedServer
    except ImportError:
        raise QlutuiError("qlutui serve needs textual-serve: pip install 'qlutui[serve]'") from None
    token = secrets.token_urlsafe(32)
    if args.unix:
        path = Path(args.unix).absolute()
        sock = listen_unix(path)
        line = (
            f"qlutui: serving on the Unix socket {path} (mode 0600); on your machine run "
            f"`ssh -L 8000:{path} HEAD-NODE` and open http://127.0.0.1:8000/?token={token}"
        )
    else:
        host = args.host or "127.0.0.1"
        sock = listen_tcp(host, 8000 if args.port is None else args.port)
        port = sock.getsockname()[1]
        if not is_loopback(host):
            print(
                f"qlutui: warning: serving on {host}:{port} over plain HTTP: the token and the "
                "session cross the network unencrypted; prefer --unix and an SSH tunnel",
                file=sys.stderr,
            )
        shown = f"[{host}]" if ":" in host else host
        line = f"qlutui: serving on http://{shown}:{port}/?token={token}"
    try:
        print(line, flush=True)  # the only place the token is ever written
        GuardedServer(serve_command(Path(config.path)), token=token, title="qlutui").run(sock)
    finally:
        sock.close()
        if args.unix and path.is_socket():  # ours, unless someone replaced it meanwhile
            path.unlink()
    return 0
