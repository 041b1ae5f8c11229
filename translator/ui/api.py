"""What the user does: run, stop, rerun, validate and save a config — each with the user's client.

The same functions as `translator run / stop / rerun` (`controller.runs`), so a run started
here is the one the CLI would make (`run: 0`, numbered by the controller); Kubernetes refusing
(403) is shown as its message. Answers are htmx fragments, or an `HX-Redirect` to the new run.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from translator.api.config_validation import Finding, validate_text
from translator.controller import runs
from translator.ui.pages import api_message, session_of, ui_of

MAX_CONFIG_BYTES = 512 * 1024  # a Pipeline is stored in etcd: far below its 1.5 MiB object limit


def _flash(message: str, level: str = "error", status_code: int = 200) -> Response:
    from html import escape

    return HTMLResponse(f'<p class="flash {level}" role="alert">{escape(message)}</p>', status_code=status_code)


def _redirect(url: str) -> Response:
    return Response(status_code=204, headers={"HX-Redirect": url})


def _act(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, Response | None]:
    try:
        return fn(*args, **kwargs), None
    except runs.RunRefused as exc:
        return None, _flash(str(exc))
    except client.ApiException as exc:
        return None, _flash(api_message(exc))


async def start_run(request: Request) -> Response:
    session = session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    branch = str((await request.form()).get("branch", "")).strip()[:253]
    made, refused = await run_in_threadpool(_act, runs.request_run, session.kube, ns, name, branch=branch,
                                            user=session.user)
    return refused or _redirect(f"/ns/{ns}/runs/{made['metadata']['name']}")


async def stop_run(request: Request) -> Response:
    session = session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    _, refused = await run_in_threadpool(_act, runs.request_stop, session.kube, ns, name, session.user)
    return refused or _flash(f"stop requested by {session.user}", "info")


async def rerun(request: Request) -> Response:
    session = session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    from_failed = str((await request.form()).get("from_failed", "")) in ("1", "true", "on")
    made, refused = await run_in_threadpool(_act, runs.rerun, session.kube, ns, name, from_failed=from_failed,
                                            user=session.user)
    return refused or _redirect(f"/ns/{ns}/runs/{made['metadata']['name']}")


def findings_of(text: str) -> tuple[list[Finding], Any]:
    if len(text.encode()) > MAX_CONFIG_BYTES:
        from translator.api.config_validation import Severity

        return [Finding(Severity.ERROR, "(file)", f"larger than {MAX_CONFIG_BYTES // 1024} KiB")], None
    result = validate_text(text)
    return result.findings, result.config


def _findings_fragment(request: Request, text: str, findings: list[Finding]) -> Response:
    ui = ui_of(request)
    lines = max(1, text.count("\n") + 1)
    marks: dict[int, list[Finding]] = {}
    for f in findings:
        marks.setdefault(min(f.line or 1, lines), []).append(f)
    html = ui.fragment("_findings.html", findings=findings, lines=lines, marks=marks)
    return HTMLResponse(html)


async def validate(request: Request) -> Response:
    """The validator's findings for the editor's text, with a gutter marking their lines."""
    text = str((await request.form()).get("text", ""))
    findings, _ = await run_in_threadpool(findings_of, text)
    return _findings_fragment(request, text, findings)


async def save_config(request: Request) -> Response:
    """Validate, then replace the Pipeline's inline config — refused if someone changed it meanwhile."""
    session = session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    form = await request.form()
    text, version = str(form.get("text", "")), str(form.get("resourceVersion", ""))
    findings, config = await run_in_threadpool(findings_of, text)
    if config is None:
        return _findings_fragment(request, text, findings)

    def save() -> dict[str, Any]:
        current = session.kube.get("pipelines", ns, name)
        if version:  # the API server refuses (409) if the Pipeline changed since the editor read it
            current["metadata"]["resourceVersion"] = version
        # what the validator understood, defaults left out (they are filled again on every read)
        current["spec"]["config"] = config.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True,
                                                      mode="json")
        written: dict[str, Any] = session.kube.replace("pipelines", ns, name, current)
        return written

    written, refused = await run_in_threadpool(_act, save)
    if refused is not None:
        return refused
    response = _findings_fragment(request, text, findings)
    response.headers["HX-Trigger"] = "saved"
    ui = ui_of(request)
    note = ui.fragment("_saved.html", version=written["metadata"].get("resourceVersion", ""),
                       warnings=len(findings))
    response.body = response.body + note.encode()
    response.headers["content-length"] = str(len(response.body))
    return response
