"""Where a cache path lands in a step's container, and the paths a cache may not take.

A cache path is absolute in the container or relative to the checkout (docs/config.md). It is
normalised once, here (`node_modules`, `./node_modules` and `node_modules/` are one
directory), before anything de-duplicates or mounts it: two mounts at one path make Argo
refuse the Workflow ("already mounted", argo-workflows workflow/validate/validate.go
validateLeaf) and Kubernetes refuse the pod ("must be unique").

Both engines mount the same things of their own into every step container: the workspace
volume at /workspace (the checkout in /workspace/source), the scripts, credentials and files
under /translator, and the Jenkins engine's extra files in /workspace/.translator. A cache at
one of those paths, at a parent of one (it would hide it) or inside /translator (read-only
volumes of ours) is refused by the validator, with the path and line of the entry.

The validator (api) and the compiler both read this module, so they can never disagree.
"""

from __future__ import annotations

import posixpath

WORKSPACE = "/workspace"
SOURCE_DIR = f"{WORKSPACE}/source"
TRANSLATOR_DIR = "/translator"  # scripts, docker and git credentials: ours, mounted read-only
FILES_DIR = f"{WORKSPACE}/.translator"  # the Jenkins engine's writeFile output

# path -> what a user would call it, for the error message
RESERVED: dict[str, str] = {
    WORKSPACE: "the run's workspace volume",
    SOURCE_DIR: "the checkout",
    FILES_DIR: "the step's generated files",
    TRANSLATOR_DIR: "translator's scripts and credentials",
}


def container_path(path: str) -> str:
    """The normalised absolute path of a cache in the step's container."""
    joined = path if path.startswith("/") else posixpath.join(SOURCE_DIR, path)
    normal = posixpath.normpath(joined)
    return "/" + normal.lstrip("/")  # POSIX keeps a leading `//`; a mount path does not


def reserved_conflict(path: str) -> str:
    """Why a cache may not be mounted at the (normalised) container path; empty when it may."""
    for reserved, what in RESERVED.items():
        if path == reserved:
            return f"is {what} ({reserved}), which translator mounts itself"
        if path == "/" or reserved.startswith(path + "/"):
            return f"would hide {what} ({reserved})"
    if path.startswith(TRANSLATOR_DIR + "/"):
        return f"is inside {TRANSLATOR_DIR}, where translator mounts its scripts and credentials read-only"
    return ""
