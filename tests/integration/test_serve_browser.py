"""`qlutui serve` in a real headless Chromium (Debian's `chromium`), driven over the DevTools
protocol, and its guard (issue 15 item 2) asked directly with aiohttp and through a real
`ssh -L` tunnel to a Unix socket.

The printed URL (with its secret token) draws the Manage menu; a page of another origin, a URL
without the token or with a wrong one get nothing: HTTP 403 for the page, its files and the
WebSocket, and no app process started.

Chromium runs without WebGL, so xterm.js falls back to its DOM renderer and the terminal's text
is in the page (`.xterm-rows`): the test waits for the Manage menu's entries there, and checks
that textual-serve really runs `python -m qlutui` for the page. A screenshot is left in the
test's tmp_path (`browser.png`) for a human to look at."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sshd import SSHD

from qlutui.backend.demo import init_demo
from qlutui.commands.serve import is_loopback, serve_command

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM, reason="needs Debian's chromium (make system-deps)"
)
PRINTED = re.compile(r"(http://\S+?)/\?token=(\S+)")
START_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


async def page_text(tools: DevTools) -> str:
    done = await tools.call(
        "Runtime.evaluate",
        expression="(document.querySelector('.xterm-rows') || {innerText: ''}).innerText",
    )
    return done["result"]["value"]


async def screenshot(tools: DevTools) -> bytes:
    result = await tools.call("Page.captureScreenshot", format="png")
    return base64.b64decode(result["data"])


@dataclass
class Served:
    """A running `qlutui serve`: its printed line, URL and token; out/err once stopped."""

    proc: subprocess.Popen[bytes]
    line: str
    out: Path
    err: Path

    @property
    def base(self) -> str:
        match = PRINTED.search(self.line)
        assert match, self.line
        return match[1]

    @property
    def token(self) -> str:
        match = PRINTED.search(self.line)
        assert match, self.line
        return match[2]


@contextlib.contextmanager
def serving(config: Path, tmp_path: Path, *args: str) -> Iterator[Served]:
    """`qlutui serve ARGS` until the block ends; its output goes to files (nobody reads a
    pipe while the browser works), the line with the URL is waited for."""
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qlutui", "--config", str(config), "serve", *args],
            stdin=subprocess.DEVNULL, stdout=o, stderr=e,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_S
        while "token=" not in out.read_text():
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "qlutui serve printed no URL"
            time.sleep(0.05)
        yield Served(proc, out.read_text().splitlines()[0], out, err)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def apps(config: Path) -> list[str]:
    """The `python -m qlutui --config CONFIG` processes textual-serve started (one a page)."""
    found = subprocess.run(
        ["pgrep", "-a", "-f", f"^[^ ]*python[^ ]* -m qlutui --config {config}$"],
        capture_output=True,
        text=True,
    ).stdout
    return found.splitlines()


def token_only_in_its_line(served: Served) -> None:
    """The token is written once, in the printed line: in no log, no other output."""
    assert served.out.read_text().count(served.token) == 1
    assert served.token not in served.err.read_text()


async def status(http: aiohttp.ClientSession, url: str, **headers: str) -> int:
    async with http.get(url, headers=headers, allow_redirects=False) as response:
        return response.status


async def websocket_status(http: aiohttp.ClientSession, url: str, **headers: str) -> int:
    """The HTTP status of a refused WebSocket handshake (101 when it was accepted)."""
    try:
        async with http.ws_connect(url, headers=headers):
            return 101
    except aiohttp.WSServerHandshakeError as error:
        return error.status


async def first_output(http: aiohttp.ClientSession, url: str, origin: str, config: Path) -> bytes:
    """Connect like the page does and return the app's first output (it really runs)."""
    async with http.ws_connect(url, headers={"Origin": origin}) as ws:
        await ws.send_json(["resize", {"width": 80, "height": 24}])
        message = await asyncio.wait_for(ws.receive(), START_S)
        assert message.type == aiohttp.WSMsgType.BINARY, message
        assert len(apps(config)) == 1
        return message.data


def test_serve_command_and_loopback() -> None:
    command = serve_command(Path("demo/config.toml"))
    assert command.startswith("TERM=xterm-256color ")
    assert f"-m qlutui --config {Path('demo/config.toml').resolve()}" in command
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("beosrv-c")


def test_non_loopback_warns_and_bad_input_fails(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    broken = tmp_path / "broken.toml"
    broken.write_text("[ui\n")
    done = qlutui_serve(broken)
    assert done.returncode == 1 and done.stderr.startswith("qlutui: ")
    assert "broken.toml" in done.stderr
    done = qlutui_serve(config, "--unix", str(tmp_path / "s"), "--port", "1")
    assert done.returncode == 1 and "cannot be combined" in done.stderr
    taken = tmp_path / "taken"
    taken.write_text("not a socket\n")
    done = qlutui_serve(config, "--unix", str(taken))
    assert done.returncode == 1 and "already exists" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and taken.read_text() == "not a socket\n"
    with serving(config, tmp_path, "--host", "0.0.0.0", "--port", "0") as served:
        line = served.err.read_text()
        assert "unencrypted" in line and "0.0.0.0:" in line and served.token not in line


def qlutui_serve(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qlutui", "--config", str(config), "serve", *args],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


async def test_without_the_token_or_from_another_origin_nothing(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    with serving(config, tmp_path, "--port", "0") as served:
        base, token = served.base, served.token
        ws = base.replace("http:", "ws:") + "/ws"
        async with aiohttp.ClientSession() as http:
            for url in (f"{base}/", f"{base}/?token=", f"{base}/?token={token[:-1]}x",
                        f"{base}/static/js/textual.js", f"{base}/download/x"):  # fmt: skip
                assert await status(http, url) == 403, url
            assert (
                await status(http, f"{base}/?token={token}", Origin="http://evil.example.com")
                == 403
            )
            assert await status(http, f"{base}/", Cookie=f"qlutui-serve-x={token}") == 403
            assert await websocket_status(http, ws, Origin=base) == 403
            assert await websocket_status(http, f"{ws}?token=nope", Origin=base) == 403
            evil = {"Origin": "http://evil.example.com"}
            assert await websocket_status(http, f"{ws}?token={token}", **evil) == 403
            other_port = {"Origin": "http://127.0.0.1:1"}  # another loopback port: same site
            assert await websocket_status(http, f"{ws}?token={token}", **other_port) == 403
            assert apps(config) == []  # no refused request started the app

            async with http.get(f"{base}/?token={token}") as page:
                assert page.status == 200
                assert page.headers["Referrer-Policy"] == "no-referrer"
                cookie = page.cookies[next(iter(page.cookies))]
                assert (
                    cookie.value == token and cookie["httponly"] and cookie["samesite"] == "Strict"
                )
                assert f'data-session-websocket-url="{ws}"' in await page.text()
            assert (
                await status(http, f"{base}/static/js/textual.js", Cookie=f"{cookie.key}={token}")
                == 200
            )
            cross = {"Cookie": f"{cookie.key}={token}", "Sec-Fetch-Site": "same-site"}
            assert await status(http, f"{base}/", **cross) == 403
            assert await first_output(http, f"{ws}?token={token}", base, config)  # the app answers
    token_only_in_its_line(served)


@pytest.mark.ssh
async def test_unix_socket_through_a_real_ssh_tunnel(sshd: SSHD, tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    sock = tmp_path / "serve.sock"
    with serving(config, tmp_path, "--unix", str(sock)) as served:
        info = sock.lstat()
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        assert f"ssh -L 8000:{sock} " in served.line
        port = free_port()
        tunnel = subprocess.Popen(
            ["ssh", "-N", "-F", "none", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
             "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={sshd.known_hosts}",
             "-i", str(sshd.identity), "-p", str(sshd.port), "-L", f"127.0.0.1:{port}:{sock}",
             f"{sshd.user}@{sshd.host}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + START_S
            while not _listening(port):
                assert tunnel.poll() is None, tunnel.communicate()[1]
                assert time.monotonic() < deadline, "the tunnel did not open"
                await asyncio.sleep(0.1)
            base = f"http://127.0.0.1:{port}"  # what the printed URL says, on the tunnel's port
            async with aiohttp.ClientSession() as http:
                assert await status(http, f"{base}/") == 403
                assert await status(http, f"{base}/?token={served.token}") == 200
                ws = f"ws://127.0.0.1:{port}/ws?token={served.token}"
                assert await first_output(http, ws, base, config)
        finally:
            stop(tunnel)  # type: ignore[arg-type]
    assert not sock.exists()  # removed when serve ends
    token_only_in_its_line(served)


@contextlib.asynccontextmanager
async def foreign_site(page: str) -> AsyncIterator[str]:
    """Another origin on this machine: an aiohttp server on another loopback port."""

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[str]:
    """A headless Chromium; yields its DevTools HTTP address."""
    assert CHROMIUM
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-webgl",
         "--disable-background-networking", "--disable-quic", "--no-first-run",
         "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--window-size=1024,768", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_S
        while not (profile / "DevToolsActivePort").exists():
            assert time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{(profile / 'DevToolsActivePort').read_text().split()[0]}"
    finally:
        stop(browser)  # type: ignore[arg-type]


async def page_tools(http: aiohttp.ClientSession, devtools: str, target_id: str | None = None):
    targets = await (await http.get(f"{devtools}/json/list")).json()
    page = next(t for t in targets if t["type"] == "page" and target_id in (None, t["id"]))
    return await http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)


@needs_chromium
async def test_printed_url_in_headless_chromium_and_foreign_page_refused(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "demo")
    with (
        serving(config, tmp_path, "--port", "0") as served,
        chromium(tmp_path / "chromium") as devtools,
    ):
        async with aiohttp.ClientSession() as http, await page_tools(http, devtools) as ws:
            tools = DevTools(ws)
            await tools.call("Page.enable")
            await tools.call("Page.navigate", url=served.line.split()[-1])
            text, deadline = "", time.monotonic() + START_S
            while "Qlustar Images" not in text or "Manage Chroots" not in text:
                assert time.monotonic() < deadline, f"no Manage menu in the page: {text!r}"
                await asyncio.sleep(0.5)
                text = await page_text(tools)
            (tmp_path / "browser.png").write_bytes(await screenshot(tools))
            assert "qlutui - Manage" in text
            [app] = apps(config)  # the app textual-serve runs for the page

            # The browser now holds the cookie; a page of another origin opens a WebSocket
            ws_url = served.base.replace("http:", "ws:") + "/ws"
            page = (
                f"<script>const ws = new WebSocket({ws_url!r});"
                "ws.onopen = () => { document.title = 'opened'; };"
                "ws.onclose = (e) => { if (document.title !== 'opened')"
                " document.title = 'refused ' + e.code; };</script>"
            )
            async with foreign_site(page) as evil:
                created = await tools.call("Target.createTarget", url=evil)
                async with await page_tools(http, devtools, created["targetId"]) as evil_ws:
                    evil_tools = DevTools(evil_ws)
                    title = ""
                    while not title.startswith(("opened", "refused")):
                        assert time.monotonic() < deadline + START_S, title
                        await asyncio.sleep(0.2)
                        done = await evil_tools.call(
                            "Runtime.evaluate", expression="document.title"
                        )
                        title = done["result"]["value"]
            assert title == "refused 1006", title  # the handshake failed
            assert apps(config) == [app]  # and no second app was started
    token_only_in_its_line(served)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
