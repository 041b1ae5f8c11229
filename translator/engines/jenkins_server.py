"""A Jenkins server in the pipeline namespace, for settings that name no external one.

What Rancher deployed per project, declared: a service account allowed to run agent pods in
the namespace, an admin Secret (made once, never overwritten), Jenkins configured as code
(no setup wizard, local admin from the Secret, the Kubernetes cloud pointing at this
namespace, agent pods never retained, and the one script signature the generated
Jenkinsfiles need approved), the pinned core and plugins (`jenkins_plugins`), a Deployment and
a Service.

The admin Secret holds `password` (the login) and `token`, an API token seeded at start-up by an
init script (core ApiTokenProperty.addFixedNewToken: "11" and 32 hex digits). The engine
authenticates with the token: requests with an API token need no crumb (core ApiCrumbExclusion),
while a password's crumb is bound to its HTTP session (core DefaultCrumbIssuer).
"""

from __future__ import annotations

import secrets
from typing import Any

import yaml

from translator.engines.jenkins_plugins import IMAGE, plugins_txt

JENKINS_NAME = "jenkins"
ADMIN_SECRET = "jenkins-admin"
JENKINS_IMAGE = IMAGE
HTTP_PORT, AGENT_PORT = 8080, 50000
TOKEN_NAME = "translator"
INIT_SCRIPT = "/var/jenkins_home/init.groovy.d/seed-token.groovy"  # core GroovyHookScript("init")

# Runs after configuration as code made the admin (core GroovyInitScript: after JOB_CONFIG_ADAPTED;
# configuration-as-code ConfigurationAsCode.init: before SYSTEM_CONFIG_ADAPTED). Idempotent.
SEED_TOKEN = f"""// Seeds the admin's API token from the Secret: the engine authenticates with it.
import hudson.model.User
import jenkins.security.ApiTokenProperty

def user = User.getById(System.getenv('JENKINS_ADMIN_ID'), false)
if (user == null) {{
    throw new IllegalStateException('no user ' + System.getenv('JENKINS_ADMIN_ID') + ': casc.yaml did not run')
}}
def tokens = user.getProperty(ApiTokenProperty)
tokens.tokenList.findAll {{ it.name == '{TOKEN_NAME}' }}.each {{ tokens.revokeToken(it.uuid) }}
tokens.addFixedNewToken('{TOKEN_NAME}', System.getenv('JENKINS_API_TOKEN'))
user.save()
"""
APPROVED_SIGNATURES = (
    "staticMethod org.jenkinsci.plugins.pipeline.modeldefinition.Utils markStageSkippedForConditional "
    "java.lang.String",
)


def service_url(namespace: str) -> str:
    return f"http://{JENKINS_NAME}.{namespace}.svc:{HTTP_PORT}"


def casc(namespace: str) -> dict[str, Any]:
    return {
        "jenkins": {
            "systemMessage": "Managed by translator: jobs are generated, edit the pipeline files instead.",
            "numExecutors": 0,
            "securityRealm": {"local": {"allowsSignup": False, "users": [
                {"id": "${JENKINS_ADMIN_ID}", "password": "${JENKINS_ADMIN_PASSWORD}"}]}},
            "authorizationStrategy": {"loggedInUsersCanDoAnything": {"allowAnonymousRead": False}},
            "clouds": [{"kubernetes": {
                "name": "kubernetes", "namespace": namespace,
                "jenkinsUrl": service_url(namespace),
                "jenkinsTunnel": f"{JENKINS_NAME}.{namespace}.svc:{AGENT_PORT}",
                "podRetention": "never", "connectTimeout": 30, "readTimeout": 60,
                "containerCapStr": "100", "waitForPodSec": 600,
            }}],
        },
        "security": {"scriptApproval": {"approvedSignatures": list(APPROVED_SIGNATURES)}},
    }


def api_token() -> str:
    """A token core accepts as fixed (ApiTokenStore.addFixedNewToken): version "11", 32 hex digits."""
    return "11" + secrets.token_hex(16)


def admin_secret(labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": ADMIN_SECRET, "labels": labels},
            "stringData": {"username": "admin", "password": secrets.token_urlsafe(24), "token": api_token()}}


def manifests(namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Everything but the admin Secret, in creation order."""
    app = {"app.kubernetes.io/name": JENKINS_NAME, "app.kubernetes.io/instance": f"{JENKINS_NAME}-{namespace}"}
    meta = {"name": JENKINS_NAME, "labels": {**labels, **app}}
    from_secret = [
        {"name": "JENKINS_ADMIN_ID", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "username"}}},
        {"name": "JENKINS_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "password"}}},
        {"name": "JENKINS_API_TOKEN", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "token"}}},
    ]
    probe = {"httpGet": {"path": "/login", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get", "list", "patch", "watch"]},
            {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
            {"apiGroups": [""], "resources": ["pods/log", "events"], "verbs": ["get", "list", "watch"]},
        ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": JENKINS_NAME},
         "subjects": [{"kind": "ServiceAccount", "name": JENKINS_NAME, "namespace": namespace}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {
            "casc.yaml": yaml.safe_dump(casc(namespace), sort_keys=False),
            "plugins.txt": plugins_txt(),
            "seed-token.groovy": SEED_TOKEN,
        }},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "selector": app,
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http"},
                      {"name": "agent", "port": AGENT_PORT, "targetPort": "agent"}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
            "replicas": 1, "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": app},
            "template": {"metadata": {"labels": app}, "spec": {
                "serviceAccountName": JENKINS_NAME,
                "securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 1000},
                "initContainers": [{
                    "name": "plugins", "image": JENKINS_IMAGE,
                    "command": ["jenkins-plugin-cli", "--plugin-file", "/config/plugins.txt",
                                "--plugin-download-directory", "/usr/share/jenkins/ref/plugins"],
                    "volumeMounts": [{"name": "config", "mountPath": "/config"},
                                     {"name": "plugins", "mountPath": "/usr/share/jenkins/ref/plugins"}],
                }],
                "containers": [{
                    "name": "jenkins", "image": JENKINS_IMAGE,
                    "ports": [{"name": "http", "containerPort": HTTP_PORT},
                              {"name": "agent", "containerPort": AGENT_PORT}],
                    "env": [{"name": "JAVA_OPTS", "value": "-Djenkins.install.runSetupWizard=false"},
                            {"name": "CASC_JENKINS_CONFIG", "value": "/config/casc.yaml"}, *from_secret],
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                    "readinessProbe": probe,
                    "livenessProbe": {**probe, "initialDelaySeconds": 120, "failureThreshold": 6},
                    "volumeMounts": [{"name": "config", "mountPath": "/config"},
                                     {"name": "plugins", "mountPath": "/usr/share/jenkins/ref/plugins"},
                                     {"name": "home", "mountPath": "/var/jenkins_home"},
                                     {"name": "config", "mountPath": INIT_SCRIPT,
                                      "subPath": "seed-token.groovy", "readOnly": True}],
                }],
                "volumes": [{"name": "config", "configMap": {"name": JENKINS_NAME}},
                            {"name": "plugins", "emptyDir": {}},
                            {"name": "home", "emptyDir": {}}],
            }},
        }},
    ]
