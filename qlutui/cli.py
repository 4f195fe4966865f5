"""Command line entry point: `qlutui` opens the TUI; verbs mirror the dialogs for scripts.

Exit status: 0 success, 1 a refused or failed action (one-line reason on stderr), 2 bad usage.
This module and the command modules import only the standard library at top level, so a
read-only verb starts fast and never loads Textual.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from qlutui import __version__
from qlutui.commands import AREAS, UsageError, printable, run_handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qlutui",
        description="Manage a Qlustar cluster's images, chroots, SSH host files and root-fs "
        "configs. Without a verb, opens the terminal UI.",
    )
    parser.add_argument("--config", metavar="PATH", help="config.toml to use")
    parser.add_argument(
        "--serial",
        action="store_true",
        default=None,
        help="serial-console mode: 16 colours, ASCII only (auto on TERM=linux/vt*, ttyS*)",
    )
    parser.add_argument("--version", action="version", version=f"qlutui {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    demo = verbs.add_parser("demo", help="create the demo cluster if missing and open it")
    demo.add_argument("dir", nargs="?", default="demo", help="demo directory (default: ./demo)")
    init = verbs.add_parser(
        "init-demo", help="only create the demo cluster (its chroot build starts)"
    )
    init.add_argument("dir", help="a new or empty directory")
    for area in AREAS:
        area.register(verbs)
    _finish_verbs(parser)
    return parser


def _finish_verbs(parser: argparse.ArgumentParser) -> None:
    """Every (sub)parser names itself in `args.usage_parser`, the deepest one winning, so an
    unrecognized argument is reported with the usage of the verb it was given to; and a verb's
    own --help starts with the line its parent lists it with."""
    parser.set_defaults(usage_parser=parser)
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        listed = {choice.dest: choice.help for choice in action._get_subactions()}
        for name, sub in action.choices.items():
            sub.description = sub.description or listed.get(name)
            _finish_verbs(sub)


SERIAL_TERMS = ("linux", "vt100", "vt102", "vt220")
SERIAL_TTYS = ("/dev/ttyS", "/dev/ttyUSB", "/dev/ttyAMA")
# Textual reads these once, when it is imported: a slow line gets fewer frames, and the bytes
# of an escape sequence (arrow keys ...) may arrive further apart than on a local terminal.
SERIAL_ENV = {"TEXTUAL_FPS": "10", "ESCDELAY": "400"}


def stdout_tty() -> str | None:
    try:
        return os.ttyname(1)
    except OSError:
        return None


def serial_mode(setting: bool | None, term: str | None, tty: str | None = None) -> bool:
    """Serial-console mode: as configured, else guessed from TERM and the stdout device."""
    if setting is not None:
        return setting
    return (term or "") in SERIAL_TERMS or (tty or "").startswith(SERIAL_TTYS)


def _open_tui(config: str | None, serial: bool | None) -> int:
    from qlutui.backend.config import load_config

    setting = load_config(config).ui.serial if serial is None else serial
    serial = serial_mode(setting, os.environ.get("TERM"), stdout_tty())
    if serial:
        for name, value in SERIAL_ENV.items():
            os.environ.setdefault(name, value)
    from qlutui.app import run_app  # deferred: the verbs never pay for Textual

    return run_app(config, serial=serial)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        args.usage_parser.error(f"unrecognized arguments: {' '.join(extra)}")  # exits 2
    try:
        if args.verb is None:
            return _open_tui(args.config, args.serial)
        if args.verb in ("demo", "init-demo"):
            from qlutui.backend.demo import create_demo, ensure_demo

            if args.verb == "init-demo":
                print(create_demo(args.dir))
                return 0
            return _open_tui(str(ensure_demo(args.dir)), args.serial)
        if standalone := getattr(args, "standalone", None):
            return standalone(args)
        return run_handler(args)
    except UsageError as exc:
        parser.error(str(exc))  # exits 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `qlutui jobs list | head`: the reader is gone, as for `ls | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 141
    except Exception as exc:  # one line for every refused or failed action, never a traceback
        from qlutui.errors import QlutuiError

        if os.environ.get("QLUTUI_DEBUG"):
            raise
        if isinstance(exc, QlutuiError | OSError):
            print(f"qlutui: {printable(str(exc))}", file=sys.stderr)
        else:
            print(
                f"qlutui: internal error: {type(exc).__name__}: {printable(str(exc))} "
                "(QLUTUI_DEBUG=1 shows the traceback)",
                file=sys.stderr,
            )
        return 1
    return 0
