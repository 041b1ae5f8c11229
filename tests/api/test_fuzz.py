"""Fuzzing the whole validator and compiler from raw bytes (hypothesis).

The property: whatever the bytes, reading them (bounded.py) raises only `InputRefused`, and
validating and compiling them for both engines (and reading them as a PipelineSetting)
returns findings and never raises; each input is done within a time bound, and memory stays
bounded over the run. Inputs are raw bytes, YAML built from the model's own keys with aliases,
anchors, tags, tabs and deep nesting, and byte-level mutations of the real example files.

Budget: FUZZ_EXAMPLES inputs per strategy (default 150, a few tens of seconds in CI, the same
inputs each time); `FUZZ_EXAMPLES=20000 FUZZ_RANDOM=1 pytest tests/api/test_fuzz.py` for a long,
randomised run.
"""

from __future__ import annotations

import os
import resource
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import EXAMPLES
from translator.api.bounded import InputRefused, ReadLimits, decode_utf8, read_capped
from translator.api.setting_validation import validate_setting_text
from translator.compiler.compile import check_text, compile_text
from translator.compiler.context import ExecutionContext

EXAMPLES_N = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PER_INPUT_SECONDS = 10.0  # the reader's own budget is 10 s; a loaded CI machine gets the same
LIMITS = ReadLimits(max_bytes=64 * 1024)  # small inputs: many of them in the budget
FUZZ = settings(max_examples=EXAMPLES_N, deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
_START_RSS = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _whole_pipeline(data: bytes) -> None:
    """Everything a file goes through, for one input; fails the property on any other exception."""
    import io

    started = time.monotonic()
    try:
        text = decode_utf8(read_capped(io.BytesIO(data), limit=LIMITS.max_bytes, subject="fuzz"), subject="fuzz")
    except InputRefused:
        return
    clock = time.monotonic
    for engine in ("argo", "jenkins"):
        checked = check_text(text, engine=engine, read_limits=LIMITS, clock=clock)
        compiled = compile_text(text, ExecutionContext(commit="a" * 40), engine=engine, read_limits=LIMITS,
                                clock=clock)
        assert checked.findings or checked.ok
        assert compiled.ok or any(f.severity.value == "error" for f in compiled.findings)
        if checked.ok:  # what validate accepts of every run, this run compiles
            assert compiled.ok or any(f.path == "(run)" for f in compiled.findings)
        for finding in [*checked.findings, *compiled.findings]:
            assert finding.path and finding.message and len(str(finding)) < 2000
    spec, findings = validate_setting_text(text, limits=LIMITS)
    assert spec is not None or findings
    assert time.monotonic() - started < PER_INPUT_SECONDS


KEYS = ["stages", "name", "steps", "when", "branch", "event", "include", "exclude", "timeout", "notification",
        "condition", "recipients", "runScriptConfig", "image", "shellScript", "publishImageConfig", "tag",
        "pushRemote", "registry", "applyYamlConfig", "path", "content", "publishCatalogConfig", "applyAppConfig",
        "answers", "catalogTemplate", "version", "targetNamespace", "env", "envFrom", "sourceName", "sourceKey",
        "sourceCodeConfig", "privileged", "cpuRequest", "memoryLimit", "cache", "paths", "enabled", "<<",
        "executorQuota", "argo", "spec", "kind", "maxPipelineFileBytes"]
SCALARS = ["", "~", "null", "true", "yes", "y", "0", "-1", "1.5", "1e400", ".inf", "0x1F", "99999999999999999999",
           "alpine", "UPPER/Case:1", "alpine::1", "[", "*", "feature/*", "'quoted'", '"\\0"', '"\\t"', "a\tb",
           "{{workflow.name}}", "${CICD_GIT_COMMIT}", "2001-13-45", "!!binary aGk=", "!local x", "=", "|", ">",
           "push", "pull_request", "Success", "- x", "&a x", "*a", "*nope", "? x", "%", "@", "`", "\u2028"]


@st.composite
def yaml_like(draw: st.DrawFn) -> bytes:
    """Lines of `key: value`, list items, anchors, aliases and flow collections, at random depths."""
    lines = []
    for _ in range(draw(st.integers(1, 40))):
        indent = " " * draw(st.integers(0, 12)) + draw(st.sampled_from(["", "", "\t", "- ", "- - "]))
        key = draw(st.sampled_from(KEYS))
        value = draw(st.one_of(
            st.sampled_from(SCALARS),
            st.builds(lambda k, v: f"{{{k}: {v}}}", st.sampled_from(KEYS), st.sampled_from(SCALARS)),
            st.builds(lambda n: "[" * n + "]" * n, st.integers(0, 200)),
            st.builds(lambda a, n: f"&{a} [{', '.join([f'*{a}'] * n)}]", st.sampled_from("ab"), st.integers(0, 9)),
            st.text(max_size=20),
        ))
        lines.append(f"{indent}{key}:{draw(st.sampled_from([' ', '  ', chr(9)]))}{value}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


_SEEDS = [p.read_bytes() for p in sorted(EXAMPLES.glob("*/.rancher-pipeline.yml"))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from([b"\t", b"&x ", b"*x", b"[", b"]", b"{", b"- ", b"\n  ", b"\0",
                                                b": ", b"<<: *x\n", b"\xff", b"'", b'"']))
        elif op == "delete":
            del data[at: at + draw(st.integers(1, 20))]
        else:
            data[at:at] = data[at: at + draw(st.integers(1, 200))]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_raw_bytes_never_raise(data: bytes) -> None:
    _whole_pipeline(data)


@FUZZ
@given(yaml_like())
def test_yaml_built_from_the_model_s_keys_never_raises(data: bytes) -> None:
    _whole_pipeline(data)


@FUZZ
@given(mutated())
def test_mutated_real_files_never_raise(data: bytes) -> None:
    _whole_pipeline(data)


def test_memory_stayed_bounded_over_the_fuzz_run() -> None:
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - _START_RSS) / 1024
    assert grown_mb < 600, f"peak RSS grew by {grown_mb:.0f} MB"
