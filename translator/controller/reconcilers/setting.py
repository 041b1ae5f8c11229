"""PipelineSetting reconciler: the namespace prepared for its runs (settings.SettingsReconciler
does the work: service account, roles, bindings, artifact repository, the engine's own)."""

from __future__ import annotations

from typing import Any

from translator.controller.settings import SettingsReconciler


class SettingReconciler:
    def __init__(self, settings: Any, prepare: SettingsReconciler) -> None:
        self.settings = settings  # the Informer of PipelineSettings
        self.prepare = prepare

    def reconcile(self, namespace: str, name: str) -> None:
        self.prepare.reconcile(namespace, name, self.settings.get(namespace, name))
