"""The Annals console: the platform in a browser (topology, streams, live log, projections, DLQs).

Server-rendered pages (FastAPI + Jinja2) with htmx for actions and polling and Server-Sent
Events for the live log; its JavaScript comes from npm (deploy/console/package-lock.json) and is
copied into static/vendor by `make install` (annals.console.assets), so it works offline.
"""
