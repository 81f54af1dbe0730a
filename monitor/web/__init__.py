"""The web dashboard and JSON API: FastAPI with server-rendered, autoescaped Jinja2 templates.

Entry point only: routes call the application layer (cases, intake, feedback, accounts) and the
read-side queries in monitor.storage; they never build SQL. ``create_web`` in monitor.web.app
builds the ASGI app from a bootstrapped App; ``monitor web`` and ``monitor run`` serve it.
"""
