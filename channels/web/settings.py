"""Settings of the citizen web form (the ``[web_form]`` section).

The HTTP server itself (host, port, the site's secret, Secure cookies) is the
service's ``[web]`` section; these are the form's own limits.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebFormSettings(BaseModel):
    """Upload limits of the citizen form; types are checked by their bytes, never the header."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    max_attachments: int = Field(5, ge=0, le=20)
    max_attachment_bytes: int = Field(10_485_760, gt=0)
    allowed_attachment_types: tuple[str, ...] = ()
    body_timeout_s: float = Field(120.0, gt=0, le=3600)
    """A post from which nothing arrives for this long gets 408 (a stalled upload); one
    that keeps arriving is never cut by it. A trickle is cut by ``web.body_min_bytes_per_s``."""

    @property
    def max_body_bytes(self) -> int:
        """The largest post the form can legitimately send: every file plus the text fields."""
        return self.max_attachments * self.max_attachment_bytes + 1_048_576
