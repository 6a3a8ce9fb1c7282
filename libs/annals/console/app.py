"""The console's composition root: settings, verifier, session, stores and key store, pages,
/metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from annals.collector import tune_collector
from annals.console import prometheus
from annals.console.jobs import Rebuilds
from annals.console.masking import shown
from annals.console.pages import charts, letters, live, projections, publishers, topology
from annals.console.render import HERE, Viewer, page
from annals.console.session import (
    SignInRequired,
    open_session,
    operator,
    safe_next,
    signin_url,
)
from annals.console.settings import ConsoleSettings
from annals.console.stores import Stores
from annals.console.timetravel import state_as_of
from annals.eventstore.pgstores import PostgresKeyStore
from annals.projections.settings import ProjectorSettings
from annals.stack.secrets import secret
from annals.stack.settings import StackSettings
from annals.web.auth import Principal, TokenVerifier
from annals.web.health import install_metrics
from annals.web.problems import Problem, install_problem_handlers

ROUTERS = (
    topology.router,
    live.router,
    charts.router,
    projections.router,
    letters.router,
    publishers.router,
)


def lifespan(projector: ProjectorSettings) -> Any:
    """Open the store pools and the key store; close them at the end."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        app.state.stores = await Stores.open(projector.store_dsns)
        keys = await asyncpg.create_pool(projector.keys_dsn, min_size=0, max_size=2, timeout=10)
        app.state.keys = PostgresKeyStore(keys)
        app.state.rebuilds = Rebuilds()
        await app.state.rebuilds.recover()
        tune_collector()  # the app is built: freeze it, collect young objects less often
        try:
            yield
        finally:
            await app.state.rebuilds.close()
            await app.state.stores.close()
            await keys.close()

    return run


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """The console app (uvicorn --factory annals.console.app:create_app)."""
    settings = settings or ConsoleSettings()
    app = FastAPI(title="Annals console", lifespan=lifespan(ProjectorSettings()), docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    app.state.verifier = TokenVerifier(settings)
    prometheus_url = prometheus.base_url(settings.prometheus_url)
    app.state.prometheus_url = prometheus_url
    app.state.topic_rates = lambda: prometheus.topic_rates(prometheus_url)
    app.add_middleware(
        SessionMiddleware, secret_key=secret(StackSettings(), "console-session"),
        session_cookie="annals_console", max_age=settings.session_seconds, same_site="strict",
        https_only=settings.secure_cookie,
    )  # fmt: skip
    install_problem_handlers(app)
    install_metrics(app, settings)
    app.add_exception_handler(SignInRequired, _to_signin)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _routes(app, settings)
    for router in ROUTERS:
        app.include_router(router)
    return app


async def _to_signin(request: Request, exc: SignInRequired) -> Response:
    return RedirectResponse(signin_url(exc.next_url), status_code=303)


def _routes(app: FastAPI, settings: ConsoleSettings) -> None:
    @app.get("/healthz")
    @app.get("/readyz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/signin", response_class=HTMLResponse)
    async def signin_form(request: Request, next: str = "/", token: str = "") -> Response:
        if token:  # the link `annals console --open` prints
            return await _sign_in(request, token, next, settings)
        return page(request, "signin.html", "Sign in", next=safe_next(next))

    @app.post("/signin", response_class=HTMLResponse)
    async def signin(
        request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
    ) -> Response:
        return await _sign_in(request, token, next, settings)

    @app.post("/signout")
    async def signout(request: Request, who: Viewer) -> Response:
        request.session.clear()
        return RedirectResponse("/signin", status_code=303)

    @app.post("/actions/check")
    async def check(who: Annotated[Principal, Depends(operator)]) -> dict[str, str]:
        return {"status": "ok", "subject": who.subject}

    @app.get("/streams", response_class=HTMLResponse)
    async def streams(request: Request, who: Viewer, q: str = "") -> Response:
        rows = await request.app.state.stores.search(q.strip()) if q.strip() else []
        return page(request, "streams.html", "Streams", q=q, rows=rows)

    @app.get("/streams/{stream_id}", response_class=HTMLResponse)
    async def stream(
        request: Request, stream_id: str, who: Viewer, from_: int = 1, at: int | None = None
    ) -> Response:
        stores: Stores = request.app.state.stores
        found = await stores.find(stream_id)
        if found is None:
            raise Problem(404, "Not Found", f"no stream {stream_id!r}", slug="not-found")
        records = await stores.events(found.store, stream_id, max(from_, 1), settings.page_size)
        events = [await _event(r, who, request) for r in records]
        version = found.info.version if at is None else max(0, min(at, found.info.version))
        upto = await stores.events(found.store, stream_id, 1, max(version, 1))
        state = await state_as_of(upto, version, found.info.stream_type, who,
                                  request.app.state.keys)  # fmt: skip
        return page(request, "stream.html", stream_id, store=found.store, info=found.info,
                    events=events, at=version, state=state)  # fmt: skip

    @app.get("/correlations/{correlation_id}", response_class=HTMLResponse)
    async def correlation(request: Request, correlation_id: str, who: Viewer) -> Response:
        records = await request.app.state.stores.correlated(correlation_id)
        return page(request, "correlation.html", f"correlation {correlation_id}", events=records)


async def _event(record: Any, who: Principal, request: Request) -> dict[str, Any]:
    data = await shown(record.data, who, request.app.state.keys)
    return {"version": record.version, "event_type": record.event_type,
            "schema_version": record.schema_version, "recorded_at": record.recorded_at,
            "metadata": record.metadata, "data": data}  # fmt: skip


async def _sign_in(request: Request, token: str, next: str, settings: ConsoleSettings) -> Response:
    try:
        await open_session(request, token, settings.session_seconds)
    except Problem as problem:
        return page(request, "signin.html", "Sign in", status=401, next=safe_next(next),
                    error=problem.detail)  # fmt: skip
    return RedirectResponse(safe_next(next), status_code=303)
