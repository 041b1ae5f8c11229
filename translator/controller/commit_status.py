"""A run's state on its commit: the check a pull request shows, at GitHub, GitLab and Bitbucket.

Each run of a Pipeline with a SourceCodeCredential and a commit reports, under the context
`translator/<pipeline>`: pending when it is created or queued, running when it is Building,
and its end (success, failure, error, canceled). The description says why ("Failed at Test >
go: make test"); the link is the run's page in the UI when a UI URL is configured.

The APIs, as each provider documents them:
- GitHub: `POST /repos/{owner}/{repo}/statuses/{sha}` {state: pending|success|failure|error,
  target_url, description, context} (docs.github.com, REST "Create a commit status");
- GitLab: `POST /projects/{id}/statuses/{sha}` {state: pending|running|success|failed|canceled,
  ref, name, target_url, description} (docs.gitlab.com, "Commits API: set the pipeline status of a
  commit"); GitLab refuses a repeated state ("Cannot transition status via :enqueue from
  :pending"), which means it is already there;
- Bitbucket Cloud: `POST /2.0/repositories/{workspace}/{repo}/commit/{sha}/statuses/build`
  {key, state: INPROGRESS|SUCCESSFUL|FAILED|STOPPED, name, url, description, refname}; a key
  already there is overwritten (developer.atlassian.com, "Commit statuses");
- Bitbucket Server / Data Center: `POST /rest/build-status/1.0/commits/{sha}` {state:
  INPROGRESS|SUCCESSFUL|FAILED, key, name, url, description}, 204 (developer.atlassian.com,
  "Updating build status for commits"). Bitbucket needs a `url`: without a UI URL the link is
  the commit's own page.

Condition `Reported` (stored format): `Unknown`/`Reporting` while the final report is claimed
("claimed by <identity>"); `True`/`Reported` when it was accepted; `False` with the provider's
refusal as reason (`Forbidden`, `NotFound`, `Unreachable`, `NoCredential`, ...) while a report is
retried with backoff. Pending and running reports are remembered by the controller that made
them (a new leader says them again, which the providers take as the same status). The final
report is claimed with a resourceVersion-guarded write like notifications: only the writer that
wins sends, so a run gets one final report across controller restarts; a claim left by a
controller that died before recording the answer is taken over after `claim_timeout` (the
provider then gets the same final state again, which each of them treats as the same status).
Reports go out from a small thread pool: a slow provider never holds a reconcile worker or the run.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from kubernetes import client

from translator.api.resources_types import Condition, PipelineExecutionStatus
from translator.api.states import ConditionType
from translator.controller.labels import SEP, failed_step
from translator.controller.providers import ProviderError, _Http, repo_path
from translator.kubeclient import Kube, update_with_retry
from translator.status.execution import set_condition

log = logging.getLogger("translator.commit_status")

FINISHED = ("Success", "Failed", "Aborted", "Skipped")
MAX_DESCRIPTION = 140
FINAL_ATTEMPTS = 10
INTERIM_ATTEMPTS = 3

# neutral state -> each provider's word
_GITHUB = {"pending": "pending", "running": "pending", "success": "success", "failure": "failure",
           "error": "error", "canceled": "error", "skipped": "success"}
_GITLAB = {"pending": "pending", "running": "running", "success": "success", "failure": "failed",
           "error": "failed", "canceled": "canceled", "skipped": "success"}
_BB_CLOUD = {"pending": "INPROGRESS", "running": "INPROGRESS", "success": "SUCCESSFUL", "failure": "FAILED",
             "error": "FAILED", "canceled": "STOPPED", "skipped": "SUCCESSFUL"}
_BB_SERVER = {"pending": "INPROGRESS", "running": "INPROGRESS", "success": "SUCCESSFUL", "failure": "FAILED",
              "error": "FAILED", "canceled": "FAILED", "skipped": "SUCCESSFUL"}


@dataclass(frozen=True)
class Report:
    phase: str  # Pending, Running, Final
    state: str  # pending, running, success, failure, error, canceled, skipped
    description: str


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or [] if isinstance(c, dict)}


def wanted(obj: dict[str, Any]) -> Report:
    """What the run's commit should say now (pure)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    state = status.get("executionState") or "Waiting"
    conditions = _conditions(status)
    if state in ("Waiting", "Queueing"):
        return Report("Pending", "pending", "Queued behind other runs" if state == "Queueing" else "Waiting to start")
    if state == "Building":
        return Report("Running", "running", "Running")
    duration = f" in {status['duration']}" if status.get("duration") else ""
    if state == "Success":
        return Report("Final", "success", f"Succeeded{duration}")
    if state == "Skipped":
        why = (conditions.get("Initialized") or {}).get("message") or "the branch gets no runs"
        return Report("Final", "skipped", f"Skipped: {why}"[:MAX_DESCRIPTION])
    built = conditions.get("Built") or {}
    if state == "Aborted":
        return Report("Final", "canceled", str(built.get("message") or "Stopped").capitalize()[:MAX_DESCRIPTION])
    where = failed_step(spec.get("pipelineConfig"), [s for s in status.get("stages") or [] if isinstance(s, dict)])
    if built.get("reason") == "StepFailed" and where:
        return Report("Final", "failure", f"Failed at {where}"[:MAX_DESCRIPTION])
    why = next((c.get("message") for k in ("Built", "Provisioned", "Initialized")
                if (c := conditions.get(k)) and c.get("status") == "False" and c.get("message")), "the run failed")
    return Report("Final", "error", f"Error: {why}"[:MAX_DESCRIPTION])


@dataclass(frozen=True)
class Target:
    """Where and how one repository's statuses are posted."""

    kind: str  # github, gitlab, bitbucket-cloud, bitbucket-server
    base: str  # API base URL
    repo: str  # owner/name, group/sub/name, workspace/slug or scm/PROJ/slug
    web: str  # the repository's web base, for Bitbucket's commit link
    headers: dict[str, str]


def target_for(kind: str, repository_url: str, secret: dict[str, str], *, hostname: str = "",
               api_url: str = "") -> Target | None:
    """The provider endpoint of a repository and its credential's Secret; None for plain git."""
    repo = repo_path(repository_url)
    host = hostname or (re.sub(r"^(?:[a-z+]+://)?(?:[^@/]+@)?", "", repository_url).split("/")[0].split(":")[0])
    token, user, password = secret.get("token", ""), secret.get("username", ""), secret.get("password", "")
    bearer = {"Authorization": f"Bearer {token or password}"}
    basic = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()} \
        if user and password and not token else bearer
    if kind == "github":
        base = api_url or ("https://api.github.com" if host in ("", "github.com") else f"https://{host}/api/v3")
        return Target(kind, base, repo, "", {**bearer, "X-GitHub-Api-Version": "2022-11-28"})
    if kind == "gitlab":
        return Target(kind, api_url or f"https://{host or 'gitlab.com'}/api/v4", repo, "",
                      {"PRIVATE-TOKEN": token or password})
    if kind == "bitbucket":
        if host in ("", "bitbucket.org"):
            return Target("bitbucket-cloud", api_url or "https://api.bitbucket.org/2.0", repo,
                          f"https://bitbucket.org/{repo}", basic)
        web = f"https://{host}"
        return Target("bitbucket-server", api_url or web, repo, web, basic)
    return None


def commit_link(target: Target, sha: str) -> str:
    if target.kind == "bitbucket-cloud":
        return f"{target.web}/commits/{sha}"
    parts = target.repo.split("/")  # Server clone URLs: scm/<project>/<slug>
    project, slug = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", target.repo)
    return f"{target.web}/projects/{project.upper()}/repos/{slug}/commits/{sha}"


def post(target: Target, sha: str, *, context: str, report: Report, url: str, ref: str, timeout: float = 10.0) -> None:
    """Send one status; ProviderError when the provider refuses or does not answer."""
    http = _Http(target.base, target.headers, timeout=timeout)
    description = report.description[:MAX_DESCRIPTION]
    if target.kind == "github":
        body: dict[str, Any] = {"state": _GITHUB[report.state], "description": description, "context": context}
        if url:
            body["target_url"] = url
        http.request("POST", f"/repos/{target.repo}/statuses/{sha}", body)
    elif target.kind == "gitlab":
        body = {"state": _GITLAB[report.state], "name": context, "description": description}
        if url:
            body["target_url"] = url
        if ref:
            body["ref"] = ref
        try:
            http.request("POST", f"/projects/{quote(target.repo, safe='')}/statuses/{sha}", body)
        except ProviderError as exc:
            if exc.status == 400 and "Cannot transition status" in exc.message:
                return  # that state is already on the commit
            raise
    elif target.kind == "bitbucket-cloud":
        body = {"key": context_key(context), "state": _BB_CLOUD[report.state], "name": context,
                "url": url or commit_link(target, sha), "description": description}
        if ref:
            body["refname"] = ref
        http.request("POST", f"/repositories/{target.repo}/commit/{sha}/statuses/build", body)
    else:
        http.request("POST", f"/rest/build-status/1.0/commits/{sha}", {
            "key": context_key(context), "state": _BB_SERVER[report.state], "name": context,
            "url": url or commit_link(target, sha), "description": description})


def context_key(context: str) -> str:
    """Bitbucket keys are short identifiers: the context itself when it is short enough."""
    return context if len(context) <= 40 else f"{context[:31]}-{hashlib.sha256(context.encode()).hexdigest()[:8]}"


def refusal(exc: BaseException) -> tuple[str, str]:
    """(reason, message) of a failed report, for the condition."""
    if isinstance(exc, ProviderError):
        reason = {0: "Unreachable", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                  422: "Invalid", 400: "Invalid", 429: "RateLimited"}.get(exc.status, f"HTTP{exc.status}")
        if exc.status in (403, 404):
            return reason, f"{exc.message} (does the credential's token have the scope to write commit statuses?)"
        return reason, exc.message
    if isinstance(exc, client.ApiException):
        return "NoCredential", f"the SourceCodeCredential or its Secret cannot be read ({exc.status})"
    return "Failed", f"{type(exc).__name__}: {exc}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Reporter:
    """Decides from the cached execution whether a report is due, and sends it off the reconcile worker."""

    def __init__(self, kube: Kube, *, ui_url: str, identity: str, clock: Callable[[], datetime],
                 pipeline: Callable[[str, str], dict[str, Any] | None],
                 credential: Callable[[str, str], dict[str, Any] | None],
                 requeue: Callable[[str, str, float], None], claim_timeout: float = 120.0,
                 backoff: float = 2.0, max_backoff: float = 300.0) -> None:
        self.kube, self.ui_url, self.identity, self.clock = kube, ui_url.rstrip("/"), identity, clock
        self.pipeline, self.credential, self.requeue = pipeline, credential, requeue
        self.claim_timeout, self.backoff, self.max_backoff = claim_timeout, backoff, max_backoff
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="commit-status")
        self._lock = threading.Lock()
        self._inflight: set[tuple[str, str]] = set()
        self._attempts: dict[tuple[str, str, str], int] = {}
        self._not_before: dict[tuple[str, str], float] = {}
        self._said: dict[tuple[str, str], tuple[str, str]] = {}  # what this controller reported, while the cache lags

    # ------------------------------------------------------------------ deciding (no request)

    def reports_for(self, namespace: str, pipeline_name: str) -> bool:
        """Whether runs of this pipeline can have a commit status at all (a credential of a provider)."""
        pipeline = self.pipeline(namespace, pipeline_name)
        name = ((pipeline or {}).get("spec") or {}).get("sourceCodeCredentialName") or ""
        credential = self.credential(namespace, name) if name else None
        return credential is not None and (credential.get("spec") or {}).get("sourceCodeType") in (
            "github", "gitlab", "bitbucket")

    def _source(self, obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        spec, meta = obj.get("spec") or {}, obj.get("metadata") or {}
        if not spec.get("commit"):
            return None
        pipeline = self.pipeline(meta.get("namespace", ""), spec.get("pipelineName", ""))
        name = ((pipeline or {}).get("spec") or {}).get("sourceCodeCredentialName") or ""
        credential = self.credential(meta.get("namespace", ""), name) if name else None
        if pipeline is None or credential is None:
            return None
        if (credential.get("spec") or {}).get("sourceCodeType") not in ("github", "gitlab", "bitbucket"):
            return None
        return pipeline, credential

    def due(self, obj: dict[str, Any]) -> Report | None:
        """The report this execution needs now, or None (nothing to say, said already, or retried later)."""
        if self._source(obj) is None:
            return None
        report = wanted(obj)
        cond = _conditions(obj.get("status") or {}).get(ConditionType.REPORTED.value) or {}
        if cond.get("status") == "True":
            return None  # the final report was accepted
        if report.phase != "Final":
            if cond.get("reason") == "Reporting":
                return None
        elif cond.get("reason") == "Reporting" and cond.get("message") != f"claimed by {self.identity}":
            claimed = _parse(str(cond.get("lastUpdateTime") or ""))
            if claimed is not None and (self.clock() - claimed).total_seconds() < self.claim_timeout:
                key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
                self.requeue(*key, self.claim_timeout)  # look again once that claim may be stale
                return None
        return report

    def consider(self, obj: dict[str, Any] | None) -> None:
        """Called after each reconcile of an execution: queue a report when one is due."""
        if obj is None:
            return
        report = self.due(obj)
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if report is None or self._exhausted(*key, report) or self._said.get(key) == (report.phase, report.description):
            return
        with self._lock:
            if key in self._inflight:
                return  # the sender reads the execution again before it stops: it sends this one too
            wait = self._not_before.get(key, 0.0) - time.monotonic()
            if wait <= 0:
                self._inflight.add(key)
        if wait > 0:  # backing off: looked at again when the wait is over (the requeue of the failed
            # attempt may have merged into a sooner one of the same key, which came too early)
            self.requeue(*key, wait)
            return
        self._pool.submit(self._send, key)

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ sending (a pool thread)

    def _record(self, ns: str, name: str, cond: Condition, *,
                only_if: Callable[[dict[str, Any]], bool] = lambda _c: True) -> bool:
        """Write the Reported condition with a guarded write; False when `only_if` said no."""
        done = {"ok": False}

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            if not only_if(current):
                return None
            status = PipelineExecutionStatus.model_validate(current.get("status") or {})
            set_condition(status, cond.model_copy(), now=_stamp(self.clock()))
            done["ok"] = True
            return {**current, "status": status.to_wire()}

        update_with_retry(lambda: self.kube.get("pipelineexecutions", ns, name), change,
                          lambda body: self.kube.replace_status("pipelineexecutions", ns, name, body))
        return done["ok"]

    def _claim(self, current: dict[str, Any]) -> bool:
        report = self.due(current)
        return report is not None and report.phase == "Final"

    def _send(self, key: tuple[str, str]) -> None:
        """Report until nothing is due: a run that ended while its pending report was out gets its end too."""
        ns, name = key
        try:
            for _ in range(3):  # pending, running, final at most
                obj = self.kube.get("pipelineexecutions", ns, name)
                report = self.due(obj)
                if report is None or self._exhausted(ns, name, report) or \
                        self._said.get(key) == (report.phase, report.description):
                    return
                if report.phase == "Final":  # only the writer that wins the claim sends
                    claim = Condition(type=ConditionType.REPORTED, status="Unknown", reason="Reporting",
                                      message=f"claimed by {self.identity}")
                    if not self._record(ns, name, claim, only_if=self._claim):
                        return
                    obj = self.kube.get("pipelineexecutions", ns, name)
                source = self._source(obj)
                if source is None or not self._post(obj, *source, report):
                    return
        except Exception as exc:  # never the run's problem: logged, retried on the next reconcile
            log.warning("commit status not reported: %s", type(exc).__name__, extra={"execution": name,
                                                                                     "namespace": ns})
        finally:
            with self._lock:
                self._inflight.discard(key)

    def _exhausted(self, ns: str, name: str, report: Report) -> bool:
        limit = FINAL_ATTEMPTS if report.phase == "Final" else INTERIM_ATTEMPTS
        with self._lock:
            return self._attempts.get((ns, name, report.phase), 0) >= limit

    def _post(self, obj: dict[str, Any], pipeline: dict[str, Any], credential: dict[str, Any],
              report: Report) -> bool:
        """Post one report and record the answer; True when the provider accepted it."""
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        spec, pspec, cspec = obj["spec"], pipeline.get("spec") or {}, credential.get("spec") or {}
        kind = cspec.get("sourceCodeType", "")
        attempt_key = (ns, name, report.phase)
        where = ""
        try:
            secret = self.kube.secret_data(ns, cspec.get("secretName", ""))
            configs = [c.get("spec") or {} for c in self.kube.list("sourcecodeproviderconfigs", ns)["items"]
                       if (c.get("spec") or {}).get("type") == kind and (c.get("spec") or {}).get("enabled", True)]
            cfg = configs[0] if configs else {}
            target = target_for(kind, spec.get("repositoryUrl") or pspec.get("repositoryUrl", ""), secret,
                                hostname=cfg.get("hostname", ""), api_url=cfg.get("apiUrl", ""))
            if target is None:
                return False
            where = f"{target.kind}: {target.repo}@{spec['commit'][:7]}"
            url = f"{self.ui_url}/ns/{quote(ns)}/runs/{quote(name)}" if self.ui_url else ""
            ref = "" if spec.get("event") == "pull_request" else str(spec.get("branch") or "")
            post(target, spec["commit"], context=f"translator/{spec.get('pipelineName', '')}", report=report,
                 url=url, ref=ref)
        except (ProviderError, client.ApiException) as exc:
            reason, message = refusal(exc)
            with self._lock:
                attempts = self._attempts[attempt_key] = self._attempts.get(attempt_key, 0) + 1
            limit = FINAL_ATTEMPTS if report.phase == "Final" else INTERIM_ATTEMPTS
            self._record(ns, name, Condition(type=ConditionType.REPORTED, status="False", reason=reason,
                                             message=f"{report.state} not reported ({where or kind}), attempt "
                                                     f"{attempts} of {limit}: {message}"[:1000]),
                         only_if=lambda current: report.phase == "Final" or not _final_started(current))
            if attempts < limit:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1))
                with self._lock:
                    self._not_before[(ns, name)] = time.monotonic() + delay * 0.9
                self.requeue(ns, name, delay)
            log.warning("commit status not reported: %s", message, extra={"execution": name, "namespace": ns})
            return False
        with self._lock:
            self._attempts.pop(attempt_key, None)
            self._not_before.pop((ns, name), None)
            if len(self._said) > 100_000:
                self._said.clear()
            self._said[(ns, name)] = (report.phase, report.description)
        if report.phase == "Final":  # pending and running are remembered here only: the controller's own
            # status writes during the run would race with a condition written beside them
            self._record(ns, name, Condition(
                type=ConditionType.REPORTED, status="True", reason="Reported",
                message=f"{report.state} reported to {where} (translator/{spec.get('pipelineName', '')}): "
                        f"{report.description}"[:1000]))
        return True


def _final_started(obj: dict[str, Any]) -> bool:
    """The final report was claimed or made: an interim answer must not overwrite that."""
    cond = _conditions(obj.get("status") or {}).get(ConditionType.REPORTED.value) or {}
    return cond.get("status") == "True" or cond.get("reason") == "Reporting"


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


__all__ = ["SEP", "Report", "Reporter", "Target", "commit_link", "post", "refusal", "target_for", "wanted"]
