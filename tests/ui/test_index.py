"""The executions' index the pipeline pages read: the same pages as ordering the whole list would
give, after any sequence of adds, changes (a run numbered late, a state moving) and deletes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from translator.ui.index import RunIndex

STATES = ("Waiting", "Queueing", "Building", "Success", "Failed")


def _ex(name: str, pipeline: str, run: int, branch: str, state: str, second: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "team", "creationTimestamp": f"2026-05-01T12:00:{second:02d}Z"},
            "spec": {"pipelineName": pipeline, "run": run, "branch": branch},
            "status": {"executionState": state}}


def _reference(objs: dict[str, dict[str, Any]], pipeline: str, branch: str, state: str, page: int,
               per_page: int) -> tuple[list[str], int, int, int, tuple[str, ...]]:
    """What the page is, computed the plain way: everything of the pipeline, filtered, sorted."""
    mine = [o for o in objs.values() if o["spec"]["pipelineName"] == pipeline]
    chosen = [o for o in mine if (not branch or o["spec"]["branch"] == branch)
              and (not state or o["status"]["executionState"] == state)]
    chosen.sort(key=lambda o: (o["spec"]["run"], o["metadata"]["creationTimestamp"], o["metadata"]["name"]),
                reverse=True)
    pages = max(1, -(-len(chosen) // per_page))
    page = min(max(page, 1), pages)
    names = [o["metadata"]["name"] for o in chosen[(page - 1) * per_page:page * per_page]]
    return names, len(chosen), page, pages, tuple(sorted({o["spec"]["branch"] for o in mine} - {""}))


operation = st.tuples(st.sampled_from(["put", "put", "put", "delete"]), st.integers(0, 30),
                      st.sampled_from(["web", "api"]), st.integers(0, 12), st.sampled_from(["main", "dev", ""]),
                      st.sampled_from(STATES), st.integers(0, 59))


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=80), st.sampled_from(["", "main", "dev"]), st.sampled_from(["", *STATES]),
       st.integers(0, 6), st.sampled_from([1, 3, 25]))
def test_pages_match_ordering_the_whole_list(ops: list[Any], branch: str, state: str, page: int,
                                            per_page: int) -> None:
    index, objs = RunIndex(), {}
    for op, n, pipeline, run, b, s, second in ops:
        name = f"run-{n}"
        if op == "delete":
            objs.pop(name, None)
            index.remove(name)
        else:
            old = objs.get(name)
            objs[name] = _ex(name, old["spec"]["pipelineName"] if old else pipeline, run, b, s, second)
            index.put(objs[name])
    assert len(index) == len(objs)
    for pipeline in ("web", "api", "none"):
        got = index.page(pipeline, branch=branch, state=state, page=page, per_page=per_page)
        want = _reference(objs, pipeline, branch, state, page, per_page)
        assert ([o["metadata"]["name"] for o in got.runs], got.total, got.page, got.pages, got.branches) == want


def test_the_index_holds_the_objects_it_was_given_not_copies() -> None:
    obj = _ex("web-1", "web", 1, "main", "Success", 0)
    index = RunIndex([obj])
    assert index.page("web").runs[0] is obj
