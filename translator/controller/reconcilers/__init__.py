"""One reconciler per kind (controller-runtime's Reconciler, Tekton's pkg/reconciler/<kind>/):
each reads from the informer caches, decides with pure functions, and writes at most once."""

from typing import Protocol


class Reconciler(Protocol):
    """Bring one object (namespace, name) to what its spec asks, from the caches."""

    def reconcile(self, namespace: str, name: str) -> None: ...
