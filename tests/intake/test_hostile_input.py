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
])
async def test_odd_input_is_refused_never_a_500(desk: Client, method: str, path: str,
                                                headers: dict[str, str]) -> None:
    await sign_in(desk, "admin")
    page = await desk.get("/desk/admin/users")
    token = (await page.text()).split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    response = await desk.request(method, path, headers={**headers, "X-CSRF-Token": token},
                                  allow_redirects=False)
    assert response.status < 500, await response.text()


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
