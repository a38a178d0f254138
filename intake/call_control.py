"""The consoles' requests on live calls, carried to the process that holds the call.

An agent presses the emergency key in a web process; the call is held by a SIP
worker under the ``sip`` role, which may run in another process (``hotline
serve --only sip``). The phone line ``serve``s a handler here; the console
``ask``s. On SQLite the service is one process, so ``LocalCalls`` calls the
handlers directly. On PostgreSQL ``SharedCalls`` NOTIFYs every process sharing
the database (itself included); each runs its own handlers and answers, ``None``
when it does not hold the call; the asker takes the first real answer, and
stops waiting once every listening process (counted in ``pg_stat_activity``)
has answered. Like the screen pop (``desks.console.shared_pop``) it keeps
working in this process alone while the database listener is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from contract.channel import CallAnswer, CallHandler, CallRequest
from registrar.broadcast import keep_listening, listeners, notify

log = logging.getLogger(__name__)

CHANNEL = "hotline_call_control"
LISTENER_NAME = "hotline-call-control"


class LocalCalls:
    """The handlers of this process: the whole story on SQLite."""

    def __init__(self) -> None:
        self.handlers: list[CallHandler] = []

    def serve(self, handler: CallHandler) -> Callable[[], None]:
        self.handlers.append(handler)

        def stop() -> None:
            if handler in self.handlers:
                self.handlers.remove(handler)

        return stop

    async def here(self, request: CallRequest) -> CallAnswer | None:
        """The answer of the first handler here that holds the call."""
        for handler in list(self.handlers):
            try:
                answer = await handler(request)
            except Exception:  # one broken handler must not silence the others
                log.exception("call control: a handler failed on %s", request.get("op"))
                continue
            if answer is not None:
                return answer
        return None

    async def ask(self, request: CallRequest, *, timeout_s: float) -> CallAnswer | None:
        try:
            async with asyncio.timeout(timeout_s):
                return await self.here(request)
        except TimeoutError:
            log.warning("call control: no answer to %s within %.0f s", request.get("op"), timeout_s)
            return None


@dataclass(slots=True)
class _Answers:
    expected: int
    seen: int = 0
    answer: CallAnswer | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, answer: object) -> None:
        self.seen += 1
        if isinstance(answer, dict) and self.answer is None:
            self.answer = answer
            self.done.set()
        if self.seen >= self.expected:
            self.done.set()


class SharedCalls(LocalCalls):
    """Every process sharing PostgreSQL asked at once; the one holding the call answers."""

    def __init__(self, engine: Callable[[], AsyncEngine], database_url: str) -> None:
        super().__init__()
        self._engine, self.database_url = engine, database_url
        self.connection: asyncpg.Connection | None = None
        self.pending: dict[str, _Answers] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()
        """Set while the listener is connected (tests wait for it)."""

    @property
    def engine(self) -> AsyncEngine:
        """The app's engine (it exists only once the app has started)."""
        return self._engine()

    async def ask(self, request: CallRequest, *, timeout_s: float) -> CallAnswer | None:
        if self.connection is None:
            log.warning("call control: not listening on the database; this process only")
            return await super().ask(request, timeout_s=timeout_s)
        key = uuid.uuid4().hex
        try:
            answers = _Answers(expected=await listeners(self.engine, LISTENER_NAME))
            self.pending[key] = answers
            await notify(self.engine, CHANNEL, json.dumps(
                {"kind": "ask", "id": key, "request": dict(request)}, ensure_ascii=False))
            async with asyncio.timeout(timeout_s):
                await answers.done.wait()
        except TimeoutError:
            log.warning("call control %s: no answer within %.0f s", key, timeout_s)
        except (OSError, ConnectionError, SQLAlchemyError, asyncpg.PostgresError) as exc:
            log.warning("call control across processes failed (%s); this process only", exc)
            return await super().ask(request, timeout_s=timeout_s)
        finally:
            answers_left = self.pending.pop(key, None)
        return answers_left.answer if answers_left is not None else None

    def on_message(self, payload: str) -> None:
        """A NOTIFY: a request to answer here, or a process's answer to ours."""
        try:
            data = json.loads(payload)
            kind, key = data["kind"], str(data["id"])
            if kind == "ask" and isinstance(data["request"], dict):
                task = asyncio.create_task(self._answer(key, data["request"]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif kind == "answer" and key in self.pending:
                self.pending[key].add(data.get("answer"))
        except (ValueError, KeyError, TypeError) as exc:
            # Anyone with access to the database may NOTIFY: a stray message is not ours.
            log.warning("ignored a malformed call-control message: %s", exc)

    async def _answer(self, key: str, request: CallRequest) -> None:
        answer = await self.here(request)
        try:
            await notify(self.engine, CHANNEL, json.dumps({"kind": "answer", "id": key, "answer": answer},
                                                          ensure_ascii=False))
        except (OSError, ConnectionError, SQLAlchemyError, asyncpg.PostgresError, ValueError) as exc:
            log.warning("call control: could not answer %s (%s)", key, exc)

    def _connected(self, conn: asyncpg.Connection | None) -> None:
        self.connection = conn
        (self.listening.set if conn is not None else self.listening.clear)()

    async def keep_listening(self) -> None:
        """Hold the listening connection (reconnecting) until cancelled."""
        try:
            await keep_listening(self.database_url, CHANNEL, self.on_message, name=LISTENER_NAME,
                                 on_change=self._connected)
        finally:
            for task in list(self.tasks):
                task.cancel()
