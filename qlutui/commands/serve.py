"""`qlutui serve [--host 127.0.0.1] [--port 8000]`: the terminal UI in a web browser.

textual-serve starts one `python -m qlutui --config <config>` per browser tab. It has no
authentication, so it binds to the loopback address unless told otherwise, and says so loudly
when told otherwise (use an SSH tunnel instead: `ssh -L 8000:127.0.0.1:8000 head-node`).
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from pathlib import Path
from typing import Any

from qlutui.errors import QlutuiError


def register(verbs: Any) -> None:
    p = verbs.add_parser("serve", help="serve the terminal UI to a web browser (no login!)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
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


def serve(args: argparse.Namespace) -> int:
    from qlutui.backend.config import load_config

    config = load_config(args.config)  # a broken config fails here, not in every browser tab
    try:
        from textual_serve.server import Server
    except ImportError:
        raise QlutuiError("qlutui serve needs textual-serve: pip install 'qlutui[serve]'") from None
    if not is_loopback(args.host):
        print(
            f"qlutui: warning: serving on {args.host}:{args.port} WITHOUT AUTHENTICATION; "
            "anyone who can reach it can change the cluster",
            file=sys.stderr,
        )
    command = serve_command(Path(config.path))
    Server(command, host=args.host, port=args.port, title="qlutui").serve()
    return 0
