"""The UI in a real browser (headless Chromium via Playwright) against the API double with RBAC,
the real controller and the Argo simulator: what a user sees and does.

With UPDATE_SCREENSHOTS=1 the run page and the editor are saved to docs/img/ (docs/ui.md).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from tests.controller.harness import SIMPLE, wait_for
from tests.ui.conftest import login
from tests.ui.harness import UiWorld

ROOT = Path(__file__).resolve().parents[2]


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    target = ROOT / "docs" / "img" / name if os.environ.get("UPDATE_SCREENSHOTS") and not os.environ.get("CI") \
        else tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True, caret="initial")
    assert target.stat().st_size > 10_000


def _step(page: Any, stage: int, step: int) -> Any:
    return page.locator(f'[data-step="{stage}-{step}"]')


def _state(page: Any, stage: int, step: int) -> str:
    return str(_step(page, stage, step).get_attribute("data-state"))


RUN_URL = re.compile(r"/ns/team/runs/(web-run-[a-z0-9]+)$")


def _start_run(page: Any) -> str:
    """Press Run on the pipeline page; the run's name (the controller numbers it) from the page it opens."""
    page.click("#run-button")
    page.wait_for_url(RUN_URL)
    match = RUN_URL.search(page.url)
    assert match is not None
    return match.group(1)


def _no_js_errors(page: Any) -> None:
    assert page.js_errors == [], page.js_errors  # a CSP violation or script error shows here


def test_start_a_run_and_watch_its_steps_turn_green_without_a_reload(world: UiWorld, page: Any) -> None:
    world.system.apply_pipeline("web")
    world.system.sim.paused.update({"clone", "ship"})
    login(page, world, "alice-token")
    row = page.locator('[data-pipeline="web"]')
    assert "https://git.example.com/web.git" in row.inner_text() and "push" in row.inner_text()
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/ns/team/pipelines/web$"))
    name = _start_run(page)
    page.evaluate("window.__samePage = true")
    wait_for(lambda: _state(page, 0, 1) == "Building", 10, "the clone step to run")
    assert [_state(page, s, t) for s, t in ((1, 1), (1, 2), (2, 1))] == ["Waiting"] * 3
    page.evaluate("document.querySelector('[data-step=\"2-1\"]').__shown = true")
    assert page.locator("#engine-link").get_attribute("href") == f"https://argo.example.com/workflows/team/{name}"
    world.system.sim.paused.discard("clone")
    wait_for(lambda: _state(page, 1, 1) == "Success" and _state(page, 1, 2) == "Success", 10, "Build to succeed")
    wait_for(lambda: _state(page, 2, 1) == "Building", 10, "Ship to start")  # a later status write of its own
    world.system.sim.paused.discard("ship")
    wait_for(lambda: page.inner_text("#run-state") == "Success", 10, "the run to succeed")
    assert _state(page, 2, 1) == "Success"
    assert page.evaluate("window.__samePage") is True  # updated in place, never reloaded
    # the card shown is the one given the new state (app.js changes only what differs), not a new copy
    assert page.evaluate("document.querySelector('[data-step=\"2-1\"]').__shown") is True
    assert world.system.execution(name)["spec"]["triggerUserName"] == "alice"
    assert page.inner_text("h1").startswith("web #1")  # numbered by the controller
    page.goto(world.url + "/")
    assert "Success" in page.locator('[data-pipeline="web"]').inner_text()
    _no_js_errors(page)


def test_a_running_steps_log_streams_live_masked_then_ends(world: UiWorld, page: Any) -> None:
    config = copy.deepcopy(SIMPLE)
    config["stages"][0]["steps"][0]["envFrom"] = [{"sourceName": "db", "sourceKey": "password"}]
    world.system.secret("db", {"password": "hunter2-s3cret"})
    world.system.apply_pipeline("web", config)
    world.system.sim.paused.add("build-1")
    login(page, world, "alice-token")
    page.goto(world.url + "/ns/team/pipelines/web")
    name = _start_run(page)
    wait_for(lambda: _state(page, 1, 1) == "Building", 10, "build-1 to run")
    _step(page, 1, 1).click()
    log = page.locator("#log-text")
    wait_for(lambda: f"step build-1 of {name}" in log.inner_text(), 10, "the log so far")
    world.system.sim.write_log("team", name, "build-1", "compiling module one\n")
    wait_for(lambda: "compiling module one" in log.inner_text(), 5, "a new line, streamed")
    world.system.sim.write_log("team", name, "build-1", "compiling module two with hunter2-s3cret\n")
    wait_for(lambda: "compiling module two" in log.inner_text(), 5, "another line")
    assert "compiling module two with ***" in log.inner_text() and "hunter2" not in log.inner_text()  # masked
    assert page.locator("#log-end").inner_text() == ""  # still running: the stream stays open
    world.system.sim.paused.discard("build-1")
    wait_for(lambda: "end of log" in page.locator("#log-end").inner_text(), 10, "the end of the log")
    assert log.inner_text().startswith("==> stage 1 'Build', step 1")  # the same view as `translator logs`
    _no_js_errors(page)


def test_stop_a_run(world: UiWorld, page: Any) -> None:
    world.system.apply_pipeline("web")
    world.system.sim.paused.add("build-1")
    login(page, world, "alice-token")
    page.goto(world.url + "/ns/team/pipelines/web")
    _start_run(page)
    wait_for(lambda: _state(page, 1, 1) == "Building", 10, "build-1 to run")
    page.click("#stop-button")
    wait_for(lambda: page.inner_text("#run-state") == "Aborted", 10, "the run to stop")
    assert _state(page, 1, 1) == "Aborted" and _state(page, 2, 1) == "Waiting"  # later stages never started
    assert "stopped by alice" in page.inner_text("#run")
    assert page.locator("#stop-button").count() == 0 and page.locator("#rerun-failed-button").count() == 1
    _no_js_errors(page)


def test_rerun_from_failed_reuses_what_succeeded(world: UiWorld, page: Any, tmp_path: Path) -> None:
    first: list[str] = []
    world.system.sim.outcome = lambda wf, task: "Failed" if [wf] == first and task == "ship" else "Succeeded"
    world.system.sim.paused.add("ship")
    world.system.apply_pipeline("web")
    login(page, world, "alice-token")
    page.goto(world.url + "/ns/team/pipelines/web")
    first.append(_start_run(page))
    world.system.sim.paused.discard("ship")
    wait_for(lambda: page.inner_text("#run-state") == "Failed", 15, "the run to fail")
    assert "Run: stage 'Ship' step 1 failed" in page.inner_text("#run")
    _shot(page, "run-page.png", tmp_path)
    page.click("#rerun-failed-button")
    page.wait_for_url(lambda url: RUN_URL.search(url) is not None and not url.endswith(first[0]))
    wait_for(lambda: page.inner_text("#run-state") == "Success", 15, "the rerun to succeed")
    assert _state(page, 1, 1) == "Skipped" and "reused from run 1" in _step(page, 1, 1).inner_text()
    assert _state(page, 2, 1) == "Success"
    assert f"rerun of {first[0]}" in page.inner_text("#run") and page.inner_text("h1").startswith("web #2")
    _no_js_errors(page)


def test_edit_a_config_see_the_error_at_its_line_and_save(world: UiWorld, page: Any, tmp_path: Path) -> None:
    world.system.apply_pipeline("web")
    login(page, world, "alice-token")
    page.goto(world.url + "/ns/team/pipelines/web/config")
    editor = page.locator("#config-text")
    wait_for(lambda: page.locator("#findings .ok").count() == 1, 10, "the saved config to validate")
    text = editor.input_value()
    lines = text.splitlines()
    image_line = next(i for i, line in enumerate(lines) if "image: alpine" in line)
    lines[image_line] = lines[image_line].replace("image: alpine", "imag: alpine")
    editor.fill("\n".join(lines) + "\n")
    error = page.locator("#findings .finding.error").first  # `image` missing: the runScriptConfig line
    wait_for(lambda: error.count() and f"line {image_line}" in error.inner_text(), 10, "the error at its line")
    assert "runScriptConfig.image: required" in error.inner_text()
    warning = page.locator("#findings .finding.warning").first  # the misspelt key, on its own line
    assert f"line {image_line + 1}" in warning.inner_text() and "did you mean `image`" in warning.inner_text()
    assert page.locator(f'#gutter mark.error[data-line="{image_line}"]').count() == 1
    assert page.locator(f'#gutter mark.warning[data-line="{image_line + 1}"]').count() == 1
    mark, box = page.locator(f'#gutter mark[data-line="{image_line}"]').bounding_box(), editor.bounding_box()
    assert abs(mark["y"] - (box["y"] + 6 + (image_line - 1) * 18)) < 3  # beside its line of text
    _shot(page, "editor.png", tmp_path)
    page.click("#save-button")  # refused: the file has errors, nothing is written
    wait_for(lambda: page.locator("#findings .finding.error").count() > 0, 5, "findings again")
    stored = world.system.kube.get("pipelines", "team", "web")["spec"]["config"]
    assert stored["stages"][0]["steps"][0]["runScriptConfig"]["image"] == "alpine"
    lines[image_line] = lines[image_line].replace("imag: alpine", "image: golang:1.22")
    editor.fill("\n".join(lines) + "\n")
    wait_for(lambda: page.locator("#findings .ok").count() == 1, 10, "no findings")
    page.click("#save-button")
    wait_for(lambda: page.locator("#saved").count() == 1, 10, "saved")
    stored = world.system.kube.get("pipelines", "team", "web")["spec"]["config"]
    assert "golang:1.22" in str(stored)
    page.click("#save-button")  # the editor's resourceVersion moved with the save: saving again works
    wait_for(lambda: "Saved" in page.inner_text("#saved"), 10, "saved again")
    _no_js_errors(page)


def test_a_user_without_rights_sees_nothing_and_cannot_act(world: UiWorld, page: Any) -> None:
    world.system.apply_pipeline("web")
    world.system.kube.create("pipelineexecutions", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution", "metadata": {"name": "web-9"},
        "spec": {"pipelineName": "web"}})
    login(page, world, "nobody-token", "team other")
    assert "No namespace whose pipelines you may list" in page.inner_text("#pipelines")
    response = page.goto(world.url + "/ns/team/runs/web-9")
    assert response.status == 403 and "does not let nobody read pipelineexecutions" in page.inner_text("main")
    response = page.goto(world.url + "/ns/team/pipelines/web")
    assert response.status == 403
    csrf = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    answer = page.evaluate("""async (csrf) => {
        const r = await fetch('/ns/team/pipelines/web/run', {method: 'POST', headers: {'X-CSRF-Token': csrf,
            'Content-Type': 'application/x-www-form-urlencoded'}, body: 'branch=master'});
        return [r.status, await r.text()]; }""", csrf)
    assert "The API server said 403" in answer[1] and 'User \\"nobody\\"' not in answer[1]
    assert len(world.system.kube.list("pipelineexecutions", "team")["items"]) == 1  # nothing was made
    _no_js_errors(page)


def test_a_viewer_sees_runs_but_has_no_buttons_and_the_api_refuses_them(world: UiWorld, page: Any) -> None:
    world.system.apply_pipeline("web")
    world.system.sim.paused.add("build-1")
    from translator.controller import runs

    name = runs.create_run(world.system.kube, "team", "web")["metadata"]["name"]
    login(page, world, "viewer-token")
    assert page.locator('[data-pipeline="web"]').count() == 1
    page.goto(world.url + "/ns/team/pipelines/web")
    assert page.locator("#run-button").count() == 0 and "You may not start runs" in page.inner_text("main")
    page.goto(world.url + f"/ns/team/runs/{name}")
    wait_for(lambda: _state(page, 1, 1) == "Building", 10, "build-1 to run")
    assert page.locator("#stop-button").count() == 0
    csrf = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    text = page.evaluate("""async ([csrf, name]) => (await fetch(`/ns/team/runs/${name}/stop`, {method: 'POST',
        headers: {'X-CSRF-Token': csrf}})).text()""", [csrf, name])
    assert "The API server said 403" in text and "cannot patch" in text
    assert "devops.cubepaas.io/stop" not in str(world.system.execution(name)["metadata"].get("annotations"))
    _no_js_errors(page)


def test_no_token_in_urls_pages_or_storage(world: UiWorld, page: Any) -> None:
    who = "alice-token"
    world.system.apply_pipeline("web")
    seen: list[str] = []
    page.on("request", lambda req: seen.append(req.url))
    login(page, world, who)
    page.goto(world.url + "/ns/team/pipelines/web")
    assert seen and not any(who in url for url in seen)
    assert who not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "translator_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find(who) == -1  # HttpOnly: scripts cannot read it
