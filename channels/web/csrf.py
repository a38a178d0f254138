"""Signed tokens: CSRF (double-submit, HMAC-signed) and tamper-proof receipt links.

The CSRF token lives in a cookie and in a hidden field; a post is accepted only
if both are present, equal and carry our signature, so a page on another site
can neither read nor mint one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


class Signer:
    """HMAC-SHA256 under the site's secret, with a purpose label per use."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("secret must be at least 16 bytes")
        self._secret = secret

    def sign(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._secret, f"{purpose}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def verify(self, purpose: str, value: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(purpose, value), signature)

    def new_token(self, purpose: str) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self.sign(purpose, nonce)}"

    def check_token(self, purpose: str, token: str | None) -> bool:
        if not token or token.count(".") != 1:
            return False
        nonce, signature = token.split(".")
        return self.verify(purpose, nonce, signature)
