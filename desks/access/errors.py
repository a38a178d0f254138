"""API errors as JSON: ``{"error": code, "message": text}`` with the matching HTTP status."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from forwarder.workflow_base import WorkflowError


def json_reply(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON in UTF-8 with the Chinese text as text, not ``\\u`` escapes."""
    return web.json_response(body, status=status, headers=headers,
                             dumps=partial(json.dumps, ensure_ascii=False))


#: WorkflowError.code → (HTTP status, API error code).
WORKFLOW_STATUS: dict[str, tuple[int, str]] = {
    "invalid": (400, "invalid"),
    "forbidden": (403, "forbidden"),
    "not_found": (404, "not_found"),
    "illegal": (409, "illegal"),
}


class ApiError(Exception):
    """An answer other than success, raised anywhere in a handler."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @classmethod
    def invalid(cls, message: str) -> ApiError:
        return cls(400, "invalid", message)

    @classmethod
    def forbidden(cls, message: str) -> ApiError:
        return cls(403, "forbidden", message)

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        return cls(404, "not_found", message)

    @classmethod
    def from_workflow(cls, exc: WorkflowError) -> ApiError:
        status, code = WORKFLOW_STATUS.get(exc.code, (409, "illegal"))
        return cls(status, code, str(exc))

    def response(self) -> web.Response:
        headers = {"WWW-Authenticate": 'Bearer realm="hotline"'} if self.status == 401 else None
        return json_reply({"error": self.code, "message": self.message},
                                 status=self.status, headers=headers)
