"""Placeholder overview: filled by the overview page's work."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from monitor.web.render import Page

router = APIRouter(include_in_schema=False)


@router.get("/")
def overview(request: Request) -> HTMLResponse:
    """The overview page."""
    return Page(request).render("overview.html")
