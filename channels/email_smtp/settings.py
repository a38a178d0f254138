"""Settings of the plain email deliverer (the ``[email]`` section).

Email is outbound only: replies to citizens who left an email address (the web
form, or a further contact when their first channel fails). Mail leaves
through one configured SMTP relay, the site's own mail server, which does the
MX lookups and queuing; we never talk to recipients' servers ourselves.
Everything has a default so an installation without email needs no section.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


def _one_line(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} must be one line")
    return value.strip()


class EmailSettings(BaseModel):
    """The SMTP relay outbound email goes through, and who it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    """Upgrade the connection with STARTTLS before logging in (port 587 relays)."""
    username: str = ""
    password: SecretStr = SecretStr("")
    from_address: str = "12345@hotline.example"
    from_name: str = "12345政务服务便民热线"
    timeout_s: float = Field(30.0, gt=0, le=600)
    """Per SMTP command; a relay slower than this is a retryable failure."""

    @field_validator("smtp_host", "username", "from_name")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return _one_line(value, "value")

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        value = _one_line(value, "from_address")
        local, at, domain = value.rpartition("@")
        if not at or not local or not domain or any(ch.isspace() for ch in value):
            raise ValueError("must be an email address such as 12345@hotline.example")
        return value

    @model_validator(mode="after")
    def _login_complete(self) -> EmailSettings:
        if bool(self.username) != bool(self.password.get_secret_value()):
            raise ValueError("username and password go together: set both or neither")
        return self
