"""Rendering pages: the templates, the viewer dependency and the page helper."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from annals.console.session import csrf_token, operator, session_principal, viewer
from annals.web.auth import Principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
Viewer = Annotated[Principal, Depends(viewer)]
Operator = Annotated[Principal, Depends(operator)]


def page(request: Request, name: str, title: str, status: int = 200, **context: Any) -> Response:
    """A rendered page with the viewer and its CSRF token."""
    principal = session_principal(request)
    csrf = csrf_token(request) if principal else ""
    return templates.TemplateResponse(
        request, name, {"title": title, "principal": principal, "csrf": csrf, **context},
        status_code=status,
    )  # fmt: skip


def back(path: str, note: str, anchor: str = "") -> Response:
    """Redirect (303) to a page with a note of what an action did."""
    from urllib.parse import quote

    from fastapi.responses import RedirectResponse

    return RedirectResponse(f"{path}?note={quote(note)}{'#' + anchor if anchor else ''}", 303)
