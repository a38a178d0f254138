"""Fetching the photos (MMS media) of an inbound message from Twilio, within limits.

Media live on Twilio behind the account's credentials, so they are fetched
with basic auth through the one ``aiohttp.ClientSession`` the channel owns.
Only URLs under the configured REST API root are fetched: the signature proves
the form came from Twilio, but never sending our credentials elsewhere is
cheaper than reasoning about it. A medium that cannot be had (too big, wrong
type, slow, gone) never sinks the message: the item is registered with a note
that names the URL, so an agent can fetch it by hand.
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass

import aiohttp

from channels.sms_twilio.settings import TwilioSettings
from contract.envelope import Attachment
from contract.images import oversized_image

from .api import auth_headers
from .inbound import MediaRef

_CHUNK = 65_536


class MediaRefused(Exception):
    """One medium was not taken; the message says why, in words for an agent."""


@dataclass(frozen=True, slots=True)
class MediaResult:
    """What came of a message's media: the files we have and notes on the rest."""

    attachments: tuple[Attachment, ...]
    notes: tuple[str, ...]


class MediaFetcher:
    """Fetch a message's media with the account credentials, under size, type and time limits."""

    def __init__(self, settings: TwilioSettings, http: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._http = http
        self._headers = auth_headers(settings)

    async def fetch_all(self, sid: str, refs: tuple[MediaRef, ...], *,
                        budget_s: float | None = None) -> MediaResult:
        """Fetch every medium in parallel; whatever misses the budget becomes a note."""
        if not refs:
            return MediaResult((), ())
        budget = self._settings.media_budget_s if budget_s is None else budget_s
        deadline = asyncio.get_running_loop().time() + budget
        results = await asyncio.gather(*(
            self._one(sid, index, ref, deadline) for index, ref in enumerate(refs)
        ))
        attachments = tuple(r for r in results if isinstance(r, Attachment))
        notes = tuple(r for r in results if isinstance(r, str))
        return MediaResult(attachments, notes)

    async def _one(self, sid: str, index: int, ref: MediaRef,
                   deadline: float) -> Attachment | str:
        try:
            async with asyncio.timeout_at(deadline):
                return await self._download(sid, index, ref)
        except MediaRefused as exc:
            reason = str(exc)
        except TimeoutError:
            reason = "下载超时 (timed out)"
        except aiohttp.ClientError as exc:
            reason = f"下载失败 ({type(exc).__name__})"
        return f"附件{index + 1}未能保存：{reason}；原地址 {ref.url}"

    async def _download(self, sid: str, index: int, ref: MediaRef) -> Attachment:
        if not ref.url.startswith(self._settings.api_base_url + "/"):
            raise MediaRefused("地址不属于 Twilio API (not under the configured API root)")
        allowed = self._settings.media_allowed_types
        limit = self._settings.media_max_bytes
        async with self._http.get(ref.url, headers=self._headers) as resp:
            if resp.status != 200:
                raise MediaRefused(f"Twilio 返回 HTTP {resp.status}")
            content_type = (resp.content_type or ref.content_type).lower()
            if content_type not in allowed:
                raise MediaRefused(f"文件类型 {content_type} 不在允许之列")
            if resp.content_length is not None and resp.content_length > limit:
                raise MediaRefused(f"文件过大（{resp.content_length} 字节，上限 {limit}）")
            data = bytearray()
            async for chunk in resp.content.iter_chunked(_CHUNK):
                data += chunk
                if len(data) > limit:
                    raise MediaRefused(f"文件过大（超过上限 {limit} 字节）")
        if not data:
            raise MediaRefused("空文件 (empty)")
        too_big = oversized_image(bytes(data)) if content_type.startswith("image/") else None
        if too_big:
            raise MediaRefused(too_big)
        extension = mimetypes.guess_extension(content_type) or ".bin"
        return Attachment(filename=f"{sid}-{index + 1}{extension}",
                          content_type=content_type, data=bytes(data))
