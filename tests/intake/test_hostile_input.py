"""Odd input is a 4xx with a message, never a 500; error pages carry the security headers.

Issue 10 items 10 and 11: the inputs the issue lists, then a hypothesis fuzz over the
routes' query parameters and path ids, signed in, asserting no 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from desks.portal import PORTAL
from tests.forwarder.test_desk_auth import desk, sign_in

Client = TestClient[Any, Any]
__all__ = ["desk"]
HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")

GET_PATHS = ("/", "/receipt", "/status", "/answers", "/answers/{x}", "/desk/queue", "/desk/inbox",
             "/desk/search", "/desk/cases/{x}", "/desk/supervision", "/desk/admin",
             "/desk/admin/units/{x}", "/desk/admin/users", "/desk/admin/calendar",
             "/desk/console/history", "/desk/console/faxes/{x}", "/desk/attachments/{x}",
             "/api/cases", "/api/cases/{x}", "/api/cases/{x}/repeats", "/api/units")
PARAMS = ("page", "q", "from", "to", "year", "n", "c", "s", "e", "status", "phone", "next")


async def test_error_pages_carry_the_security_headers(client: Client) -> None:
    for path in ("/no-such-page", "/receipt?n=1&c=2&s=3", "/answers/nothing"):
        response = await client.get(path)
        assert response.status == 404, path
        for header in HEADERS:
            assert header in response.headers, (path, header)


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("GET", "/receipt?n=a&c=b&s=%C3%A9", {}),
    ("GET", "/", {"Cookie": "hotline_csrf=%C3%A9"}),
    ("GET", "/status", {"Cookie": "hotline_desk=\u00e9; hotline_csrf=\u00e9"}),
    ("GET", "/desk/queue?page=%C2%B2", {}),
    ("GET", "/desk/queue?page=100000000000000000000", {}),
    ("GET", "/api/cases?page=%C2%B2", {}),
    ("GET", "/api/cases?page=100000000000000000000", {}),
    ("POST", "/desk/admin/users/%C2%B2/active", {}),
    ("POST", "/api/assignments/%C2%B2/read", {}),
    ("GET", "/desk/search?from=0001-01-01", {}),
    ("GET", "/desk/search?to=9999-12-31", {}),
    ("GET", "/desk/cases/%E6%A1%88", {}),
    ("POST", "/desk/admin/units/%E6%A1%88/deactivate", {}),
    ("POST", "/desk/admin/units/%C2%B2/roster", {}),
    ("POST", "/desk/console/faxes/%E6%A1%88", {}),
    ("POST", "/api/cases/%E6%A1%88/accept", {}),
])
async def test_odd_input_is_refused_never_a_500(desk: Client, method: str, path: str,
                                                headers: dict[str, str]) -> None:
    await sign_in(desk, "admin")
    page = await desk.get("/desk/admin/users")
    token = (await page.text()).split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    response = await desk.request(method, path, headers={**headers, "X-CSRF-Token": token},
                                  allow_redirects=False)
    assert response.status < 500, await response.text()


NESTED = b"[" * 200_000 + b"]" * 200_000


@pytest.mark.parametrize(("path", "body", "content_type", "signed_in", "expected"), [
    ("/desk/login", b"username=a&password=b", "multipart/form-data", False, 400),
    ("/status", b"n=a&c=b", "multipart/form-data", False, 400),
    ("/desk/login", b"--x\r\n", "multipart/form-data; boundary=", False, 400),
    ("/api/cases/FZ1/accept", NESTED, "application/json", False, 401),
    ("/api/cases/FZ1/accept", NESTED, "application/json", True, 400),
])
async def test_odd_bodies_are_refused_with_a_message_never_a_500(
        desk: Client, path: str, body: bytes, content_type: str, signed_in: bool,
        expected: int) -> None:
    headers = {"Content-Type": content_type}
    if signed_in:
        await sign_in(desk, "city")
        page = await desk.get("/desk/queue")
        headers["X-CSRF-Token"] = (await page.text()).split('name="csrf-token" content="', 1)[
            1].split('"', 1)[0]
    response = await desk.post(path, data=body, headers=headers, allow_redirects=False)
    assert response.status == expected, (path, response.status, await response.text())
    assert (await response.text()).strip()


async def test_non_ascii_csrf_token_is_refused_with_403(desk: Client) -> None:
    await sign_in(desk, "admin")
    response = await desk.post("/desk/admin/users/1/active", data={"active": "1"},
                               headers={"X-CSRF-Token": "tést中"},
                               allow_redirects=False)
    assert response.status == 403, await response.text()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(GET_PATHS), ident=st.text(max_size=12),
       params=st.dictionaries(st.sampled_from(PARAMS), st.text(max_size=12), max_size=3))
async def test_fuzzed_routes_and_parameters_never_answer_500(
        desk: Client, path: str, ident: str, params: dict[str, str]) -> None:
    if "hotline_desk" not in {c.key for c in desk.session.cookie_jar}:
        await sign_in(desk, "city")
    url = path.replace("{x}", quote(ident, safe="") or "x")
    response = await desk.get(url, params=params, allow_redirects=False)
    assert response.status < 500, (url, params, await response.text())


POST_PATHS = ("/desk/login", "/status", "/status/rate", "/submit", "/desk/console",
              "/desk/console/faxes/{x}", "/desk/admin/units/{x}/roster", "/desk/admin/users",
              "/desk/admin/users/{x}/active", "/api/cases/{x}/accept",
              "/api/cases/{x}/dispatch", "/api/assignments/{x}/read",
              "/api/assignments/{x}/coordinate")
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data",
                 "multipart/form-data; boundary=x", "multipart/form-data; boundary=",
                 "text/plain", "application/json; charset=latin-1", "application/octet-stream")
BODIES = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=40).map(str.encode),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4).map(
        lambda d: "&".join(f"{quote(k)}={quote(v)}" for k, v in d.items()).encode()),
    st.sampled_from([b'{"reason": "\\ud800"}', b"--x\r\nContent-Disposition: form-data; "
                     b'name="a"; filename="a%ff.png"\r\n\r\nzz\r\n--x--\r\n', b"\xff\xfe"]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(POST_PATHS), ident=st.text(max_size=8), body=BODIES,
       content_type=st.sampled_from(CONTENT_TYPES))
async def test_fuzzed_posts_with_odd_bodies_and_content_types_never_answer_500(
        desk: Client, path: str, ident: str, body: bytes, content_type: str) -> None:
    if "hotline_desk" not in {c.key for c in desk.session.cookie_jar}:
        await sign_in(desk, "city")
    page = await desk.get("/desk/queue")
    token = (await page.text()).split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    url = path.replace("{x}", quote(ident, safe="") or "x")
    response = await desk.post(url, data=body, allow_redirects=False,
                               headers={"Content-Type": content_type, "X-CSRF-Token": token})
    assert response.status < 500, (url, content_type, body[:80], await response.text())




async def test_a_page_that_cannot_reach_the_database_says_try_later_not_500(client: Client) -> None:
    """The database down (or a pooled connection that just died) is "try again": 503."""

    def down() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    client.app[PORTAL].sessionmaker = down  # the list of published answers reads the database
    response = await client.get("/answers", headers={"Accept": "text/html"})
    assert response.status == 503 and "系统暂时繁忙" in await response.text()
