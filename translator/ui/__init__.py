"""The web UI (`translator ui`): pipelines, runs, logs and the config editor, as the user sees them.

Every Kubernetes call is made with the user's own bearer token, so what a user may see or do
is the API server's answer (RBAC), never the UI's or the controller's. Pages are rendered on
the server (Jinja2 under Starlette); htmx and its SSE extension, shipped in `static/`, swap in
fragments and follow server-sent events fed by per-user watches.

Modules: `app` wires the routes, `auth` holds sessions and CSRF, `live` the per-user watches
and SSE, `views` the pure page models, `pages` and `api` the handlers, `logs` the log stream.
"""
