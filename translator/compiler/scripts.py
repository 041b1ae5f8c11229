"""What each step type runs: its image, its shell script, and the variables the script reads.

The scripts are fixed text. Everything a user wrote reaches them only through environment
variables (`"$PLUGIN_TAG"`, always quoted) or files beside the script, so no value can change
what a script does. `runScriptConfig` runs the user's own script, byte for byte.

How a script is started is one rule for both engines (`launch_command`), Jenkins' own:
Rancher wrote every step as an `sh` step around the script (rancher
pkg/pipeline/engine/jenkins/convert.go), and Jenkins' durable-task runs an `sh` step as
`sh -xe <file>` unless the text starts with `#!` (durable-task BourneShellScript:
launchWithCookie, scriptLauncherCmd), in which case the file is made executable and run by the
interpreter it names. So a failing command stops the step (`-e`), every command is echoed to
the log (`-x`), and a script that starts with `#!` is run by its own interpreter. The Jenkins
back end passes the text to `sh(script: ...)`, where durable-task applies the rule itself; the
Argo back end writes it as the container's command. (Rancher put a space before the script, so
its files never started with `#!`: a `#!/bin/bash` first line was a comment there and the
script ran under `sh -xe`; here it is honoured, identically on both engines.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from translator.api.config_types import Step, StepType
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.context import ExecutionContext, substitute

SCRIPTS_DIR = "/translator/scripts"
SHELL = "sh"  # durable-task's default Shell when none is configured: `sh`, found on the PATH
SHELL_FLAGS = "-xe"  # durable-task BourneShellScript.scriptLauncherCmd: trace, stop at the first failure


def launch_command(script: str, path: str) -> list[str]:
    """The command that runs `script`, stored at `path`, as Jenkins' `sh` step runs it."""
    if script.startswith("#!"):
        return [path]  # executable (the ConfigMap's mode): the kernel runs the interpreter it names
    return [SHELL, SHELL_FLAGS, path]


@dataclass(frozen=True)
class ToolStep:
    image: str
    script: str
    display_name: str
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    privileged: bool = False
    registry_credentials: bool = False
    git_credentials: bool = False
    warning: str = ""


GIT_CREDENTIALS = r"""if [ -f /translator/git/username ] && [ -f /translator/git/password ]; then
  git config --global credential.helper \
    '!f() { echo "username=$(cat /translator/git/username)"; echo "password=$(cat /translator/git/password)"; }; f'
fi
"""

CLONE = r"""set -eu
# Clone the run's commit into the workspace; safe to run again on the same volume.
mkdir -p /workspace/source
cd /workspace/source
""" + GIT_CREDENTIALS + r"""if [ ! -d .git ]; then
  git init -q .
  git remote add origin "$CICD_GIT_URL"
fi
git remote set-url origin "$CICD_GIT_URL"
if [ -n "$GIT_COMMIT_FULL" ]; then
  git fetch -q --depth=50 origin "$GIT_COMMIT_FULL" || git fetch -q origin
  git checkout -q --force "$GIT_COMMIT_FULL"
else
  git fetch -q --depth=50 origin "${CICD_GIT_REF:-refs/heads/$CICD_GIT_BRANCH}"
  git checkout -q --force FETCH_HEAD
fi
git log -1 --format='cloned %H %s'
"""

SUBSTITUTE = r"""substitute() {
  # ${NAME} -> value of NAME when NAME is set; everything else as written
  awk '{
    line = $0; out = ""
    while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
      name = substr(line, RSTART + 2, RLENGTH - 3)
      val = (name in ENVIRON) ? ENVIRON[name] : substr(line, RSTART, RLENGTH)
      out = out substr(line, 1, RSTART - 1) val
      line = substr(line, RSTART + RLENGTH)
    }
    print out line
  }' "$1"
}
"""

APPLY_YAML = r"""set -eu
""" + SUBSTITUTE + r"""cd /workspace/source
if [ -n "$YAML_PATH" ]; then
  src="$YAML_PATH"
else
  src="${TRANSLATOR_FILES:-/translator/scripts}/$YAML_CONTENT_FILE"
fi
if [ ! -e "$src" ]; then echo "applyYamlConfig: $src does not exist in the workspace" >&2; exit 1; fi
if [ -d "$src" ]; then
  files=$(find "$src" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
else
  files="$src"
fi
for f in $files; do
  echo "---"
  substitute "$f"
  echo
done > /tmp/translator-apply.yaml
if [ -n "$YAML_NAMESPACE" ]; then
  kubectl apply --namespace "$YAML_NAMESPACE" -f /tmp/translator-apply.yaml
else
  kubectl apply -f /tmp/translator-apply.yaml
fi
"""

PUBLISH_IMAGE = r"""set -eu
cd /workspace/source
export BUILDKITD_FLAGS="${BUILDKITD_FLAGS:-}"
if [ -f /translator/docker/config.json ]; then export DOCKER_CONFIG=/translator/docker; fi
buildctl-daemonless.sh build \
  --frontend dockerfile.v0 \
  --local context="$PLUGIN_CONTEXT" \
  --local dockerfile="$(dirname "$PLUGIN_DOCKERFILE")" \
  --opt filename="$(basename "$PLUGIN_DOCKERFILE")" \
  --output "type=image,\"name=$PLUGIN_IMAGE\",push=${PLUGIN_PUSH:-true}"
if [ "${PLUGIN_PUSH:-true}" = true ]; then echo "pushed $PLUGIN_IMAGE"; else echo "built $PLUGIN_IMAGE (not pushed)"; fi
"""

PUBLISH_CATALOG = r"""set -eu
""" + GIT_CREDENTIALS + r"""rm -rf /tmp/catalog
git clone -q --depth 1 --branch "$CATALOG_GIT_BRANCH" "$CATALOG_GIT_URL" /tmp/catalog
dest="/tmp/catalog/charts/$CATALOG_TEMPLATE/$CATALOG_VERSION"
rm -rf "$dest"
mkdir -p "$dest"
cp -R "/workspace/source/$CATALOG_CHART_PATH/." "$dest/"
cd /tmp/catalog
git add -A
git -c user.name="${CATALOG_GIT_AUTHOR:-translator}" \
  -c user.email="${CATALOG_GIT_EMAIL:-translator@localhost}" \
  commit -q -m "Publish $CATALOG_TEMPLATE $CATALOG_VERSION (pipeline $CICD_PIPELINE_ID run $CICD_EXECUTION_SEQUENCE)" \
  || { echo "nothing changed in the catalog"; exit 0; }
git push -q origin "HEAD:$CATALOG_GIT_BRANCH"
"""

APPLY_APP = r"""set -eu
if [ -z "$HELM_REPO_URL" ]; then
  echo "applyAppConfig: catalog '$HELM_CATALOG' is not in the PipelineSetting's spec.catalogs" >&2
  exit 1
fi
helm repo add "$HELM_CATALOG" "$HELM_REPO_URL" >/dev/null
helm repo update "$HELM_CATALOG" >/dev/null
# --create-namespace always sends a namespace create, refused (403) to an account that may not
# make namespaces even when this one exists: ask only when the account may (docs/engines.md)
create_namespace=""
if kubectl auth can-i create namespaces >/dev/null 2>&1; then create_namespace="--create-namespace"; fi
helm upgrade --install "$HELM_RELEASE" "$HELM_CATALOG/$HELM_CHART" \
  --version "$HELM_VERSION" --namespace "$HELM_NAMESPACE" $create_namespace \
  --values "${TRANSLATOR_FILES:-/translator/scripts}/$HELM_VALUES_FILE" --wait
"""


def for_step(
    kind: StepType, step: Step, *, ctx: ExecutionContext, setting: PipelineSettingSpec,
    variables: dict[str, str], step_id: str,
) -> ToolStep:
    """The image, script and inputs of one step."""

    def sub(text: str) -> str:
        return substitute(text, variables)

    images = setting.images
    if kind is StepType.SOURCE_CODE:
        return ToolStep(
            image=images.git_clone, script=CLONE, display_name="Clone",
            env=(("GIT_COMMIT_FULL", ctx.commit),), git_credentials=True,
        )
    if kind is StepType.RUN_SCRIPT:
        cfg = step.run_script_config
        assert cfg is not None
        image = sub(cfg.image)
        return ToolStep(image=image, script=cfg.shell_script, display_name=f"Run script ({image})")
    if kind is StepType.PUBLISH_IMAGE:
        pub = step.publish_image_config
        assert pub is not None
        tag = sub(pub.tag)
        if pub.push_remote:
            registry = sub(pub.registry)
            registry = "docker.io" if registry in ("", "index.docker.io") else registry
        else:
            registry = setting.local_registry
        image = f"{registry}/{tag}" if registry and not tag.startswith(registry + "/") else tag
        warning = ""
        if not pub.push_remote and not setting.local_registry:
            warning = "no local registry is configured (PipelineSetting spec.localRegistry); pushing to " + image
        repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        return ToolStep(
            image=images.image_builder, script=PUBLISH_IMAGE, display_name=f"Publish image {image}",
            env=(
                ("PLUGIN_DOCKERFILE", sub(pub.dockerfile_path)),
                ("PLUGIN_CONTEXT", sub(pub.build_context)),
                ("PLUGIN_IMAGE", image),
                ("CICD_REGISTRY", registry),
                ("CICD_IMAGE_REPO", repo),
                ("CICD_LOCAL_REGISTRY", setting.local_registry),
            ),
            privileged=True, registry_credentials=True, warning=warning,
        )
    if kind is StepType.APPLY_YAML:
        cfg_y = step.apply_yaml_config
        assert cfg_y is not None
        files: tuple[tuple[str, str], ...] = ()
        content_file = ""
        if not cfg_y.path:
            content_file = f"{step_id}.yaml"
            files = ((content_file, cfg_y.content),)
        path = sub(cfg_y.path)
        return ToolStep(
            image=images.kubectl, script=APPLY_YAML,
            display_name=f"Apply YAML {path or 'content'}",
            env=(("YAML_PATH", path), ("YAML_CONTENT_FILE", content_file),
                 ("YAML_NAMESPACE", sub(cfg_y.namespace))),
            files=files,
        )
    if kind is StepType.PUBLISH_CATALOG:
        cat = step.publish_catalog_config
        assert cat is not None
        return ToolStep(
            image=images.git_clone, script=PUBLISH_CATALOG,
            display_name=f"Publish catalog template {sub(cat.catalog_template)}",
            env=(
                ("CATALOG_CHART_PATH", sub(cat.path)), ("CATALOG_TEMPLATE", sub(cat.catalog_template)),
                ("CATALOG_VERSION", sub(cat.version)), ("CATALOG_GIT_URL", sub(cat.git_url)),
                ("CATALOG_GIT_BRANCH", sub(cat.git_branch)), ("CATALOG_GIT_AUTHOR", sub(cat.git_author)),
                ("CATALOG_GIT_EMAIL", sub(cat.git_email)),
            ),
            git_credentials=True,
        )
    app = step.apply_app_config
    assert app is not None and kind is StepType.APPLY_APP
    catalog, chart = split_catalog_template(sub(app.catalog_template), setting.catalogs)
    values_file = f"{step_id}-values.yaml"
    values = answers_to_values({k: sub(v) for k, v in app.answers.items()})
    warning = ""
    if catalog not in setting.catalogs:
        warning = f"catalog {catalog!r} is not in the PipelineSetting's spec.catalogs; the step will fail"
    return ToolStep(
        image=images.helm, script=APPLY_APP, display_name=f"Apply app {sub(app.name)}",
        env=(
            ("HELM_CATALOG", catalog), ("HELM_CHART", chart),
            ("HELM_REPO_URL", setting.catalogs.get(catalog, "")),
            ("HELM_VERSION", sub(app.version)), ("HELM_RELEASE", sub(app.name)),
            ("HELM_NAMESPACE", sub(app.target_namespace)), ("HELM_VALUES_FILE", values_file),
        ),
        files=((values_file, yaml.safe_dump(values, sort_keys=True, allow_unicode=True)),),
        warning=warning,
    )


def split_catalog_template(template: str, catalogs: dict[str, str]) -> tuple[str, str]:
    """`cattle-global-data:library-mysql` -> ("library", "mysql"); known catalogs win the split."""
    name = template.split(":", 1)[1] if ":" in template else template
    for catalog in sorted(catalogs, key=len, reverse=True):
        if name.startswith(catalog + "-"):
            return catalog, name[len(catalog) + 1 :]
    catalog, _, chart = name.partition("-")
    return catalog, chart or catalog


def answers_to_values(answers: dict[str, str]) -> dict[str, object]:
    """Rancher's answers are `--set` paths (`a.b: "1"`); nest them into a values document.

    Values stay strings, as `--set-string` would keep them. A key that is both a leaf and a
    parent (`a: x` and `a.b: y`) keeps the deeper one, as Helm does.
    """
    out: dict[str, object] = {}
    for key in sorted(answers):
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        if not isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = answers[key]
    copied: dict[str, object] = json.loads(json.dumps(out))
    return copied
