"""`qlutui serve` in a real headless Chromium (Debian's `chromium`), driven over the DevTools
protocol: the page connects, textual-serve starts qlutui, and the Manage menu is drawn.

xterm.js draws into a canvas, so the page has no text to read: the test checks the screenshot
has the many colours of drawn text (the splash screen before it has few), that it changed
from the splash, and that textual-serve really runs `python -m qlutui` for the page. The last
screenshot is left in the test's tmp_path (`browser.png`) for a human to look at."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import aiohttp
import pytest

from qlutui.backend.demo import init_demo
from qlutui.commands.serve import is_loopback, serve_command

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium (make system-deps)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_rows(png: bytes) -> list[bytes]:
    """The pixel rows (RGB, 3 bytes a pixel) of an 8-bit RGB(A) non-interlaced PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,), kind = struct.unpack(">I", png[pos : pos + 4]), png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        header = data if kind == b"IHDR" else header
        idat += data if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6)
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):  # undo the PNG row filter
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(b"".join(bytes(line[i : i + 3]) for i in range(0, stride, bpp)))
        previous = line
    return rows


def menu_drawn(png: bytes) -> tuple[bool, str]:
    """Is this qlutui's Manage menu: the blue title bar across the top and plenty of text
    (anti-aliased glyphs bring hundreds of colours), unlike textual-serve's dark splash?"""
    rows = png_rows(png)
    bar = rows[8]
    blue = sum(1 for i in range(0, len(bar), 3) if bar[i + 2] > 150 and bar[i] < 100)
    colours = {row[i : i + 3] for row in rows for i in range(0, len(row), 3)}
    ok = blue > len(bar) // 3 // 2 and len(colours) > 450
    return ok, f"{blue} blue title-bar pixels, {len(colours)} colours"


class DevTools:
    """The smallest DevTools client: one page, commands answered by id."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 30)
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]


async def screenshot(tools: DevTools) -> bytes:
    result = await tools.call("Page.captureScreenshot", format="png")
    return base64.b64decode(result["data"])


def test_serve_command_and_loopback() -> None:
    command = serve_command(Path("demo/config.toml"))
    assert command.startswith("TERM=xterm-256color ")
    assert f"-m qlutui --config {Path('demo/config.toml').resolve()}" in command
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("beosrv-c")


def test_non_loopback_warns_and_bad_config_fails(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    broken = tmp_path / "broken.toml"
    broken.write_text("[ui\n")
    done = subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(broken), "serve"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert (
        done.returncode == 1 and done.stderr.startswith("qlutui: ") and "broken.toml" in done.stderr
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qlutui", "--config", str(config), "serve", "--host", "0.0.0.0",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "WITHOUT AUTHENTICATION" in line and f"0.0.0.0:{port}" in line
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_manage_menu_in_headless_chromium(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "qlutui", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    profile = tmp_path / "chromium"
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--window-size=1024,768", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (profile / "DevToolsActivePort").exists() or not _listening(port):
            assert time.monotonic() < deadline, "chromium or qlutui serve did not start"
            await asyncio.sleep(0.2)
        devtools_port = (profile / "DevToolsActivePort").read_text().split()[0]
        async with aiohttp.ClientSession() as http:
            targets = await (await http.get(f"http://127.0.0.1:{devtools_port}/json/list")).json()
            page = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tools = DevTools(ws)
                await tools.call("Page.enable")
                await tools.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
                shot, (ok, why) = b"", (False, "no screenshot")
                while not ok and time.monotonic() < deadline + 30:
                    await asyncio.sleep(1)
                    shot = await screenshot(tools)
                    ok, why = menu_drawn(shot)
        (tmp_path / "browser.png").write_bytes(shot)
        assert ok, f"the Manage menu was not drawn: {why}"
        children = subprocess.run(
            ["pgrep", "-a", "-f", f"qlutui --config {config}$"], capture_output=True, text=True
        ).stdout
        assert " -m qlutui --config " in children  # the app textual-serve runs for the page
    finally:
        for proc in (browser, server):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
