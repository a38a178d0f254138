"""Error answers a person can read: styled 4xx/5xx pages in Chinese, for staff and citizens.

A handler refuses with ``web.HTTPForbidden(text=…)`` and the like; raised bare,
aiohttp would answer ``403: Forbidden`` in plain text, English and unstyled. This
middleware turns such refusals into a page in the look of the site the person was
on (the desk under ``/desk``, the citizen site elsewhere), keeping the handler's
own Chinese sentence when it gave one. Machine clients are left alone: the JSON
API and Open311 answer their own errors, and a script's ``fetch`` (no
``text/html`` in ``Accept``) gets the original answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import aiohttp_jinja2
from aiohttp import web

from desks.staff.auth_pages import render
from registrar.db import store_unavailable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MACHINE_PREFIXES = ("/api/", "/open311/", "/healthz", "/static/", "/desk/static/")
_CJK = re.compile(r"[\u3400-\u9fff]")

#: status → (title, what it means, what to do), in the words of the person reading it.
WORDS: dict[int, tuple[str, str]] = {
    400: ("请求有误", "提交的内容无法处理。请返回上一页检查后重试。"),
    401: ("请先登录", "这个页面需要登录后才能查看。"),
    403: ("无权访问", "您没有查看这个页面的权限。如确需办理，请联系本单位管理员。"),
    404: ("页面不存在", "您要找的页面不存在，可能地址有误，或内容已被移除。"),
    405: ("操作方式不正确", "这个地址不接受这样的操作。请从页面上的按钮进入。"),
    413: ("提交的内容过大", "请减少附件数量或大小后重试。"),
    429: ("操作过于频繁", "请稍后再试。"),
    500: ("系统出错了", "服务器处理时发生了意外错误，已记录下来。请稍后再试；如反复出现，请拨打 12345。"),
    503: ("系统暂时繁忙", "请稍后再试；紧急情况请直接拨打 12345。"),
}
STYLED = frozenset(WORDS)


def wants_page(request: web.Request) -> bool:
    """A person's browser navigating here (not the API, not a script asking for JSON)."""
    if request.path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("Accept", "")


def _detail(exc: web.HTTPException) -> str:
    """The handler's own sentence when it wrote one in Chinese; aiohttp's default is English."""
    text = exc.text or ""
    if exc.content_type == "text/html" or not _CJK.search(text):
        return ""
    return text.strip()


def error_page(request: web.Request, status: int, detail: str = "") -> web.Response:
    """The styled page for ``status``: desk look under /desk, the citizen site's elsewhere."""
    title, meaning = WORDS.get(status, WORDS[500] if status >= 500 else WORDS[400])
    context = {"status": status, "title": title, "meaning": meaning, "detail": detail}
    if request.path.startswith("/desk"):
        return render(request, "desk_error.html", context, status=status)
    return aiohttp_jinja2.render_template("citizen_error.html", request, context, status=status)


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a refusal or an unexpected failure with a page the person can read."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status not in STYLED or not wants_page(request) \
                or (exc.content_type == "text/html" and exc.text):
            raise
        page = error_page(request, exc.status, _detail(exc))
        for name, value in exc.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                page.headers.setdefault(name, value)
        return page
    except Exception as exc:
        if not wants_page(request):
            raise
        if store_unavailable(exc):
            # The database is down or a pooled connection just died: "try again", not a bug.
            log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
            return error_page(request, 503)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_page(request, 500)
