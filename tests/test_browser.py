"""The dashboard in a real browser: Playwright driving Debian's Chromium against a seeded monitor
served on 127.0.0.1 (tests/browserkit.py). What a duty officer does, end to end, and what the
browser itself enforces: the CSP, inert crawled text, a layout that fits a phone.

Skipped, with the reason, where /usr/bin/chromium is missing; .ci/run installs it, so CI runs them.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from monitor import cases
from tests.browserkit import (
    ANALYST,
    DESKTOP,
    PHONE,
    SCRIPT_TITLE,
    VIEWER,
    Site,
    chromium_missing,
    launch,
    sign_in,
    site,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Locator, Page, ViewportSize

MISSING = chromium_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
if MISSING is None:
    from playwright.sync_api import expect, sync_playwright

DYKE = "Sạt lở đê biển ở Giao Thủy, Nam Định"
NOTE = "Đã gọi UBND huyện Giao Thủy, lực lượng đang gia cố đê"
# Elements wider than the window, outside a scrolling .table-wrap: what makes a phone scroll sideways.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(".table-wrap")) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}` +
               `${el.className && typeof el.className === "string" ? "." + el.className.trim().replace(/\\s+/g, ".") : ""}` +
               ` right=${Math.round(box.right)}`);
    }
  }
  return out.slice(0, 10);
}"""
FORGED_POST = """async ([path, csrf]) => {
  const body = new URLSearchParams({csrf: csrf, action: "ack", note: "giả mạo"});
  const answer = await fetch(path, {method: "POST", body: body, redirect: "manual"});
  return answer.status;
}"""


@dataclass
class Tab:
    """A page in a fresh browser context, with what it said on the console and the dialogs it opened."""

    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def watch(self) -> Tab:
        """Record console errors, uncaught exceptions and dialogs (dismissed at once)."""
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.on("dialog", self._dialog)
        return self

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def csp_violations(self) -> list[str]:
        """The console errors that are Content-Security-Policy refusals."""
        return [e for e in self.errors if "Content Security Policy" in e]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One seeded monitor for the module, served on 127.0.0.1."""
    with site(tmp_path_factory.mktemp("browser")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the module."""
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def _tab(browser: Browser, viewport: ViewportSize) -> Iterator[Tab]:
    context = browser.new_context(viewport=viewport, accept_downloads=True, locale="vi-VN")
    context.set_default_timeout(10_000)
    try:
        yield Tab(context.new_page()).watch()
    finally:
        context.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A desktop-sized tab in a context of its own (no cookies from other tests)."""
    yield from _tab(browser, DESKTOP)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Tab]:
    """A phone-sized tab (390 x 844, an iPhone 12-15) in a context of its own."""
    yield from _tab(browser, PHONE)


def _status(served: Site, case_id: int) -> str:
    return cases.show(served.app.sessions, case_id).case.status


def _act_button(page: Page, case_id: int, action: str) -> Locator:
    """The submit button of an action form on a case page (name=action value=ACTION)."""
    form = page.locator(f"form[action='/cases/{case_id}/act']")
    return form.locator(f"button[name=action][value={action}]")


def test_analyst_acknowledges_searches_exports_and_signs_out(tab: Tab, served: Site) -> None:
    page, case_id = tab.page, served.seeded.ack_case
    page.goto(served.at("/"))
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))

    sign_in(page, served, ANALYST)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tổng quan")
    expect(page.locator("header.top .user")).to_have_text(ANALYST)

    page.locator("nav.main").get_by_role("link", name="Sự vụ").click()
    expect(page).to_have_url(served.at("/cases"))
    row = page.locator(f"tr[data-case-id='{case_id}']")
    expect(row).to_contain_text(DYKE)
    expect(row).to_contain_text("mới")
    row.locator(f"a[href='/cases/{case_id}']").first.click()

    expect(page).to_have_url(served.at(f"/cases/{case_id}"))
    page.locator("#note").fill(NOTE)
    _act_button(page, case_id, "ack").first.click()
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}(\?.*)?$"))
    expect(page.locator("p.flash.ok")).to_be_visible()
    expect(page.locator("#case-status")).to_have_text("đã nhận")
    acknowledged = page.locator("#trail tr[data-action=acknowledged]")
    expect(acknowledged).to_contain_text(NOTE)
    expect(acknowledged).to_contain_text(ANALYST)
    assert _status(served, case_id) == "acknowledged"

    page.locator("nav.main").get_by_role("link", name="Tìm kiếm").click()
    page.locator("#search-form #q").fill("nam dinh")
    page.locator("#search-form").get_by_role("button").first.click()
    expect(page).to_have_url(re.compile(r"/search\?.*q=nam\+dinh"))
    dyke_id = served.seeded.items["dyke"]
    expect(page.locator(f"article.hit[data-item-id='{dyke_id}'] h2")).to_have_text(DYKE)
    expect(page.locator("article.hit h2").first).to_contain_text("Nam Định")

    with page.expect_download() as downloading:
        page.locator("#export-csv").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".csv"), download.suggested_filename
    raw = download.path().read_bytes()
    assert raw.startswith(codecs.BOM_UTF8), raw[:20]  # so Excel reads the accents
    header, *rows = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    assert header[:5] == ["Mã", "Thời gian đăng", "Nguồn", "Loại", "Tiêu đề"], header
    assert [str(dyke_id), DYKE] in [row[:1] + row[4:5] for row in rows]

    page.locator("header.top form[action='/logout']").get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("input[name=password]")).to_be_visible()
    page.goto(served.at("/"))
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_viewer_sees_no_actions_and_a_forged_post_is_refused(tab: Tab, served: Site) -> None:
    page, case_id = tab.page, served.seeded.viewer_case
    sign_in(page, served, VIEWER)

    page.goto(served.at(f"/cases/{case_id}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cháy lớn")
    expect(page.locator(f"form[action='/cases/{case_id}/act']")).to_have_count(0)
    expect(page.locator("#note")).to_have_count(0)
    page.goto(served.at("/cases"))
    expect(page.locator(f"tr[data-case-id='{case_id}']")).to_be_visible()
    expect(page.locator("form[action$='/act'], form#bulk")).to_have_count(0)

    csrf = page.locator("input[name=csrf]").first.input_value()
    assert csrf  # the viewer's own, valid token: the role alone must refuse it
    status = page.evaluate(FORGED_POST, [f"/cases/{case_id}/act", csrf])
    assert status == 403
    assert _status(served, case_id) == "new"
    page.goto(served.at(f"/cases/{case_id}"))
    expect(page.locator("#case-status")).to_have_text("mới")
    expect(page.locator("#trail")).not_to_contain_text("giả mạo")


def test_crawled_markup_is_shown_as_text_and_never_runs(tab: Tab, served: Site) -> None:
    page = tab.page
    sign_in(page, served, ANALYST)
    case, item = served.seeded.cases["flood"], served.seeded.items["flood"]
    for path in ("/cases", f"/cases/{case}", f"/items/{item}", "/search?q=ngap+ung"):
        page.goto(served.at(path))
        expect(page.get_by_text(SCRIPT_TITLE).first).to_be_visible()
        assert page.locator("main script, main img, main [onerror]").count() == 0, path
    page.goto(served.at(f"/items/{item}"))  # the text, where the crawled page had an <img onerror>
    expect(page.get_by_text('<img src=x onerror=alert("xss")>')).to_be_visible()
    assert tab.dialogs == []
    assert not [e for e in tab.errors if "xss" in e]


def test_csp_header_is_sent_and_the_pages_break_none_of_it(tab: Tab, served: Site) -> None:
    page = tab.page
    sign_in(page, served, ANALYST)
    seeded = served.seeded
    paths = ["/", "/cases", f"/cases/{seeded.ack_case}", f"/items/{seeded.items['flood']}"]
    paths += ["/search?q=nam+dinh", "/sources", "/digests", "/intake"]
    for path in paths:
        response = page.goto(served.at(path))
        assert response is not None and response.ok, path
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, path
    page.locator("header.top form[action='/logout']").get_by_role("button").click()
    signed_out = page.goto(served.at("/login"))
    assert signed_out is not None
    assert "script-src 'self'" in signed_out.headers["content-security-policy"]
    assert tab.csp_violations() == []
    assert tab.errors == []


def test_a_phone_never_scrolls_sideways(phone: Tab, served: Site) -> None:
    page, seeded = phone.page, served.seeded
    sign_in(page, served, ANALYST)
    paths = ["/", "/cases", f"/cases/{seeded.ack_case}", "/search?q=nam+dinh"]
    too_wide = []
    for path in paths:
        page.goto(served.at(path))
        expect(page.locator("main h1")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        window = page.evaluate("window.innerWidth")
        if width > window:
            culprits = ", ".join(page.evaluate(OVERFLOWING))
            too_wide.append(f"{path}: {width}px on a {window}px phone ({culprits})")
    assert too_wide == []
