"""The load generator: a separate process that drives the server like its real clients do.

Run by ``python -m bench`` (never imported by it), so the server's event loop
and CPU are not shared with the client's. Prints one JSON object on stdout:
how many requests were acknowledged in how long, the acknowledgement latencies
(p50/p99, ms) and every case number acknowledged, so the bench can check that
each of them is stored.

    python -m bench.load web  --url http://127.0.0.1:PORT --seconds 6 --concurrency 32
    python -m bench.load fax  --smtp 127.0.0.1:PORT --tiff FILE --seconds 6 --rate 110
    python -m bench.load get  --url http://127.0.0.1:PORT/healthz --seconds 3
    python -m bench.load get  --url http://127.0.0.1:PORT/desk/queue --login city:PASSWORD
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote_plus, urlsplit

import aiohttp

Request = Callable[[], Awaitable[str | None]]
"""Sends one request; returns the case number acknowledged (or None for a plain GET)."""


class _Connection:
    """One keep-alive HTTP/1.1 connection, requests written and answers read by hand.

    The load generator shares the machine's cores with the server it measures, so
    it must cost far less CPU a request than the server: an aiohttp client costs
    about as much per request as an aiohttp server, and would take that CPU from
    the server (``wrk`` is the usual answer; this keeps the case-number check).
    """

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, data: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        """Send one whole request; its status, headers (lower-case names) and body."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(*self._address)
        reader, writer = self._streams
        try:
            writer.write(data)
            head = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if b"chunked" in headers.get(b"transfer-encoding", b""):
                body = bytearray()
                while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    body += (await reader.readexactly(size + 2))[:-2]
                await reader.readuntil(b"\r\n")
            else:
                body = bytearray(await reader.readexactly(int(headers.get(b"content-length", b"0"))))
        except BaseException:
            self.close()
            raise
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return int(head[0].split(b" ", 2)[1]), headers, bytes(body)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class _Pool:
    """Idle connections to one server, reused; a new one when all are busy."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._idle: list[_Connection] = []

    async def request(self, data: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        connection = self._idle.pop() if self._idle else _Connection(self.host, self.port)
        answer = await connection.request(data)
        self._idle.append(connection)
        return answer

_CSRF = re.compile(rb'name="csrf" value="([^"]+)"')
_FAX_ACK = re.compile(r"^250 .*case (\S+)")


async def _drive(request: Request, *, seconds: float, concurrency: int,
                 rate: float | None) -> dict[str, object]:
    """Closed loop (``concurrency`` clients back to back) or open loop at ``rate`` per second."""
    latencies: list[float] = []
    acked: list[str] = []
    errors: list[str] = []

    async def one() -> None:
        start = time.perf_counter()
        try:
            number = await request()
        except Exception as exc:  # counted and reported: the bench shows every refusal
            errors.append(f"{exc.__class__.__name__}: {str(exc)[:120]}")
            return
        latencies.append((time.perf_counter() - start) * 1000)
        if number:
            acked.append(number)

    began, cpu_began = time.perf_counter(), time.process_time()
    deadline = began + seconds
    if rate is None:
        async def client() -> None:
            while time.perf_counter() < deadline:
                await one()
        await asyncio.gather(*(client() for _ in range(concurrency)))
    else:
        tasks: list[asyncio.Task[None]] = []
        for i in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return {"count": len(latencies), "seconds": elapsed, "rate": len(latencies) / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "mean_ms": statistics.fmean(ordered) if ordered else float("nan"),
            "client_cpu_ms": cpu * 1000 / max(1, len(latencies) + len(errors)),
            "errors": len(errors), "first_errors": errors[:3], "acked": acked}


async def _web(args: argparse.Namespace, session: aiohttp.ClientSession) -> Request:
    """The citizen form: fetch it once for the CSRF cookie and token, then post it."""
    async with session.get(args.url + "/") as page:
        match = _CSRF.search(await page.read())
    assert match is not None, "no CSRF token on the form"
    token = match.group(1).decode()
    pool = _Pool(args.url)
    path = urlsplit(args.url).path.rstrip("/") + "/submit"
    head = (f"POST {path} HTTP/1.1\r\nHost: {pool.host}:{pool.port}\r\n"
            f"Cookie: {_cookies(session)}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ")
    fields = (f"&text={quote_plus('台江区八一七路井盖缺失，很危险')}&phone=13905910001&public=yes"
              f"&district=&csrf={quote_plus(token)}")

    async def post() -> str | None:
        body = f"submission={uuid.uuid4()}{fields}".encode()
        status, headers, _ = await pool.request(f"{head}{len(body)}\r\n\r\n".encode() + body)
        if status != 303:
            raise RuntimeError(f"HTTP {status}")
        return headers[b"location"].decode().split("n=", 1)[1].split("&", 1)[0]
    return post


def _cookies(session: aiohttp.ClientSession) -> str:
    return "; ".join(f"{morsel.key}={morsel.coded_value}" for morsel in session.cookie_jar)


def _get(args: argparse.Namespace, session: aiohttp.ClientSession) -> Request:
    """A plain GET from a browser: the cookies signing in left (a desk's session), and
    any the server sets are sent back from then on, as the aiohttp client's jar did."""
    pool = _Pool(args.url)
    parts = urlsplit(args.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "") or "/"
    jar = {morsel.key: morsel.coded_value for morsel in session.cookie_jar}

    def request_bytes() -> bytes:
        cookies = "; ".join(f"{name}={value}" for name, value in jar.items())
        return (f"GET {target} HTTP/1.1\r\nHost: {pool.host}:{pool.port}\r\n"
                + (f"Cookie: {cookies}\r\n" if cookies else "") + "\r\n").encode()

    data = request_bytes()

    async def get() -> str | None:
        nonlocal data
        status, headers, _ = await pool.request(data)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        if b"set-cookie" in headers:  # the last one only: enough for the form's CSRF cookie
            name, _, value = headers[b"set-cookie"].decode().split(";", 1)[0].partition("=")
            if jar.get(name) != value:
                jar[name] = value
                data = request_bytes()
        return None
    return get


def _fax_mail(tiff: bytes) -> Callable[[], bytes]:
    body = base64.encodebytes(tiff).replace(b"\n", b"\r\n")

    def mail() -> bytes:
        head = (f"From: fax@faxgw.example\r\nTo: 12345@hotline.example\r\n"
                f"Subject: Fax from 059187654321\r\nMessage-ID: <{uuid.uuid4().hex}@faxgw.example>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
                "--B\r\nContent-Type: text/plain\r\n\r\nfax\r\n--B\r\nContent-Type: image/tiff; "
                "name=\"fax.tif\"\r\nContent-Transfer-Encoding: base64\r\n"
                "Content-Disposition: attachment; filename=\"fax.tif\"\r\n\r\n")
        return head.encode() + body + b"\r\n--B--\r\n"
    return mail


def _fax(args: argparse.Namespace) -> Request:
    """A fax gateway: one SMTP session per fax, acknowledged by the 250 after DATA."""
    host, port = args.smtp.rsplit(":", 1)
    mail = _fax_mail(Path(args.tiff).read_bytes())

    async def send() -> str | None:
        reader, writer = await asyncio.open_connection(host, int(port))

        async def reply() -> str:
            while True:
                line = (await reader.readline()).decode()
                if line[3:4] != "-":
                    return line

        try:
            await reply()
            for command in ("EHLO bench", "MAIL FROM:<fax@faxgw.example>", "RCPT TO:<12345@hotline.example>",
                            "DATA"):
                writer.write(command.encode() + b"\r\n")
                answer = await reply()
                if answer[0] not in "23":
                    raise RuntimeError(answer.strip())
            writer.write(mail() + b".\r\n")
            answer = await reply()
            match = _FAX_ACK.match(answer)
            if match is None:
                raise RuntimeError(answer.strip())
            writer.write(b"QUIT\r\n")
            return match.group(1)
        finally:
            writer.close()
    return send


async def _sign_in(session: aiohttp.ClientSession, url: str, login: str) -> None:
    """Sign in to the desks once (``user:password``); the session cookie then rides along."""
    username, password = login.split(":", 1)
    origin = url.split("/desk/", 1)[0]
    async with session.post(origin + "/desk/login", data={"username": username, "password": password},
                            allow_redirects=False) as response:
        if response.status != 303:
            raise RuntimeError(f"sign-in as {username}: HTTP {response.status}")


async def main(args: argparse.Namespace) -> None:
    # unsafe: keep cookies set by an IP-address host (the form's CSRF cookie on 127.0.0.1).
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), cookie_jar=jar) as session:
        if args.mode == "web":
            request = await _web(args, session)
        elif args.mode == "fax":
            request = _fax(args)
        else:
            if args.login:
                await _sign_in(session, args.url, args.login)
            request = _get(args, session)
        result = await _drive(request, seconds=args.seconds, concurrency=args.concurrency, rate=args.rate)
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["web", "fax", "get"])
    parser.add_argument("--url", default="")
    parser.add_argument("--smtp", default="")
    parser.add_argument("--tiff", default="")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--login", default="", help="user:password to sign in to the desks first")
    asyncio.run(main(parser.parse_args()))
