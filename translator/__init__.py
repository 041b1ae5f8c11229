"""translator: Rancher-format pipelines compiled to Argo Workflows or Jenkins jobs."""

__version__ = "0.1.0"
