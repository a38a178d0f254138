"""Issue 13 item 6: no English on any staff or citizen page.

Every role signs in and walks every desk page it can reach by links (the case pages
of cases in several states among them); the citizen walks the public pages and
looks a case up. Each page's visible text is searched for Latin-script words; the
only ones allowed are case numbers, sizes, key names and a few codes people use.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from channels.fax_smtp.document import analyse
from channels.fax_smtp.envelope import build_envelope
from channels.fax_smtp.parse import parse_fax_mail
from desks.console.form import parse_console_form
from desks.staff.deps import DESK
from forwarder import workflow as wf
from intake import keys
from registrar.models import Notice
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in, sms_case
from tests.browser.test_console import FAX_FIXTURE
from tests.forwarder import kit

ROLES = ("agent", "city", "gulou", "urban", "urban-leader", "gulou-urban", "discipline",
         "efficiency", "admin")
MAX_PAGES = 30
CASE_NUMBER = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{5}-\d{8}-\d{6}(?![0-9])")
#: Query codes and unit or account codes, as the desk shows them to the people who use them.
CODES = re.compile(r"(?<![A-Za-z0-9])(?=[A-Z0-9]*\d)[A-Z0-9]{8}(?![A-Za-z0-9])")
#: Latin words a person here reads as their own: sizes, key names, file kinds, unit symbols.
ALLOWED = frozenset({"MB", "KB", "GB", "PDF", "PNG", "JPEG", "TIFF", "CSV", "Atom", "SVG", "Ctrl",
                     "Enter", "Tab", "Esc", "F2", "F8", "F9", "Open311", "API", "ID", "SIP"})
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.=-]*[A-Za-z0-9]|[A-Za-z]")
SKIP = ("/desk/logout", "/desk/static/", "/desk/attachments/", ".csv", ".pdf", ".atom",
        "/desk/console/ws")  # files and feeds are not pages: their words are data


def latin_words(text: str) -> list[str]:
    """Latin-script words in ``text`` outside the allow-list (case numbers removed first)."""
    text = CODES.sub(" ", CASE_NUMBER.sub(" ", text))
    return sorted({w for w in LATIN_WORD.findall(text) if w not in ALLOWED and len(w) > 1})


async def _seed_cases(server: TestServer) -> None:
    ctx = server.app[keys.SESSIONMAKER]
    closed = await sms_case(server, "五四路路灯不亮，晚上很黑", external_id="crawl-1")
    await sms_case(server, "仓山区金山大道井盖缺失", external_id="crawl-2", sender="+8613905910002")
    wctx = server.app[DESK].ctx
    async with ctx.begin() as session:
        await kit.dispatched(session, wctx, closed.case_number)
        lead = await kit.lead_of(session, closed.case_number, "city-urban")
        await kit.answer_and_submit(session, wctx, lead.id, kit.URBAN)
        await wf.review(session, wctx, lead.id, passed=True, actor=kit.CITY)
        notice = (await session.execute(select(Notice).order_by(Notice.id))).scalars().first()
        assert notice is not None
        notice.attempts, notice.last_error = 3, "[Errno 111] Connection refused"
    call = parse_console_form({"form_id": "5d0f3c1e-8a4b-4c1d-9e2f-0a1b2c3d4e5f",
                               "caller": "13805912345", "text": "小区电梯坏了三天",
                               "category": "住建", "district": "鼓楼区", "public": "yes",
                               "reply": "caller"},
                              agent="agent", received_at=server.app[keys.CLOCK].now(),
                              districts=("鼓楼区",))
    await server.app[keys.INTAKE](call)
    raw = FAX_FIXTURE.read_bytes()
    mail = parse_fax_mail(raw)
    infos = [analyse(doc, max_pages=20, thumbnail_pages=5, thumbnail_width=800)
             for doc in mail.documents]
    await server.app[keys.INTAKE](build_envelope(mail, infos, raw,
                                                 received_at=server.app[keys.CLOCK].now()))


async def _crawl(server: TestServer, page: Any, start: str, found: dict[str, list[str]],
                 label: str) -> int:
    seen: set[str] = set()
    todo = [start]
    while todo and len(seen) < MAX_PAGES:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = await page.goto(str(server.make_url(path)))
        assert response is not None and response.status < 500, (label, path)
        # What citizens wrote (their text, their file names) is theirs, not the page's words;
        # <code> holds what an administrator types (commands, file names, settings keys).
        text = await page.evaluate(
            "() => { const hidden = [...document.querySelectorAll('[data-content], code')];"
            " hidden.forEach(e => e.style.display = 'none'); const t = document.body.innerText;"
            " hidden.forEach(e => e.style.display = ''); return t; }")
        words = latin_words(text)
        if words:
            found[f"{label} {path}"] = words
            if os.environ.get("HOTLINE_CRAWL_DUMP"):  # a person's aid: the lines that failed
                lines = [line for line in text.splitlines() if latin_words(line)]
                found[f"{label} {path} lines"] = lines
        # SVG links (the cockpit's charts) have an SVGAnimatedString href: read the attribute.
        for href in await page.eval_on_selector_all(
                "a[href]", "as => as.map(a => new URL(a.getAttribute('href'), document.baseURI).href)"):
            parts = urlsplit(href)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            local = parts.netloc == f"127.0.0.1:{server.port}"
            if local and target.startswith(("/desk", "/answers", "/status")) \
                    and not any(s in target for s in SKIP) \
                    and parts.path not in {urlsplit(s).path for s in seen}:
                todo.append(target)
    return len(seen)


async def test_no_english_on_any_page_of_any_role(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    await _seed_cases(server)
    found: dict[str, list[str]] = {}
    visited = 0
    for role in ROLES:
        await sign_in(server, page, role)
        visited += await _crawl(server, page, urlsplit(page.url).path, found, role)
    await page.context.clear_cookies()
    visited += await _crawl(server, page, "/", found, "citizen")
    for path in ("/status", "/answers"):
        visited += await _crawl(server, page, path, found, "citizen")
    # The whole list beside the screenshots, for the person fixing the pages.
    (shots.dir / "latin-words.json").write_text(json.dumps(found, ensure_ascii=False, indent=1))
    assert visited > 40
    assert found == {}
