"""Transcription in the console: the fax pages or the recording beside a text box (R5.1).

A fax or a voicemail is registered with a placeholder text; the service centre
types what the pages say or the caller said. ``/desk/console/faxes`` lists the
items still waiting, oldest first; each one's page shows its page images or an
audio player (files served by ``/desk/attachments``) beside a text box,
prefilled with the OCR or speech-to-text result when a machine made one,
marked as machine text to be checked. Saving records the transcription with
``registrar.transcription`` (an event keeps the placeholder) and moves on to
the next waiting fax, so an agent can work through the pile without the mouse.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from contract.envelope import MACHINE_TEXT_MARK
from desks.access.forms import read_form
from desks.access.permissions import visible
from desks.access.principal import Principal
from desks.console.deps import CONSOLE
from desks.console.form import CATEGORIES, parse_transcription_fields
from desks.console.routes import require_agent
from desks.staff.auth_pages import render
from desks.staff.deps import current
from forwarder.screening import emergency_hint
from registrar.models import Case, Role
from registrar.transcription import (
    PLACEHOLDERS,
    TranscriptionError,
    awaiting,
    awaits_transcription,
    record_transcription,
)

TRANSCRIBERS = frozenset({Role.CITY_BUREAU})
"""Besides agents, the city bureau may transcribe (it registers what the centre missed)."""
LIST_LIMIT = 200
THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
AUDIO_PREFIX = "audio/"


def _waiting(principal: Principal) -> tuple[ColumnElement[bool], ...]:
    return (awaiting(), visible(principal))


async def _next_waiting(session: AsyncSession, principal: Principal) -> str | None:
    query = (select(Case.number).where(*_waiting(principal))
             .order_by(Case.received_at, Case.id).limit(1))
    number: str | None = (await session.execute(query)).scalar_one_or_none()
    return number


async def _saved_banner(session: AsyncSession, principal: Principal, number: str) -> Case | None:
    """The fax just saved (for the "saved" line and its emergency hint), if visible."""
    if not number:
        return None
    return (await session.execute(select(Case).where(
        Case.number == number, visible(principal)))).scalar_one_or_none()


async def fax_list(request: web.Request) -> web.Response:
    """GET /desk/console/faxes: faxes whose text is still the placeholder, oldest first."""
    require_agent(request, also=TRANSCRIBERS)
    principal = current(request).principal
    async with request.app[CONSOLE].sessionmaker() as session:
        faxes = (await session.execute(
            select(Case).where(*_waiting(principal))
            .order_by(Case.received_at, Case.id).limit(LIST_LIMIT))).scalars().all()
        saved = await _saved_banner(session, principal, request.query.get("saved", ""))
    tz = request.app[CONSOLE].tz
    rows = [{"number": c.number, "received": c.received_at.astimezone(tz).strftime("%m-%d %H:%M"),
             "sender": c.sender or "（号码不明）", "summary": c.text.split("\n", 1)[0]} for c in faxes]
    return render(request, "console_fax.html", {"mode": "list", "faxes": rows, "saved": saved,
                                                "limit": LIST_LIMIT})


def machine_text(text: str) -> str:
    """The machine's text (OCR, speech to text) after its mark, or "" when there is none."""
    _, mark, rest = text.partition(MACHINE_TEXT_MARK)
    return rest.strip() if mark else ""


async def _fax_case(session: AsyncSession, principal: Principal, number: str) -> Case:
    case = (await session.execute(
        select(Case).options(selectinload(Case.attachments))
        .where(Case.number == number, Case.channel.in_(PLACEHOLDERS), visible(principal))
    )).scalar_one_or_none()
    if case is None:
        # Also for a case that exists but is not a fax or not visible: nothing is revealed.
        raise web.HTTPNotFound(text="没有这件待录入的诉求")
    return case


def _filed(case: Case) -> dict[str, str]:
    """The call fields as filed so far: the category note and the district hint."""
    category = next((n.split("=", 1)[1] for n in case.notes if n.startswith("category=")), "")
    return {"category": category, "district": case.district_hint or "", "reply_to": ""}


def _fax_page(request: web.Request, case: Case, *, text: str | None = None, error: str = "",
              saved: Case | None = None, status: int = 200, values: dict[str, str] | None = None,
              errors: dict[str, str] | None = None) -> web.Response:
    waiting = awaits_transcription(case)
    ocr = machine_text(case.text) if waiting else ""
    pages = [a for a in case.attachments if a.content_type in THUMBNAIL_TYPES]
    audio = [a for a in case.attachments if a.content_type.startswith(AUDIO_PREFIX)]
    files = [a for a in case.attachments if a.content_type not in THUMBNAIL_TYPES]
    tz = request.app[CONSOLE].tz
    return render(request, "console_fax.html", {
        "mode": "page", "case": case, "waiting": waiting, "ocr": ocr,
        "text": text if text is not None else (ocr if waiting else case.text),
        "pages": pages, "audio": audio, "files": files, "error": error, "saved": saved,
        "received": case.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "values": values or _filed(case), "errors": errors or {}, "categories": CATEGORIES,
        "districts": request.app[CONSOLE].districts, "district_keys": request.app[CONSOLE].district_keys,
    }, status=status)


async def fax_page(request: web.Request) -> web.Response:
    """GET /desk/console/faxes/{number}: the pages beside the text box."""
    require_agent(request, also=TRANSCRIBERS)
    principal = current(request).principal
    async with request.app[CONSOLE].sessionmaker() as session:
        case = await _fax_case(session, principal, request.match_info["number"])
        saved = await _saved_banner(session, principal, request.query.get("saved", ""))
    return _fax_page(request, case, saved=saved)


async def save_transcription(request: web.Request) -> web.StreamResponse:
    """POST /desk/console/faxes/{number}: record the text, then on to the next waiting fax."""
    require_agent(request, also=TRANSCRIBERS)
    principal = current(request).principal
    number = request.match_info["number"]
    form = await read_form(request)
    text = str(form.get("text", ""))
    raw = {k: v for k, v in form.items() if isinstance(v, str)}
    deps = request.app[CONSOLE]
    fields, errors = parse_transcription_fields(raw, districts=deps.districts, keys=deps.district_keys)
    if errors:
        async with deps.sessionmaker() as session:
            case = await _fax_case(session, principal, number)
        values = {k: raw.get(k, "") for k in ("category", "district", "reply_to")}
        return _fax_page(request, case, text=text, values=values, errors=errors, status=400)
    advice = emergency_hint(text, request.app[CONSOLE].emergency_rules)
    actor = f"{principal.display_name}@{principal.unit_code or principal.username}"
    try:
        async with request.app[CONSOLE].sessionmaker.begin() as session:
            # Visibility first: a case the agent may not see is "not found", as everywhere.
            await _fax_case(session, principal, number)
            await record_transcription(session, number, text, actor=actor,
                                       now=request.app[CONSOLE].clock.now(),
                                       emergency=advice.services if advice else None,
                                       replace_transcribed=form.get("replace") == "1",
                                       fields=fields)
    except TranscriptionError as exc:
        async with request.app[CONSOLE].sessionmaker() as session:
            case = await _fax_case(session, principal, number)
        values = {k: raw.get(k, "") for k in ("category", "district", "reply_to")}
        return _fax_page(request, case, text=text, error=exc.reason, values=values,
                         status=409 if exc.code == "already" else 400)
    async with request.app[CONSOLE].sessionmaker() as session:
        following = await _next_waiting(session, principal)
    saved = quote(number)
    target = f"/desk/console/faxes/{quote(following)}?saved={saved}" if following \
        else f"/desk/console/faxes?saved={saved}"
    raise web.HTTPSeeOther(target)


def add_transcription_routes(app: web.Application) -> None:
    app.router.add_get("/desk/console/faxes", fax_list)
    app.router.add_get("/desk/console/faxes/{number}", fax_page)
    app.router.add_post("/desk/console/faxes/{number}", save_transcription)
