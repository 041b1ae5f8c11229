"""How a run's stages and steps are named for people: the UI's step cards and the description of a
commit status ("Failed at Test, then the step", joined by a single right-pointing angle quote).

Rancher's pipeline files give steps no names, so a step is named by what it runs or makes. The
layout matches the run's status: the implicit Clone stage first unless the file starts with a
clone step, as `compiler.plan` adds it.
"""

from __future__ import annotations

from typing import Any

SEP = "\u203a"  # the single right-pointing angle quote, as in "Failed at Test \u203a unit"


def step_label(step: dict[str, Any]) -> str:
    """A short name for a step (Rancher's files give steps none): what it runs or makes."""
    if "runScriptConfig" in step:
        cfg = step["runScriptConfig"] or {}
        first = next((line.strip() for line in str(cfg.get("shellScript") or "").splitlines() if line.strip()), "")
        return f"{cfg.get('image', '')}: {first}"[:80] if first else str(cfg.get("image", "script"))
    if "publishImageConfig" in step:
        return f"Publish image {(step['publishImageConfig'] or {}).get('tag', '')}"
    if "applyYamlConfig" in step:
        return f"Apply YAML {(step['applyYamlConfig'] or {}).get('path') or 'content'}"
    if "publishCatalogConfig" in step:
        return f"Publish catalog {(step['publishCatalogConfig'] or {}).get('catalogTemplate', '')}"
    if "applyAppConfig" in step:
        return f"Apply app {(step['applyAppConfig'] or {}).get('name', '')}"
    if "sourceCodeConfig" in step:
        return "Clone"
    return "step"


def stage_layout(config: dict[str, Any] | None) -> list[tuple[str, list[str]]]:
    """(stage name, step labels) as the run has them: Clone first unless the file starts with one."""
    stages = [s for s in (config or {}).get("stages") or [] if isinstance(s, dict)]
    layout = [(str(s.get("name", "")), [step_label(t) for t in s.get("steps") or [] if isinstance(t, dict)])
              for s in stages]
    first = (stages[0].get("steps") or [{}])[0] if stages and stages[0].get("steps") else {}
    if not (isinstance(first, dict) and "sourceCodeConfig" in first):
        layout.insert(0, ("Clone", ["Clone"]))
    return layout


def failed_step(config: dict[str, Any] | None, stages: list[dict[str, Any]]) -> str:
    """`<stage> SEP <step>` of the first failed step of a run's status, or ""."""
    layout = stage_layout(config)
    for si, stage in enumerate(stages):
        for ti, step in enumerate(stage.get("steps") or []):
            if isinstance(step, dict) and step.get("state") == "Failed":
                name = str(stage.get("name") or (layout[si][0] if si < len(layout) else f"stage {si}"))
                labels = layout[si][1] if si < len(layout) else []
                return f"{name} {SEP} {labels[ti] if ti < len(labels) else f'step {ti + 1}'}"
    return ""
