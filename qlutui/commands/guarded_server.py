"""GuardedServer: textual-serve's Server behind a secret of each start and an Origin check.

textual-serve checks nothing: any web page the browser opens could connect a WebSocket to it
and drive qlutui (as root), and so could any local user. Here every request (the page, its
static files, the WebSocket, downloads) must carry the start's token: as `?token=` (the URL
`qlutui serve` prints) or as the cookie the page sets from it (HttpOnly, SameSite=Strict, its
name derived from the token so two servers on one host keep their own). A request is refused
with 403, before any handler runs and so before any app process starts, when:

- the token is missing or wrong (compared in constant time);
- its Origin header is not the served origin itself: cookies ignore ports, so a page on another
  loopback port is "same-site" and its WebSocket would carry the cookie;
- it rests on the cookie alone and the browser says another site made it (Sec-Fetch-Site).

The socket is bound by the caller (`serve.listen_tcp` / `serve.listen_unix`); aiohttp's
access log stays off so the token never reaches a log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

COOKIE_PREFIX = "qlutui-serve-"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$")
_FOREIGN_FETCH = ("same-site", "cross-site")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_matches(token: str, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(offered.encode(), token.encode())


def refusal(request: web.Request, token: str, cookie: str) -> str | None:
    """Why `request` gets nothing, or None when it may pass."""
    if not _HOST.match(request.host):
        return "bad Host header"  # it is written into the page's URLs
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return "foreign origin"
    if "token" in request.query:
        return None if token_matches(token, request.query["token"]) else "wrong token"
    if not token_matches(token, request.cookies.get(cookie)):
        return "no token"
    if request.headers.get("Sec-Fetch-Site") in _FOREIGN_FETCH:
        return "foreign origin"
    return None


class GuardedServer(Server):
    def __init__(self, command: str, *, token: str, title: str) -> None:
        super().__init__(command, title=title)
        self.token = token
        self.cookie = COOKIE_PREFIX + hashlib.sha256(token.encode()).hexdigest()[:12]

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        reason = refusal(request, self.token, self.cookie)
        if reason is not None:
            raise web.HTTPForbidden(text=f"qlutui serve: {reason}\n")
        response = await handler(request)
        if response.prepared:  # a WebSocket, ended: its headers went long ago
            return response
        response.headers["Referrer-Policy"] = "no-referrer"  # the page's URL holds the token
        if request.path == "/" and "token" in request.query:
            response.set_cookie(self.cookie, self.token, path="/", httponly=True, samesite="Strict")
        return response

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """textual-serve's page, its URLs on the origin the browser used (a tunnel's local port,
        say) instead of a fixed public URL."""
        origin = f"{request.scheme}://{request.host}"
        ws_origin = ("wss" if request.scheme == "https" else "ws") + origin[len(request.scheme) :]
        router = request.app.router
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{ws_origin}{router['websocket'].url_for()}",
            "config": {"static": {"url": f"{origin}{router['static'].url_for(filename='/')}"}},
            "application": {"name": self.title},
        }

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: `qlutui serve` printed its one line (with the URL) already."""

    def run(self, sock: socket.socket) -> None:
        """Serve on the bound, listening `sock` until SIGINT or SIGTERM."""
        self.initialize_logging()
        web.run_app(self._make_app(), sock=sock, access_log=None, print=None)
