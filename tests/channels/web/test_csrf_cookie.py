"""The form's cheap cookie reading agrees with aiohttp's parser; submission ids are UUID4s."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import make_mocked_request
from hypothesis import example, given, settings
from hypothesis import strategies as st

from channels.web.routes import _UUID, new_submission_id
from contract.signing import CitizenCsrf, Signer

CSRF = CitizenCsrf(Signer(b"0123456789abcdef0123"))


def _aiohttp(header: str) -> str | None:
    value = make_mocked_request("GET", "/", headers={"Cookie": header}).cookies.get(CSRF.COOKIE)
    return value if value is not None and value.isascii() else None


_PIECES = st.sampled_from(["hotline_csrf=", "hotline_csrf", "HOTLINE_CSRF=", "xhotline_csrf=",
                           "abc", "Z9.", "-_", "=", ";", "; ", " ", "\t", '"', ",", "\\", "x=",
                           "$Path=/", "中", "%41", "hotline_csrf=tok.sig"])


@settings(max_examples=1000)
@given(st.lists(_PIECES, max_size=12).map("".join))
@example("a=1; hotline_csrf=X; hotline_csrf=Y")
@example('hotline_csrf="quoted.token"')
@example("hotline_csrf=a b; c=1")
@example(" hotline_csrf = v ;x")
@example("x=ahotline_csrf=1")
def test_the_token_cookie_reads_as_aiohttp_reads_it(header: str) -> None:
    request = make_mocked_request("GET", "/", headers={"Cookie": header})
    assert CSRF.cookie(request) == _aiohttp(header)


def test_a_browser_s_header_gives_the_token() -> None:
    token = CSRF.signer.new_token(CSRF.PURPOSE)
    header = f"theme=dark; {CSRF.COOKIE}={token}; lang=zh-CN"
    assert CSRF.cookie(make_mocked_request("GET", "/", headers={"Cookie": header})) == token
    assert CSRF.cookie(make_mocked_request("GET", "/")) is None


def test_submission_ids_are_random_version_4_uuids() -> None:
    ids = {new_submission_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        assert _UUID.match(text)
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
