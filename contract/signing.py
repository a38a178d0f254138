"""Signed tokens: CSRF (double-submit, HMAC-signed) and tamper-proof receipt links.

The CSRF token lives in a cookie and in a hidden field; a post is accepted only
if both are present, equal and carry our signature, so a page on another site
can neither read nor mint one.
"""

from __future__ import annotations

import hmac
import re
import secrets

from aiohttp import hdrs, web


class Signer:
    """HMAC-SHA256 under the site's secret, with a purpose label per use."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("secret must be at least 16 bytes")
        self._secret = secret

    def sign(self, purpose: str, value: str) -> str:
        # hmac.digest: the one-shot C path (what hmac.new(...).hexdigest() gives, faster).
        return hmac.digest(self._secret, f"{purpose}\x00{value}".encode(), "sha256").hex()[:32]

    def verify(self, purpose: str, value: str, signature: str) -> bool:
        """Constant-time check; any text a client sends (non-ASCII too) is simply wrong."""
        return hmac.compare_digest(self.sign(purpose, value).encode(),
                                   signature.encode("utf-8", "replace"))

    def new_token(self, purpose: str) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self.sign(purpose, nonce)}"

    def check_token(self, purpose: str, token: str | None) -> bool:
        if not token or token.count(".") != 1:
            return False
        nonce, signature = token.split(".")
        return self.verify(purpose, nonce, signature)


_TOKEN_COOKIE = re.compile(r"(?:^|;)[ \t]*hotline_csrf=([A-Za-z0-9_.\-]*)[ \t]*(?:;|$)")
"""``hotline_csrf=<token>`` as one cookie of the header (the name is ``CitizenCsrf.COOKIE``)."""


class CitizenCsrf:
    """The one double-submit CSRF check of the citizen pages (web form and portal).

    The token lives in an HttpOnly cookie and in each form's hidden ``csrf``
    field; a post is accepted only when both are equal and carry our signature.
    ``secure`` marks the cookie Secure behind HTTPS (``web.secure_cookies``).
    """

    COOKIE = "hotline_csrf"
    PURPOSE = "citizen-form"

    def __init__(self, signer: Signer, *, secure: bool = False) -> None:
        self.signer = signer
        self.secure = secure

    def cookie(self, request: web.BaseRequest) -> str | None:
        """The browser's token cookie as ``request.cookies`` reads it, or None; only ASCII
        counts (we never set anything else), so odd input is simply no token.

        A plain header (the name once, no quotes: what browsers send) is read by one
        regular expression; aiohttp's full cookie parser was a twentieth of a form view's
        CPU. Anything else goes to that parser; a test compares the two on odd headers.
        """
        header = request.headers.get(hdrs.COOKIE)
        if header is None:
            return None
        if header.count(self.COOKIE) == 1 and '"' not in header:
            match = _TOKEN_COOKIE.search(header)
            if match is not None:
                return match[1]
        value = request.cookies.get(self.COOKIE)
        return value if value is not None and value.isascii() else None

    def token(self, cookie: str | None) -> str:
        """The browser's token when it is ours and intact, else a new one."""
        if cookie is not None and self.signer.check_token(self.PURPOSE, cookie):
            return cookie
        return self.signer.new_token(self.PURPOSE)

    def set_cookie(self, response: web.StreamResponse, token: str) -> None:
        """Give the browser the token (HttpOnly, SameSite=Strict, Secure when configured)."""
        response.set_cookie(self.COOKIE, token, httponly=True, samesite="Strict",
                            secure=self.secure, path="/")

    def valid(self, submitted: str | None, cookie: str | None) -> bool:
        """Whether a post's field matches the cookie and is signed by us."""
        return bool(submitted) and submitted == cookie and self.signer.check_token(
            self.PURPOSE, submitted)
