"""The wire between a SIP worker process and the service: JSON lines over a socketpair.

A worker never touches the database: it asks, the service answers. Every line
is one JSON object with an ``op``; a request that wants an answer carries an
``id`` and the answer echoes it. Lines are bounded (``MAX_LINE``) so a worker
gone wrong cannot make the service buffer without end.

Worker → service:
    ``hello`` {port}                          the worker is up on this SIP port
    ``record_start`` {call, sip_call_id, caller, display_name}
    ``record_done`` {id, call, listening}     → {result: registered|kept|discarded, case}
    ``status`` {id, digits, caller}           → {text, wav}
    ``agents`` {id, call, caller}             → {agents: [uri…], more} (and the screen pop)
    ``agent_next`` {id, call, caller}         → the same, the next agent (``more`` was true)
    ``agent_busy`` {agent, busy, call}        bridged (busy) / done with that agent
    ``call`` {calls}                          how many calls it holds now
    ``dialed`` {id, result, key, code}        an outbound call ended (``outcall_script.Result``)
    ``call_ended`` {call}                     a caller's call is over (no more emergency key)
    ``emergency_result`` {ref, call, ok, code, reason, caller, display_name}
                                              how an emergency transfer ended (R3.8)
Service → worker: the answers above, ``stop``, and
    ``emergency`` {ref, call, uri}            hand the live call to an emergency line
    ``dial`` {id, uri, items, ask, ring_s, key_timeout_s}  place an outbound call
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_LINE = 65_536

Message = dict[str, Any]


@dataclass(frozen=True)
class WorkerConfig:
    """What the service tells a worker at start (JSON on the command line)."""

    index: int
    host: str
    port: int
    rtp_port: int
    rtp_range: int
    number: str
    spool_dir: Path
    choice_timeout_s: float
    digit_timeout_s: float
    max_record_s: float
    silence_s: float
    silence_level: int
    agent_ring_s: float
    readback_times: int
    registrar: str = ""
    username: str = ""
    password: str = ""
    realm: str = "*"
    log_level: int = 1
    transfer: str = "bridge"
    """``bridge`` or ``refer`` (``SipSettings.transfer``)."""
    emergency_transfer: str = "bridge"
    emergency_ring_s: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        data = json.loads(text)
        data["spool_dir"] = Path(data["spool_dir"])
        return cls(**data)


def encode(message: Message) -> bytes:
    """One line of JSON (ASCII, so no byte of it can be a newline inside a string)."""
    line = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"
    if len(line) > MAX_LINE:
        raise ValueError(f"message of {len(line)} bytes exceeds {MAX_LINE}")
    return line


def decode(line: bytes) -> Message | None:
    """The object on one line, or None for anything else (never raises on garbage)."""
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("op"), str) else None


class WorkerLink:
    """The worker's end: a reader thread hands each message to ``deliver``; ``send`` is thread-safe.

    The reader thread never calls pjsua2 (that would abort the process): it only
    queues messages for the Endpoint's thread.
    """

    def __init__(self, sock: socket.socket, deliver: Callable[[Message | None], None]) -> None:
        self._sock = sock
        self._deliver = deliver
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="sip-link", daemon=True)

    def start(self) -> None:
        self._reader.start()

    def send(self, message: Message) -> None:
        data = encode(message)
        with self._lock:
            try:
                self._sock.sendall(data)
            except OSError:
                self._deliver(None)  # the service is gone: the worker stops

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._sock.recv(65_536)
            except OSError:
                chunk = b""
            if not chunk:
                self._deliver(None)
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = decode(line)
                if message is not None:
                    self._deliver(message)
            if len(buffer) > MAX_LINE:
                buffer = b""
