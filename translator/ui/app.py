"""The Starlette application: routes, the session and CSRF checks, security headers.

Why Starlette: a small, maintained ASGI toolkit (routing, requests, streaming responses for
server-sent events, static files) with no ORM or admin to carry; uvicorn serves it. Pages are
Jinja2 templates rendered on the server; the browser runs only htmx and its SSE extension,
vendored in `static/` (see docs/architecture.md). Nothing is loaded from another origin: the
Content-Security-Policy says `'self'` for everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from kubernetes import client
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from translator.ui import api, auth, logs, pages
from translator.ui.auth import Session, Sessions

log = logging.getLogger("translator.ui")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
SWITCH_INTERVAL = 0.001  # seconds: the GIL's switch interval while the UI serves (see lifespan)


@dataclass
class UiConfig:
    """Operator settings of `translator ui` (flags or environment)."""

    secret: bytes  # signs CSRF tokens; replicas behind one Service share it
    namespaces: tuple[str, ...] = ()  # offered to users who may not list namespaces
    argo_url: str = ""  # the Argo Server UI's base URL, for links to Workflows
    jenkins_url: str = ""  # the deployed Jenkins as users reach it (`{namespace}` replaced), for build links
    secure_cookies: bool = False  # also set by a request that came over https
    idle_seconds: float = 900.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Ui:
    config: UiConfig
    sessions: Sessions
    templates: Environment

    def render(self, template: str, request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
        session: Session | None = getattr(request.state, "session", None)
        token = request.cookies.get(auth.SESSION_COOKIE, "")
        html = self.templates.get_template(template).render(
            request=request, session=session, csrf=auth.csrf_token(self.config.secret, token) if session else "",
            **context)
        return HTMLResponse(html, status_code=status_code)

    def fragment(self, template: str, **context: Any) -> str:
        return self.templates.get_template(template).render(**context)

    def now(self) -> datetime:
        return self.config.clock()


def ui_of(request: Request) -> Ui:
    found: Ui = request.app.state.ui
    return found


PUBLIC = ("/login", "/static/", "/healthz", "/favicon.ico")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "X-Frame-Options": "DENY"}


class SessionGuard:
    """A request needs a session (else the login page, or 401 for fragments and streams); one that
    changes something also needs the CSRF token of that session and, when the browser says one, an
    Origin of this host. Every answer gets the security headers. (Plain ASGI, so event streams pass
    through untouched.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        rejection = self._check(request)
        path = request.url.path

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in HEADERS.items():
                    headers.setdefault(key, value)
                headers.setdefault("Cache-Control", "public, max-age=86400" if path.startswith("/static/")
                                   else "no-store")
            await send(message)

        if rejection is not None:
            await rejection(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _check(self, request: Request) -> Response | None:
        ui = ui_of(request)
        path = request.url.path
        request.state.session = None
        unsafe = request.method in UNSAFE
        if unsafe and not _same_origin(request):
            return PlainTextResponse("cross-origin request refused", status_code=403)
        if path.startswith(PUBLIC):
            return None
        token = request.cookies.get(auth.SESSION_COOKIE, "")
        session = ui.sessions.get(token) if token else None
        if session is None:
            if request.headers.get("HX-Request") or path.startswith("/live/") or unsafe:
                return PlainTextResponse("log in again", status_code=401, headers={"HX-Redirect": "/login"})
            return RedirectResponse("/login", status_code=303)
        if unsafe and not auth.csrf_ok(ui.config.secret, token, request.headers.get("X-CSRF-Token", "")):
            return PlainTextResponse("missing or wrong CSRF token", status_code=403)
        request.state.session = session
        return None


def _same_origin(request: Request) -> bool:
    """No Origin (not a browser, or an old one) passes on to the CSRF check; `null` or another host fails."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def favicon(request: Request) -> Response:
    return Response(status_code=204)  # browsers ask on every page; without this they would meet the login redirect


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("translator")
    except PackageNotFoundError:
        return "dev"


def build(config: UiConfig, base: client.Configuration, *,
          make_client: Callable[[client.Configuration, str], Any] = auth.user_client) -> Starlette:
    """The app; `base` is the API server's address and TLS settings (no credentials)."""
    templates = Environment(loader=PackageLoader("translator.ui", "templates"),
                            autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    templates.filters["short"] = lambda sha: str(sha)[:7]
    templates.globals["version"] = _version()  # static URLs change with the package: cached for a day
    for name in templates.list_templates():  # compiled now, not on the first request that shows each page
        templates.get_template(name)
    ui = Ui(config, Sessions(base, idle_seconds=config.idle_seconds, make_client=make_client), templates)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(min(60.0, config.idle_seconds / 2))
                ui.sessions.sweep(busy=lambda s: bool(s.watches and s.watches.busy()))

        task = asyncio.create_task(sweep())
        # the watch threads and the event loop take turns at the GIL; a thread coming back from a socket read
        # waits out the other's switch interval (5 ms by default) each time: a hundred watch events behind a
        # hundred live renders trickled in one per 5 ms (0.5 s for the burst). 1 ms keeps the turns short.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
        try:
            yield
        finally:
            sys.setswitchinterval(switch)
            task.cancel()
            ui.sessions.close_all()

    routes = [
        Route("/healthz", healthz),
        Route("/favicon.ico", favicon),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/", pages.pipelines),
        Route("/ns/{ns}/pipelines/{name}", pages.pipeline),
        Route("/ns/{ns}/pipelines/{name}/config", pages.editor, methods=["GET"]),
        Route("/ns/{ns}/pipelines/{name}/config", api.save_config, methods=["POST"]),
        Route("/ns/{ns}/pipelines/{name}/run", api.start_run, methods=["POST"]),
        Route("/ns/{ns}/runs/{name}", pages.run),
        Route("/ns/{ns}/runs/{name}/stop", api.stop_run, methods=["POST"]),
        Route("/ns/{ns}/runs/{name}/rerun", api.rerun, methods=["POST"]),
        Route("/ns/{ns}/runs/{name}/logs", logs.panel),
        Route("/api/validate", api.validate, methods=["POST"]),
        Route("/live/pipelines", pages.live_pipelines),
        Route("/live/ns/{ns}/pipelines/{name}", pages.live_history),
        Route("/live/ns/{ns}/runs/{name}", pages.live_run),
        Route("/live/ns/{ns}/runs/{name}/log", logs.live_log),
        Mount("/static", StaticFiles(packages=[("translator.ui", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SessionGuard)], lifespan=lifespan)
    app.state.ui = ui
    return app
