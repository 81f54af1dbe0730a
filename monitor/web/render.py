"""Templates and what every page gets: who is signed in, the CSRF token, the language, filters.

Everything from a crawled page or a post is rendered as text: autoescaping is on for every
template, no template marks stored text safe, and ``outlink`` makes a link only of http(s) URLs,
opening in a new tab with rel="noopener noreferrer" (a ``javascript:`` URL stays plain text).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from monitor.accounts import Principal
from monitor.bootstrap import App

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("vi", "en")
LANG_COOKIE = "monitor_lang"
SEVERITY_LABELS = {
    "none": ("Thông thường", "Routine"),
    "watch": ("Theo dõi", "Watch"),
    "alert": ("Cảnh báo", "Alert"),
    "critical": ("Khẩn cấp", "Critical"),
}
SENTIMENT_LABELS = {
    "negative": ("Tiêu cực", "Negative"),
    "neutral": ("Trung tính", "Neutral"),
    "positive": ("Tích cực", "Positive"),
}


def language(request: Request) -> str:
    """The page language: ?lang= (remembered in a cookie by the app), the cookie, the default."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LANGUAGES:
        return asked
    monitor: App = request.app.state.monitor
    return monitor.settings.web.language


def outlink(url: str | None, text: str | None = None) -> Markup:
    """An escaped link to an outside page, or the escaped text when the URL is not http(s)."""
    label = escape(text if text is not None else (url or ""))
    if not url or urlsplit(url).scheme.lower() not in ("http", "https"):
        return Markup(label)
    return Markup(f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">{label}</a>')


def build_templates() -> Jinja2Templates:
    """The template set with the project's filters (autoescape on, as Jinja2Templates sets)."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True
    env.filters["outlink"] = outlink
    env.globals["urlencode"] = urlencode
    return templates


class Page:
    """What a route needs to render: the request, the app, the principal and the language."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.monitor: App = request.app.state.monitor
        self.principal: Principal | None = getattr(request.state, "principal", None)
        self.lang = language(request)

    def t(self, vi: str, en: str) -> str:
        """The text in the page language (pages carry both: Vietnamese first, English)."""
        return en if self.lang == "en" else vi

    def with_lang(self, code: str) -> str:
        """This page's address (its query kept) in another language."""
        query = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        return self.request.url.path + "?" + urlencode([*query, ("lang", code)])

    def local(self, when: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
        """An aware time shown in the configured time zone; '—' for none."""
        if when is None:
            return "—"
        return when.astimezone(self.monitor.settings.tz).strftime(fmt)

    def severity(self, level: str | None) -> str:
        """A severity level's name in the page language."""
        pair = SEVERITY_LABELS.get(level or "")
        return self.t(*pair) if pair else (level or "—")

    def sentiment(self, label: str | None) -> str:
        """A sentiment label's name in the page language."""
        pair = SENTIMENT_LABELS.get(label or "")
        return self.t(*pair) if pair else (label or "—")

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Render a page with the common context (``_`` picks the language: _("vi", "en"))."""
        templates: Jinja2Templates = self.request.app.state.templates
        return templates.TemplateResponse(
            self.request,
            template,
            {
                "page": self,
                "_": self.t,
                "me": self.principal,
                "csrf": self.principal.csrf if self.principal else "",
                "lang": self.lang,
                "settings": self.monitor.settings,
                **context,
            },
            status_code=status_code,
        )
