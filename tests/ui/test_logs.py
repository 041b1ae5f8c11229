"""A step's log in the UI once its pod is gone: from the log store (a real S3 server), through the same
viewer as `translator logs`, with the user's token — and a log that exists nowhere says so."""

from __future__ import annotations

import html
import io
import threading

import requests

from tests.controller.harness import wait_for
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from tests.ui.harness import UiWorld
from tests.ui.test_http import _events, _login, _run

BUCKET = "ui-logs"


def _stream(s: requests.Session, world: UiWorld, name: str, stage: int, step: int) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    with s.get(f"{world.url}/live/ns/team/runs/{name}/log?stage={stage}&step={step}", stream=True, timeout=20) as r:
        reader = threading.Thread(target=_events, args=(r, 50, seen), daemon=True)
        reader.start()
        wait_for(lambda: any(name == "end" for name, _ in seen), 15, "the end of the log")
    return seen


def test_a_finished_steps_log_comes_from_the_archive_after_the_pod_is_gone(world: UiWorld,
                                                                           s3_server: S3Server) -> None:
    store = s3_server.client()
    if not store.bucket_exists(BUCKET):
        store.make_bucket(BUCKET)
    world.system.kube.patch("pipelinesettings", "team", "default", {"spec": {"logs": {
        "endpoint": s3_server.endpoint, "bucket": BUCKET, "insecure": True, "credentialsSecret": "log-store"}}})
    world.system.secret("log-store", {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY})
    world.system.apply_pipeline("web")
    s, csrf = _login(world, "alice-token")
    name = _run(s, world, csrf)
    world.system.wait_state(name, "Success")
    run = world.system.execution(name)["spec"]["run"]
    archived = {o.object_name for o in store.list_objects(BUCKET, prefix=f"team/web/{run}/", recursive=True)}
    # where Argo archived build-1 and build-2: per container in a one-pod run, per pod otherwise (docs/logs.md)
    first, second = (next(k for k in (f"team/web/{run}/build-{i}.log", f"team/web/{run}/1/{i - 1}/main.log")
                          if k in archived) for i in (1, 2))
    text = b"compiled 42 packages\nok\n"
    store.put_object(BUCKET, first, io.BytesIO(text), len(text))  # over what Argo wrote
    store.remove_object(BUCKET, second)  # and this one lost
    kube = world.system.kube
    for pod in kube.call(kube.core.list_namespaced_pod, "team").items:  # the pods are gone
        kube.call(kube.core.delete_namespaced_pod, pod.metadata.name, "team")
    seen = _stream(s, world, name, 1, 1)
    body = html.unescape("".join(data for name, data in seen if name == "log"))
    assert body.startswith("==> stage 1 'Build', step 1") and "compiled 42 packages\nok\n" in body
    assert "end of log" in seen[-1][1]
    missing = _stream(s, world, name, 1, 2)  # never archived, pod gone: the viewer's own message
    assert "no longer exists" in html.unescape(missing[-1][1])
    assert f"not archived at s3://{BUCKET}/{second}" in html.unescape(missing[-1][1])
