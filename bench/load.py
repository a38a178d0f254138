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

import aiohttp

Request = Callable[[], Awaitable[str | None]]
"""Sends one request; returns the case number acknowledged (or None for a plain GET)."""

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

    began = time.perf_counter()
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
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return {"count": len(latencies), "seconds": elapsed, "rate": len(latencies) / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "mean_ms": statistics.fmean(ordered) if ordered else float("nan"),
            "errors": len(errors), "first_errors": errors[:3], "acked": acked}


async def _web(args: argparse.Namespace, session: aiohttp.ClientSession) -> Request:
    """The citizen form: fetch it once for the CSRF cookie and token, then post it."""
    async with session.get(args.url + "/") as page:
        match = _CSRF.search(await page.read())
    assert match is not None, "no CSRF token on the form"
    token = match.group(1).decode()

    async def post() -> str | None:
        data = {"csrf": token, "submission": str(uuid.uuid4()), "text": "台江区八一七路井盖缺失，很危险",
                "phone": "13905910001", "public": "yes", "district": ""}
        async with session.post(args.url + "/submit", data=data, allow_redirects=False) as response:
            if response.status != 303:
                raise RuntimeError(f"HTTP {response.status}")
            return response.headers["Location"].split("n=", 1)[1].split("&", 1)[0]
    return post


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

            async def request() -> str | None:
                async with session.get(args.url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}")
                return None
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
