"""The real service as a child process, and the three kinds of sender that feed it.

Durability is a property of the running program, not of a function: these
tests start ``hotline serve`` the way an operator does (a site file, its own
ports and data directory), drive it from outside over HTTP, SMTP and the modem,
and kill it with SIGKILL where a power cut would. What each sender was told
(a receipt page, an SMTP 250, its SMS gone from the SIM) is recorded here, so
the test can hold the stored cases against it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
FAX_MAIL = ROOT / "tests" / "channels" / "fax_smtp" / "fixtures" / "hylafax_faxrcvd_two_pages_tiff.eml"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_CASE = re.compile(r"[?&]n=([A-Z0-9-]+)")


async def until(predicate: Callable[[], bool], *, limit_s: float = 60.0,
                every_s: float = 0.05) -> None:
    """Wait for the state of another process (files on its SIM, its answers) to change.

    Polling is the only way here: nothing in this process is told when the
    service deletes an SMS file or commits a case."""
    async with asyncio.timeout(limit_s):
        while not predicate():  # noqa: ASYNC110 - the event is in another process
            await asyncio.sleep(every_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One ``hotline serve`` child on its own ports, data directory and database."""

    database_url: str
    root: Path
    web_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def modem(self) -> Path:
        return self.root / "modem"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def site_file(self) -> Path:
        path = self.root / "site.toml"
        path.write_text(f"""
database_url = "{self.database_url}"
data_dir = "{self.root / 'data'}"
[web]
port = {self.web_port}
secret_key = "durability-secret-0123456789abcdef"
[fax]
enabled = true
port = {self.smtp_port}
[gammu]
enabled = true
device = "{self.modem}"
state_dir = "{self.root / 'parts'}"
poll_interval_s = 0.2
[worker]
outbox_enabled = false
sweeper_enabled = false
[sip]
enabled = false
""", encoding="utf-8")
        return path

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env["HOTLINE_CONFIG"] = str(self.site_file())
        with (self.root / "service.log").open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "intake.cli", "serve"], cwd=ROOT,
                                    env=env, stdout=log, stderr=subprocess.STDOUT)

    async def start(self) -> None:
        self.process = self._spawn()
        async with asyncio.timeout(60), aiohttp.ClientSession() as http:
            while True:
                assert self.process.poll() is None, self.log_tail()
                try:
                    async with http.get(self.base + "/healthz") as response:
                        if response.status == 200 and self._smtp_ready():
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    def _smtp_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, as a power cut or the OOM killer would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        path = self.root / "service.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@dataclass
class Acks:
    """What each sender was told was stored."""

    web: dict[str, str] = field(default_factory=dict)
    """submission id → case number on the receipt page."""
    fax: dict[str, str] = field(default_factory=dict)
    """Message-ID → the 250 reply."""
    web_tried: list[str] = field(default_factory=list)
    web_status: dict[str, list[int]] = field(default_factory=dict)
    """submission id → every status the form post answered (503: try again)."""
    fax_replies: dict[str, list[int]] = field(default_factory=dict)
    fax_tried: list[str] = field(default_factory=list)


async def post_web(base: str, submission: str, text: str, acks: Acks) -> None:
    """One citizen's form post from a browser of its own (its own CSRF cookie); the
    receipt's case number only if the redirect came."""
    if submission not in acks.web_tried:
        acks.web_tried.append(submission)
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1, as a browser does
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)) as http:
        await _post(http, base, submission, text, acks)


async def _post(http: aiohttp.ClientSession, base: str, submission: str, text: str,
                acks: Acks) -> None:
    try:
        async with http.get(base + "/") as page:
            match = _CSRF.search(await page.text())
        if match is None:
            return
        form = aiohttp.FormData({"csrf": match.group(1), "submission": submission, "text": text,
                                 "phone": "13805912345", "public": "yes"})
        async with http.post(base + "/submit", data=form, allow_redirects=False) as response:
            acks.web_status.setdefault(submission, []).append(response.status)
            found = _CASE.search(response.headers.get("Location", ""))
            if response.status == 303 and found:
                acks.web[submission] = found.group(1)
    except (TimeoutError, aiohttp.ClientError, ConnectionError):
        return  # the service died under us: the citizen saw no receipt


def send_fax(port: int, message_id: str, acks: Acks) -> None:
    """One fax gateway delivery (blocking; run in a thread); 250 means stored."""
    raw = FAX_MAIL.read_bytes().replace(b"<hylafax.000000123@", f"<{message_id}@".encode())
    if message_id not in acks.fax_tried:
        acks.fax_tried.append(message_id)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
            smtp.ehlo("faxgw.test")
            smtp.mail("fax@faxgw.test")
            smtp.rcpt("12345@hotline.example")
            try:
                code, reply = smtp.data(raw)
            except smtplib.SMTPDataError as exc:
                code, reply = exc.smtp_code, exc.smtp_error
            acks.fax_replies.setdefault(message_id, []).append(code)
            if code == 250:
                acks.fax[message_id] = reply.decode(errors="replace")
    except (smtplib.SMTPException, OSError):
        return  # no 250: the gateway keeps the fax and retries


def new_ids(prefix: str, count: int) -> list[str]:
    if prefix == "web":
        return [str(uuid.uuid4()) for _ in range(count)]
    return [f"{prefix}.{time.time_ns()}.{i}" for i in range(count)]
