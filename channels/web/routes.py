"""aiohttp handlers of the citizen web channel: the form, its post, the receipt page.

The post is acknowledged (redirect to the receipt) only after the sink has
committed the case; a store outage answers 503 with a "try again" page and no
number. The hidden ``submission`` id makes a double-click one case.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import BodyPartReader, hdrs, web

from channels.web.form import FormErrors, FormLimits, RawForm, Upload, parse_form, parse_urlencoded
from contract.envelope import Sink, TryLater
from contract.signing import CitizenCsrf, Signer

log = logging.getLogger(__name__)

RECEIPT_PURPOSE = "receipt"
_CSRF_SLOT = "csrf-slot-5c1e0f"
_SUBMISSION_SLOT = "submission-slot-9b7d2a"
MAX_FIELD_BYTES = 64 * 1024
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_SLOTS = re.compile(f"({re.escape(_CSRF_SLOT)}|{re.escape(_SUBMISSION_SLOT)})")
_CSRF_SLOT_BYTES, _SUBMISSION_SLOT_BYTES = _CSRF_SLOT.encode(), _SUBMISSION_SLOT.encode()


def new_submission_id() -> str:
    """A random (version 4) UUID as text: ``str(uuid.uuid4())`` without building a UUID
    object, which was a twentieth of a form view's CPU. The id makes a re-sent post
    register once (the channel's external id)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class FormTooLarge(Exception):
    """A text field beyond any sane size: refuse without reading further."""


def _signed(number: str, code: str, advice: str, due: str, files: list[str]) -> str:
    """What the receipt's signature covers: all it shows, so none of it can be forged."""
    return "|".join((number, code, advice, due, "\n".join(files)))


@dataclass(slots=True)
class CitizenWeb:
    """The citizen pages; built by the composition root with the sink it should call."""

    sink: Sink
    limits: FormLimits
    signer: Signer
    now: Any  # Callable[[], datetime]; the app's clock
    csrf: CitizenCsrf
    _blank: list[bytes] | None = None
    """The empty form rendered once with placeholders for the two per-visit values."""
    body_timeout_s: float = 120.0
    """The whole post must arrive within this (slow-body clients are cut off with 408)."""
    offer_calls: bool = False
    """Show 答复方式 (短信 / 电话): only where the site calls out (``worker.voice_channel``)."""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.form_page, name="citizen_form")
        app.router.add_post("/submit", self.submit, name="citizen_submit")
        app.router.add_get("/receipt", self.receipt, name="citizen_receipt")

    def _context(self, *, csrf: str, submission: str, errors: dict[str, str] | None,
                 values: dict[str, str] | None, reattach: tuple[str, ...] = ()) -> dict[str, Any]:
        # No default for "public": consent to publish is the citizen's explicit choice.
        return {
            "csrf": csrf,
            "submission": submission,
            "errors": errors or {},
            "values": values or {},
            "reattach": reattach,
            "districts": self.limits.districts,
            "max_attachments": self.limits.max_attachments,
            "max_mb": self.limits.max_attachment_bytes // 1_048_576,
            "offer_calls": self.offer_calls,
        }

    def _render_form(self, request: web.Request, *, status: int = 200,
                     errors: dict[str, str] | None = None,
                     values: dict[str, str] | None = None,
                     reattach: tuple[str, ...] = ()) -> web.Response:
        token = self.csrf.token(self.csrf.cookie(request))
        response = aiohttp_jinja2.render_template("citizen_form.html", request, self._context(
            csrf=token, submission=new_submission_id(), errors=errors, values=values,
            reattach=reattach), status=status)
        self.csrf.set_cookie(response, token)
        return response

    async def form_page(self, request: web.Request) -> web.Response:
        """The empty form: the busiest page of a surge, so the template is rendered once,
        encoded once and cut at its two slots; each visit joins the pieces around its CSRF
        token and submission id (both URL-safe ASCII, so inserting them needs no escaping)."""
        if self._blank is None:
            page = aiohttp_jinja2.render_string("citizen_form.html", request, self._context(
                csrf=_CSRF_SLOT, submission=_SUBMISSION_SLOT, errors=None, values=None))
            self._blank = [piece.encode() for piece in _SLOTS.split(page)]
        cookie = self.csrf.cookie(request)
        token = self.csrf.token(cookie)
        fill = {_CSRF_SLOT_BYTES: token.encode(), _SUBMISSION_SLOT_BYTES: new_submission_id().encode()}
        response = web.Response(body=b"".join([fill.get(piece, piece) for piece in self._blank]),
                                headers={hdrs.CONTENT_TYPE: "text/html; charset=utf-8"})
        if token != cookie:  # the browser keeps a valid one (a session cookie): nothing to send
            self.csrf.set_cookie(response, token)
        return response

    @property
    def max_body(self) -> int:
        """The most a whole post may carry: every attachment at its limit, plus the fields."""
        return self.limits.max_attachments * self.limits.max_attachment_bytes + 1_048_576

    async def _read(self, request: web.Request, progress: Callable[[], None]) -> RawForm:
        """The form's fields and files; ``progress`` is called whenever a piece arrived."""
        raw = RawForm()
        total = 0
        if request.content_type == "application/x-www-form-urlencoded":
            body = await request.read()
            if len(body) > MAX_FIELD_BYTES * 4:
                raise FormTooLarge
            # The values' bytes stay undecoded so broken UTF-8 is reported, not guessed.
            for name, value in parse_urlencoded(body):
                raw.fields[name] = value
            return raw
        reader = await request.multipart()
        while True:
            part = await reader.next()
            progress()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            if part.filename is not None:
                data = bytearray()
                too_large = False
                while chunk := await part.read_chunk(65536):
                    progress()
                    total += len(chunk)
                    if total > self.max_body:
                        raise FormTooLarge
                    if len(data) + len(chunk) > self.limits.max_attachment_bytes:
                        too_large = True
                        data.clear()
                        while drained := await part.read_chunk(65536):
                            progress()
                            total += len(drained)  # drain, keeping nothing, within the total
                            if total > self.max_body:
                                raise FormTooLarge
                        break
                    data.extend(chunk)
                raw.uploads.append(Upload(part.filename,
                                          part.headers.get("Content-Type", ""),
                                          bytes(data), too_large))
                if len(raw.uploads) > self.limits.max_attachments + 10:
                    raise FormTooLarge
            elif part.name:
                field_value = bytearray()
                while chunk := await part.read_chunk(8192):
                    progress()
                    field_value.extend(chunk)
                    if len(field_value) > MAX_FIELD_BYTES:
                        raise FormTooLarge
                total += len(field_value)
                raw.fields[part.name] = bytes(field_value)
        return raw

    async def submit(self, request: web.Request) -> web.Response:
        if request.content_type not in ("multipart/form-data",
                                        "application/x-www-form-urlencoded"):
            return self._refuse(request, 400, "表单格式不正确，请从本站页面提交。")
        # Before a byte of the body is read: a post without our CSRF cookie is refused, and
        # so is one that announces more than the form can carry.
        if not self.signer.check_token(CitizenCsrf.PURPOSE, self.csrf.cookie(request)):
            return self._refuse(request, 403, "页面已过期或来源不明，请刷新页面后重新提交。")
        if (request.content_length or 0) > self.max_body:
            return self._refuse(request, 413, "提交的内容过大。")
        try:
            # Progress-based: a slow but steady upload completes, a stalled one is cut off.
            async with asyncio.timeout(self.body_timeout_s) as stall:
                loop = asyncio.get_running_loop()
                raw = await self._read(request, lambda: stall.reschedule(
                    loop.time() + self.body_timeout_s))
        except FormTooLarge:
            return self._refuse(request, 413, "提交的内容过大。")
        except TimeoutError:
            log.info("web form from %s: no part of the body for %.0f s; cut off",
                     request.remote, self.body_timeout_s)
            return self._refuse(request, 408, "上传超时，请检查网络后重新提交。")
        except ValueError:
            return self._refuse(request, 400, "表单格式不正确，请从本站页面提交。")
        token = raw.fields.get("csrf", b"").decode("ascii", "replace")
        if not self.csrf.valid(token, self.csrf.cookie(request)):
            return self._refuse(request, 403, "页面已过期或来源不明，请刷新页面后重新提交。")
        submission = raw.fields.get("submission", b"").decode("ascii", "replace")
        if not _UUID.match(submission):
            return self._refuse(request, 400, "表单格式不正确，请从本站页面提交。")
        try:
            envelope = parse_form(raw, submission_id=submission, received_at=self.now(),
                                  limits=self.limits)
        except FormErrors as exc:
            return self._render_form(request, status=400, errors=exc.errors, values=exc.values,
                                     reattach=exc.reattach)
        try:
            receipt = await self.sink(envelope)
        except TryLater:
            return aiohttp_jinja2.render_template("citizen_try_later.html", request, {},
                                                  status=503)
        advice = receipt.emergency_advice
        due = receipt.answer_due.isoformat() if receipt.answer_due else ""
        files = [a.filename for a in envelope.attachments]
        query: dict[str, str | list[str]] = {
            "n": receipt.case_number, "c": receipt.query_code,
            "s": self.signer.sign(RECEIPT_PURPOSE, _signed(receipt.case_number, receipt.query_code,
                                                           advice, due, files))}
        if advice:
            query["e"] = advice
        if due:
            query["d"] = due
        if files:
            query["a"] = files
        location = request.app.router["citizen_receipt"].url_for().with_query(query)
        # Returned, not raised as HTTPSeeOther: that builds a text body and a second
        # response object nobody reads (a twentieth of a web intake's CPU).
        return web.Response(status=303, headers={hdrs.LOCATION: str(location)})

    async def receipt(self, request: web.Request) -> web.Response:
        number = request.query.get("n", "")
        code = request.query.get("c", "")
        signature = request.query.get("s", "")
        advice = request.query.get("e", "")
        due = request.query.get("d", "")
        files = request.query.getall("a", [])
        if not self.signer.verify(RECEIPT_PURPOSE, _signed(number, code, advice, due, files),
                                  signature):
            raise web.HTTPNotFound(text="回执不存在")
        return aiohttp_jinja2.render_template("citizen_receipt.html", request, {
            "number": number, "code": code, "advice": advice, "due": due, "files": files})

    def _refuse(self, request: web.Request, status: int, message: str) -> web.Response:
        return aiohttp_jinja2.render_template("citizen_refused.html", request,
                                              {"message": message}, status=status)
