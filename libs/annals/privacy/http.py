"""The erasure report over HTTP: `GET <prefix>/{id}/privacy-report`, for admins only.

No `from __future__ import annotations` here: the path parameter's name is chosen at run time,
so its annotation must be evaluated where the route is defined.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from annals.privacy.collect import report
from annals.web.auth import Principal, require
from annals.web.routes import ID_PATTERN


class FindingView(BaseModel):
    """One place and the state of the subject's data there."""

    kind: str
    place: str
    state: str
    detail: str


class ReportView(BaseModel):
    """Every place a subject's data lives; `readable` counts places readable or unchecked."""

    subject: str
    readable: int
    findings: list[FindingView]


def report_router(prefix: str, id_name: str) -> APIRouter:
    """A router with the report of the subject named by the path parameter `id_name`."""
    router = APIRouter(prefix=prefix, tags=["privacy"])
    subject_id = Annotated[str, Path(alias=id_name, pattern=ID_PATTERN)]

    @router.get(
        f"/{{{id_name}}}/privacy-report",
        response_model=ReportView,
        operation_id="privacy_report",
        responses={401: {"description": "no token"}, 403: {"description": "not an admin"}},
    )
    async def privacy_report(
        request: Request,
        subject: subject_id,
        who: Principal = Depends(require("admin")),
    ) -> ReportView:
        """Event stores, read models (every version), idempotency records, parked rows, DLQs
        and topics: whether the subject's personal data is readable, unreadable or wiped."""
        sources = getattr(request.app.state, "privacy_sources", None)
        found = await report(subject, sources)
        return ReportView.model_validate(found.as_dict())

    return router
