"""A local fake of the parts of Twilio's REST API the channel uses (an aiohttp app on port 0).

It records every request it receives, serves the inbound message list (with
Twilio's ``DateSent>`` filter and paging), serves media behind basic auth, and
creates outbound messages, or fails them as told through ``send_failures``.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

API = "/2010-04-01/Accounts/{account}"


@dataclass
class Recorded:
    method: str
    path_qs: str
    form: dict[str, str]
    authorised: bool


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    page_size_cap: int = 2
    """Pages are cut small so that every listing test also exercises paging."""
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    send_failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    stall_media: asyncio.Event | None = None
    """When set to an Event, media downloads wait on it (to test time budgets)."""
    sent: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        base = API.format(account=self.account_sid)
        app.router.add_get(base + "/Messages.json", self._list)
        app.router.add_post(base + "/Messages.json", self._create)
        app.router.add_get(base + "/Messages/{sid}/Media.json", self._media_list)
        app.router.add_get(base + "/Messages/{sid}/Media/{media}", self._media)
        return app

    def add_inbound(self, sid: str, *, sender: str, body: str, sent: datetime,
                    to: str, media: tuple[tuple[str, bytes], ...] = (),
                    direction: str = "inbound") -> None:
        """Put a message on 'Twilio' as if a citizen had texted it."""
        base = API.format(account=self.account_sid)
        for index, (content_type, data) in enumerate(media):
            self.media[f"{sid}/ME{index:032d}"] = (content_type, data)
        self.messages.append({
            "sid": sid, "account_sid": self.account_sid, "from": sender, "to": to,
            "body": body, "direction": direction, "status": "received",
            "num_media": str(len(media)), "date_sent": format_datetime(sent),
            "date_created": format_datetime(sent),
            "subresource_uris": {"media": f"{base}/Messages/{sid}/Media.json"},
        })

    def _record(self, request: web.Request, form: dict[str, str]) -> bool:
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()).decode()
        ok = request.headers.get("Authorization") == expected
        self.requests.append(Recorded(request.method, request.path_qs, form, ok))
        return ok

    async def _list(self, request: web.Request) -> web.Response:
        if not self._record(request, {}):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        query = request.query
        since = query.get("DateSent>")
        floor = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) \
            if since else None
        chosen = [m for m in self.messages
                  if (not query.get("To") or m["to"] == query["To"])
                  and (floor is None or parsedate_to_datetime(m["date_sent"]) >= floor)]
        chosen.sort(key=lambda m: parsedate_to_datetime(m["date_sent"]), reverse=True)
        size = min(int(query.get("PageSize", "50")), self.page_size_cap)
        page = int(query.get("Page", "0"))
        items = chosen[page * size:(page + 1) * size]
        next_uri = None
        if (page + 1) * size < len(chosen):
            params = {"To": query.get("To", ""), "PageSize": size, "Page": page + 1}
            if since:
                params["DateSent>"] = since
            next_uri = f"{request.path}?{urlencode(params)}"
        return web.json_response({"messages": items, "next_page_uri": next_uri,
                                  "page": page, "page_size": size})

    async def _create(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        if not self._record(request, form):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if self.send_failures:
            status, payload = self.send_failures.pop(0)
            return web.json_response(payload, status=status)
        self.sent.append(form)
        sid = f"SM{len(self.sent):032x}"
        return web.json_response({"sid": sid, "status": "queued", "to": form.get("To"),
                                  "from": form.get("From"), "body": form.get("Body")},
                                 status=201)

    async def _media_list(self, request: web.Request) -> web.Response:
        self._record(request, {})
        sid = request.match_info["sid"]
        base = API.format(account=self.account_sid)
        items = [{"sid": key.split("/")[1], "content_type": ct,
                  "uri": f"{base}/Messages/{sid}/Media/{key.split('/')[1]}.json"}
                 for key, (ct, _) in self.media.items() if key.startswith(sid + "/")]
        return web.json_response({"media_list": items})

    async def _media(self, request: web.Request) -> web.Response:
        if not self._record(request, {}):
            return web.Response(status=401)
        if self.stall_media is not None:
            await self.stall_media.wait()
        key = f"{request.match_info['sid']}/{request.match_info['media']}"
        if key not in self.media:
            return web.Response(status=404)
        content_type, data = self.media[key]
        return web.Response(body=data, content_type=content_type)
