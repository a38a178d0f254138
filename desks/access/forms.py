"""Reading a posted form on the desks and the portal: an unreadable body is the client's error.

aiohttp's ``request.post()`` raises ``ValueError`` deep inside for a multipart body
that does not match its boundary (or has none) and ``UnicodeDecodeError`` for a
charset it cannot decode; left alone, each became a 500. Every form handler reads
through ``read_form`` so they answer 400 with what was wrong.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """``request.post()``, or 400 when the body cannot be read as the form it claims to be."""
    try:
        return await request.post()
    except (ValueError, LookupError, AssertionError) as exc:  # UnicodeDecodeError is a ValueError
        raise web.HTTPBadRequest(
            text=f"表单无法读取 (the form body cannot be read: {type(exc).__name__})") from None
