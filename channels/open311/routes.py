"""The Open311 endpoints under ``/open311/v2/``: thin handlers over ``inbound`` and ``views``.

Every answer, error or not, is in the format the path asks for (``.json`` or
``.xml``; any other suffix gets a 404 in XML, the format the specification
requires). A POST is acknowledged with a ``service_request_id`` only after the
sink returned, i.e. after commit; with a ``token`` only after the request is
fsynced in the spool (``spool.py``). The store down and no spool: 503, nothing
kept, the client retries. Refusals come in a fixed order: the body's shape
(413 / 415 / 400), the key (403), the rate (429), then the request itself
(404 / 400).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from channels.open311 import views
from channels.open311.inbound import envelope_from_form, parse_form_body
from channels.open311.settings import Open311Settings
from channels.open311.spool import Spool, make_token, read_token
from channels.open311.wire import FORMATS, Open311Error, error_response, render
from contract.channel import ChannelPorts
from contract.envelope import Channel, TryLater
from contract.public_cases import ApiKeys, PublicCases

log = logging.getLogger(__name__)

BASE = "/open311/v2"
FORM = "application/x-www-form-urlencoded"

Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(slots=True)
class Open311Api:
    """The endpoints, built with the channel's settings and ports."""

    settings: Open311Settings
    ports: ChannelPorts
    spool: Spool | None

    def add_routes(self, app: web.Application) -> None:
        get, post = app.router.add_get, app.router.add_post
        get(BASE + "/discovery.{format}", self._wrap(self.discovery))
        get(BASE + "/services.{format}", self._wrap(self.services))
        get(BASE + "/services/{code}.{format}", self._wrap(self.service_definition))
        post(BASE + "/requests.{format}", self._wrap(self.create))
        get(BASE + "/requests.{format}", self._wrap(self.requests))
        get(BASE + "/requests/{id}.{format}", self._wrap(self.request))
        get(BASE + "/tokens/{token}.{format}", self._wrap(self.token))
        get(BASE + "/servicerequestupdates.{format}", self._wrap(self.updates))

    def _wrap(self, handler: Handler) -> Handler:
        """Answer ``Open311Error`` in the asked format; an unknown format is a 404 in XML."""

        async def wrapped(request: web.Request) -> web.Response:
            fmt = request.match_info["format"]
            try:
                if fmt not in FORMATS:
                    raise Open311Error(404, f"format {fmt[:20]!r} is not offered: use json or xml")
                return await handler(request)
            except Open311Error as exc:
                return error_response(fmt, [exc], self.ports.tz)

        return wrapped

    def _answer(self, request: web.Request, root: str, value: object) -> web.Response:
        return render(request.match_info["format"], root, value, self.ports.tz)

    @property
    def _public(self) -> PublicCases:
        if self.ports.public_cases is None:
            raise Open311Error(503, "the case registry is not available")
        return self.ports.public_cases

    @property
    def _keys(self) -> ApiKeys:
        if self.ports.api_keys is None:
            raise Open311Error(503, "API keys cannot be checked now")
        return self.ports.api_keys

    async def discovery(self, request: web.Request) -> web.Response:
        base = self.settings.public_base_url or f"{request.scheme}://{request.host}"
        return self._answer(request, "discovery", views.discovery(self.settings, base))

    async def services(self, request: web.Request) -> web.Response:
        self._jurisdiction(request)
        return self._answer(request, "services", views.service_list(self.settings))

    async def service_definition(self, request: web.Request) -> web.Response:
        self._jurisdiction(request)
        code = request.match_info["code"]
        service = self.settings.service(code)
        if service is None:
            raise Open311Error(404, f"service_code {code[:40]!r} was not found")
        return self._answer(request, "service_definition", views.definition(service))

    def _jurisdiction(self, request: web.Request) -> None:
        given = request.query.get("jurisdiction_id", "")
        if self.settings.jurisdiction_id and given and given != self.settings.jurisdiction_id:
            raise Open311Error(404, f"jurisdiction_id {given[:60]!r} was not found")

    async def _body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_bytes
        if request.content_type != FORM:
            raise Open311Error(415, f"send the request as {FORM} (UTF-8)")
        if (request.content_length or 0) > limit:
            raise Open311Error(413, f"the request is larger than {limit} bytes")
        body = bytearray()
        async for chunk in request.content.iter_chunked(8192):
            body.extend(chunk)
            if len(body) > limit:
                raise Open311Error(413, f"the request is larger than {limit} bytes")
        return bytes(body)

    async def create(self, request: web.Request) -> web.Response:
        form = parse_form_body(await self._body(request))
        key = form.get("api_key") or request.query.get("api_key", "")
        if not key:
            raise Open311Error(403, "api_key was not provided")
        admission = await self._keys.admit("open311", key, free=self.settings.rate_free,
                                           window_s=self.settings.rate_window_s)
        if admission.client is None:
            raise Open311Error(403, "api_key is not valid")
        if admission.wait_s > 0:
            retry = str(math.ceil(admission.wait_s))
            raise Open311Error(429, f"too many requests: retry in {retry} s",
                               headers={"Retry-After": retry})
        envelope = envelope_from_form(form, settings=self.settings, client=admission.client,
                                      received_at=self.ports.clock.now(),
                                      districts=self.ports.districts)
        service = self.settings.service(form["service_code"])
        assert service is not None  # envelope_from_form refused unknown codes
        try:
            receipt = await self.ports.sink(envelope)
        except TryLater:
            if self.spool is None:
                raise Open311Error(503, "the registry is unavailable: please retry shortly",
                                   headers={"Retry-After": "30"}) from None
            try:
                await asyncio.to_thread(self.spool.put, envelope)
            except OSError as exc:
                log.error("open311: cannot spool %s: %s", envelope.external_id, exc)
                raise Open311Error(503, "the registry is unavailable: please retry shortly",
                                   headers={"Retry-After": "30"}) from exc
            log.warning("open311: store down, %s deferred", envelope.external_id)
            token = make_token(self.ports.signer, envelope.external_id)
            return self._answer(request, "service_requests", [
                {"token": token, "service_notice": service.notice, "account_id": None}])
        if self.spool is not None and self.spool.holds(envelope.external_id):
            await asyncio.to_thread(self.spool.discard, envelope.external_id)
        return self._answer(request, "service_requests", [
            {"service_request_id": receipt.case_number, "service_notice": service.notice,
             "account_id": None}])

    async def token(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        external_id = read_token(self.ports.signer, token)
        if external_id is None:
            raise Open311Error(404, "token was not found")
        number = await self._public.by_external_id(Channel.OPEN311, external_id)
        # Still in the spool: ours, but without a number yet; the client polls again.
        return self._answer(request, "service_requests",
                            [{"service_request_id": number, "token": token}])

    async def requests(self, request: web.Request) -> web.Response:
        self._jurisdiction(request)
        query = views.case_query(request.query, self.settings, self.ports.clock.now())
        cases = await self._public.cases(query, channel=Channel.OPEN311)
        return self._answer(request, "service_requests",
                            [views.request_view(c, self.settings) for c in cases])

    async def request(self, request: web.Request) -> web.Response:
        self._jurisdiction(request)
        number = request.match_info["id"]
        case = await self._public.case(number, channel=Channel.OPEN311)
        if case is None:
            raise Open311Error(404, f"service_request_id {number[:60]!r} was not found")
        return self._answer(request, "service_requests", [views.request_view(case, self.settings)])

    async def updates(self, request: web.Request) -> web.Response:
        self._jurisdiction(request)
        start, end = views.date_range(request.query, self.settings, self.ports.clock.now())
        numbers = [n.strip() for n in request.query.get("service_request_id", "").split(",")
                   if n.strip()][:views.MAX_IDS]
        steps = await self._public.updates(numbers, since=start, until=end,
                                           limit=self.settings.max_results)
        return self._answer(request, "service_requests_updates",
                            [views.update_view(u) for u in steps])
