"""The pages and their live streams: login, pipelines, a pipeline's runs, a run, the config editor.

Page handlers are plain functions (Starlette runs them in its thread pool: they call the API
server through the user's client); live streams are async and read the session's watch caches.
A page the user may not read shows what Kubernetes said, not an empty success.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any
from urllib.parse import urlencode

import yaml
from kubernetes import client
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from translator.ui import auth, views
from translator.ui.auth import LoginRefused, Session
from translator.ui.index import WAITING
from translator.ui.live import Fragment, NamespaceWatch, Watches, digest, stream

NAMESPACES_TTL = 30.0
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def ui_of(request: Request) -> Any:
    return request.app.state.ui


def session_of(request: Request) -> Session:
    session: Session = request.state.session
    return session


def watches_of(session: Session) -> Watches:
    if session.watches is None:
        session.watches = Watches(session.kube, lambda verb, plural, ns: session.may(verb, plural, ns))
    watches: Watches = session.watches
    return watches


def namespace_watch(session: Session, ns: str) -> NamespaceWatch:
    return watches_of(session).namespace(ns)


def readable_namespaces(ui: Any, session: Session) -> list[str]:
    """Namespaces whose Pipelines the user may list: all namespaces when the user may list them,
    else those the UI was configured with and those typed at login."""
    memo = session.namespaces_seen
    if memo and time.monotonic() - memo[0] < NAMESPACES_TTL:
        return list(memo[1])
    candidates = set(ui.config.namespaces) | set(session.namespaces)
    if session.may("list", "namespaces", "", group=""):
        try:
            listed = session.kube.call(session.kube.core.list_namespace)
            candidates |= {n.metadata.name for n in listed.items}
        except client.ApiException:
            pass
    names = sorted(ns for ns in candidates if session.may("list", "pipelines", ns))
    session.namespaces_seen = (time.monotonic(), names)
    return names


def setting_for(watch: NamespaceWatch, pipeline: dict[str, Any] | None) -> dict[str, Any] | None:
    name = ((pipeline or {}).get("spec") or {}).get("settingName") or "default"
    return watch.get("pipelinesettings", name)


def _seen(request: Request, fragment: str) -> dict[str, str]:
    """The digest a live stream's page was rendered with (`?seen=`), if it looks like one."""
    value = request.query_params.get("seen", "")
    return {fragment: value} if len(value) == 32 and all(c in "0123456789abcdef" for c in value) else {}


def _fragment(ui: Any, template: str, context: dict[str, Any]) -> tuple[Markup, str]:
    """A live fragment rendered once for its page, and its digest for the page's stream (`seen`)."""
    html = ui.fragment(template, **context)
    return Markup(html), digest(html)  # our own template's output, escaped as it was rendered


# ---------------------------------------------------------------------------- login


def login_form(request: Request) -> Response:
    ui = ui_of(request)
    nonce = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or auth.new_login_nonce()  # two open forms both work
    response: Response = ui.render("login.html", request, nonce=nonce, error="",
                                   namespaces=" ".join(ui.config.namespaces))
    _cookie(request, response, auth.LOGIN_CSRF_COOKIE, nonce, ui.config.secure_cookies, path="/login")
    return response


async def login(request: Request) -> Response:
    ui = ui_of(request)
    form = await request.form()
    nonce = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
    namespaces = tuple(n for n in str(form.get("namespaces", "")).split() if n)
    error = ""
    if not nonce or str(form.get("nonce", "")) != nonce:
        error = "the login form expired: try again"
    else:
        token = str(form.get("token", ""))
        try:
            await run_in_threadpool(ui.sessions.login, token, namespaces)
        except LoginRefused as exc:
            error = str(exc)
        else:
            response = RedirectResponse("/", status_code=303)
            _cookie(request, response, auth.SESSION_COOKIE, token.strip(), ui.config.secure_cookies)
            response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/login")
            return response
    fresh = auth.new_login_nonce()
    page: Response = ui.render("login.html", request, status_code=401, nonce=fresh, error=error,
                               namespaces=" ".join(namespaces))
    _cookie(request, page, auth.LOGIN_CSRF_COOKIE, fresh, ui.config.secure_cookies, path="/login")
    return page


def logout(request: Request) -> Response:
    ui = ui_of(request)
    ui.sessions.logout(request.cookies.get(auth.SESSION_COOKIE, ""))
    response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


def _cookie(request: Request, response: Response, name: str, value: str, secure: bool, path: str = "/") -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", path=path,
                        secure=secure or request.url.scheme == "https")


# ---------------------------------------------------------------------------- pipelines


def _pipelines_context(ui: Any, session: Session) -> dict[str, Any]:
    groups = []
    for ns in readable_namespaces(ui, session):
        watch = namespace_watch(session, ns)
        rows = views.pipeline_rows(ns, watch.items("pipelines"), partial(watch.get, "pipelineexecutions"), ui.now())
        groups.append((ns, rows, watch.readable("pipelineexecutions")))
    return {"groups": groups}


def pipelines(request: Request) -> Response:
    ui, session = ui_of(request), session_of(request)
    response: Response = ui.render("pipelines.html", request, **_pipelines_context(ui, session))
    return response


async def live_pipelines(request: Request) -> Response:
    ui, session = ui_of(request), session_of(request)
    context = await run_in_threadpool(_pipelines_context, ui, session)
    shown = {ns for ns, _, _ in context["groups"]}

    def render() -> list[Fragment]:
        return [("pipelines", ui.fragment("_pipelines.html", **_pipelines_context(ui, session)))]

    def wants(plural: str, obj: dict[str, Any]) -> bool:
        return plural in ("pipelines", "pipelineexecutions") and obj["metadata"].get("namespace") in shown

    return StreamingResponse(stream(watches_of(session), wants, render), media_type="text/event-stream",
                             headers=SSE_HEADERS)


# ---------------------------------------------------------------------------- a pipeline's runs


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    state = q.get("state", "")
    try:
        page = max(1, int(q.get("page", "1")))
    except ValueError:
        page = 1
    return {"branch": q.get("branch", "")[:253], "state": state if state in views.STATES else "", "page": page}


def _history_context(ui: Any, session: Session, ns: str, name: str, filters: dict[str, Any]) -> dict[str, Any]:
    watch = namespace_watch(session, ns)
    page = views.history_page(watch.runs.page(name, **filters), ui.now())
    query = {k: v for k, v in filters.items() if v and k != "page"}
    return {"ns": ns, "name": name, "history": page, "filters": filters, "query": urlencode(query),
            "readable": watch.readable("pipelineexecutions")}


def pipeline(request: Request) -> Response:
    ui, session = ui_of(request), session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    watch = namespace_watch(session, ns)
    obj = watch.get("pipelines", name)
    if obj is None:
        return _missing(ui, request, session, "pipelines", ns, name)
    filters = _filters(request)
    context = _history_context(ui, session, ns, name, filters)
    history_html, seen = _fragment(ui, "_history.html", context)
    config_text = yaml.safe_dump(obj["spec"].get("config"), sort_keys=False) if obj["spec"].get("config") else ""
    response: Response = ui.render(
        "pipeline.html", request, pipeline=obj, config_text=config_text, history_html=history_html,
        live_query=urlencode({**{k: v for k, v in filters.items() if v}, "seen": seen}),
        may_run=session.may("create", "pipelineexecutions", ns), may_edit=session.may("update", "pipelines", ns),
        **context)
    return response


async def live_history(request: Request) -> Response:
    ui, session = ui_of(request), session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    filters = _filters(request)
    await run_in_threadpool(namespace_watch, session, ns)

    def render() -> list[Fragment]:
        return [("history", ui.fragment("_history.html", **_history_context(ui, session, ns, name, filters)))]

    def wants(plural: str, obj: dict[str, Any]) -> bool:
        return plural == "pipelineexecutions" and (obj.get("spec") or {}).get("pipelineName") == name

    return StreamingResponse(stream(watches_of(session), wants, render, seen=_seen(request, "history")),
                             media_type="text/event-stream", headers=SSE_HEADERS)


def editor(request: Request) -> Response:
    ui, session = ui_of(request), session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    try:
        obj = session.kube.get("pipelines", ns, name)  # fresh: the editor saves against this resourceVersion
    except client.ApiException as exc:
        return _api_refused(ui, request, session, exc)
    config = obj["spec"].get("config")
    text = yaml.safe_dump(config, sort_keys=False, width=1000) if config else ""
    response: Response = ui.render("editor.html", request, ns=ns, name=name, text=text, inline=config is not None,
                                   resource_version=obj["metadata"].get("resourceVersion", ""),
                                   may_edit=session.may("update", "pipelines", ns))
    return response


# ---------------------------------------------------------------------------- a run


RUN_BUTTONS = (("create", "pipelineexecutions"), ("patch", "pipelineexecutions"))  # Run/Rerun, Stop


def _may_now(session: Session, verb: str, plural: str, ns: str) -> bool:
    """For a live fragment: Kubernetes' last answer (asked again in the background when old), else asked now."""
    known = session.remembered(verb, plural, ns)
    return session.may(verb, plural, ns) if known is None else known


def _run_context(ui: Any, session: Session, ns: str, name: str, *, live: bool = False) -> dict[str, Any] | None:
    watch = namespace_watch(session, ns)
    ex = watches_of(session).run(ns, name)
    if ex is None:
        return None
    pipeline_obj = watch.get("pipelines", (ex.get("spec") or {}).get("pipelineName", ""))
    view = views.run_view(ex, lambda: watch.runs.queue(name), setting_for(watch, pipeline_obj),
                          ui.config.argo_url, ui.now(), ui.config.jenkins_url)
    may = partial(_may_now, session) if live else session.may
    return {"run": view, "may_create": may("create", "pipelineexecutions", ns),
            "may_stop": may("patch", "pipelineexecutions", ns),
            "version": str(ex["metadata"].get("resourceVersion") or "")}


def run(request: Request) -> Response:
    ui, session = ui_of(request), session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    context = _run_context(ui, session, ns, name)
    if context is None:
        return _missing(ui, request, session, "pipelineexecutions", ns, name)
    run_html, seen = _fragment(ui, "_run.html", context)
    response: Response = ui.render("run.html", request, run_html=run_html,
                                   live_query=urlencode({"version": context["version"], "seen": seen}), **context)
    return response


async def live_run(request: Request) -> Response:
    ui, session = ui_of(request), session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    watch = await run_in_threadpool(namespace_watch, session, ns)

    def render() -> list[Fragment]:
        context = _run_context(ui, session, ns, name, live=True)
        return [("run", ui.fragment("_run.html", **context))] if context else []

    def ready() -> bool:
        """Nothing to ask the API server: the run is kept whole and the buttons' answers are known."""
        return watches_of(session).kept(ns, name) and all(
            session.remembered(verb, plural, ns) is not None for verb, plural in RUN_BUTTONS)

    def wants(plural: str, obj: dict[str, Any]) -> bool:
        if plural != "pipelineexecutions":
            return False
        if obj["metadata"].get("name") == name:
            return True
        mine = watch.get("pipelineexecutions", name)  # a queued run's position moves with the others
        return mine is not None and views.state_of(mine) in WAITING

    version = request.query_params.get("version", "")

    def current() -> bool:
        """The page's run is the cached one (same resourceVersion) and its notices depend on no other run."""
        mine = watch.get("pipelineexecutions", name)
        return bool(version) and mine is not None and mine["metadata"].get("resourceVersion") == version \
            and views.state_of(mine) not in WAITING

    return StreamingResponse(stream(watches_of(session), wants, render, run=(ns, name), seen=_seen(request, "run"),
                                    current=current, ready=ready), media_type="text/event-stream",
                             headers=SSE_HEADERS)


# ---------------------------------------------------------------------------- refusals


def _missing(ui: Any, request: Request, session: Session, plural: str, ns: str, name: str) -> Response:
    """Not in the user's watch: either it does not exist or the user may not read it; say which."""
    if not session.may("get", plural, ns):
        message = f"Kubernetes does not let {session.user} read {plural} in namespace {ns}."
        code = 403
    else:
        message = f"{plural} {ns}/{name} does not exist."
        code = 404
    response: Response = ui.render("error.html", request, status_code=code, message=message)
    return response


def _api_refused(ui: Any, request: Request, session: Session, exc: client.ApiException) -> Response:
    response: Response = ui.render("error.html", request, status_code=exc.status if exc.status in (403, 404) else 502,
                                   message=api_message(exc))
    return response


def api_message(exc: client.ApiException) -> str:
    import json

    try:
        message = str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (TypeError, ValueError):
        message = str(exc.reason)
    return f"The API server said {exc.status}: {message}"
