"""One web process behind nginx against two: CPU seconds per request, the same load on both.

This machine has two cores shared with the load generator (and nginx), so
requests per second cannot double when a second web process joins; what must
hold is that the second process adds no work per request (a shared lock, a
cache that each process now misses, a connection pool that thrashes). So the
figure is the web processes' CPU time (user + system, from ``/proc/<pid>/stat``)
divided by the requests answered, with two upstreams against one.

Each process is paced at the same rate in both setups (``cpu_per_request``
says why). Both setups are the production shape (``docs/production.md``): Debian's nginx
with an upstream ``keepalive`` pool in front of ``hotline serve --only web``
processes on PostgreSQL. nginx runs as a child of the bench with its
configuration, pid file and logs in a temporary folder, never as a service.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TICKS = os.sysconf("SC_CLK_TCK")
CONF = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream hotline {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://hotline;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""

Load = Callable[..., Awaitable[dict[str, Any]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write(path: Path, content: str) -> None:
    path.write_text(content)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (fields 14 and 15 of ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _wait_http(url: str, *, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout_s:g} s")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def web_processes(database_url: str, count: int, root: Path) -> AsyncIterator[list[tuple[int, int]]]:
    """``count`` × ``hotline serve --only web`` on free ports: [(pid, port)], stopped on exit."""
    procs: list[tuple[asyncio.subprocess.Process, int]] = []
    _folder(root)
    try:
        for i in range(count):
            port = free_port()
            env = {**os.environ, "HOTLINE_DATABASE_URL": database_url, "HOTLINE_WEB__PORT": str(port),
                   "HOTLINE_WEB__SECRET_KEY": "bench-secret-key-0123456789abcdef",
                   "HOTLINE_WEB__ACCESS_LOG": "false",  # nginx logs; as docs/production.md says
                   "HOTLINE_DATA_DIR": str(root / f"web{i}")}
            with (root / f"web{i}.log").open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "intake.cli", "serve", "--only", "web", env=env,
                    stdout=log, stderr=log)
            procs.append((proc, port))
        for _, port in procs:
            await _wait_http(f"http://127.0.0.1:{port}/healthz")
        yield [(p.pid, port) for p, port in procs]
    finally:
        for proc, _ in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc, _ in procs:
            await proc.wait()


@asynccontextmanager
async def nginx(upstreams: list[int], root: Path) -> AsyncIterator[tuple[int, int]]:
    """nginx in the foreground as our child, proxying to ``upstreams``: (pid, port)."""
    port = free_port()
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstreams)
    conf = _folder(root) / "nginx.conf"
    _write(conf, CONF.format(root=root, servers=servers, port=port))
    proc = await asyncio.create_subprocess_exec(NGINX, "-c", str(conf), "-g", "daemon off;",
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        await _wait_http(f"http://127.0.0.1:{port}/healthz")
        yield proc.pid, port
    finally:
        proc.terminate()  # SIGTERM: fast shutdown
        await proc.wait()


async def cpu_per_request(database_url: str, count: int, root: Path, *, load: Load, mode: list[str],
                          seconds: float, concurrency: int, rate: float | None = None) -> tuple[float, float]:
    """(web CPU ms per request, requests/s) with ``count`` web processes behind nginx and
    ``concurrency`` clients, or ``rate`` requests a second (open loop), *per process*.

    Per process, because a process's CPU per request falls as its load rises: the event
    loop's turn (epoll, callbacks, timers) is paid once for however many sockets are
    ready, and an intake batch's commit (one transaction, its fixed statements and round
    trips, ~3–4 ms of CPU) once for however many items joined it. The same closed-loop
    clients split over two processes leave each with half the load, and so cost 1.2–1.8×
    the CPU per request on this machine with no work added; paced at the same rate per
    process, two cost what one does (docs/scaling.md). Scaling out happens because the
    load grew, so each process is loaded as the single one was, and the figure shows only
    what a second process adds (a shared lock, a cache each one misses, a pool that thrashes).
    """
    clients = str(concurrency * count)
    pace = ["--rate", str(rate * count)] if rate else []
    async with web_processes(database_url, count, root) as webs, \
            nginx([port for _, port in webs], root / f"nginx{count}") as (_, port):
        url = f"http://127.0.0.1:{port}" + ("/" if mode[0] == "get" else "")
        await load(*mode, "--url", url, "--seconds", "1", "--concurrency", clients)  # warm every process up
        before = sum(cpu_seconds(pid) for pid, _ in webs)
        got = await load(*mode, "--url", url, "--seconds", str(seconds), "--concurrency", clients, *pace)
        used = sum(cpu_seconds(pid) for pid, _ in webs) - before
    return used / max(1, int(got["count"])) * 1000, float(got["rate"])


async def one_against_two(database_url: str, root: Path, *, load: Load, mode: list[str], seconds: float,
                          rate: float, rounds: int) -> tuple[list[float], list[float]]:
    """CPU ms per request with 1 and with 2 processes, each process paced at ``rate`` a second,
    ``rounds`` times each, alternating so that the shared machine's load drifts over both
    alike: ([1 process…], [2 processes…])."""
    one: list[float] = []
    two: list[float] = []
    for i in range(rounds):
        for count, into in ((1, one), (2, two)):
            ms, got = await cpu_per_request(database_url, count, root / f"r{i}p{count}", load=load,
                                            mode=mode, seconds=seconds, concurrency=32, rate=rate)
            into.append(ms)
            print(f"    {mode[0]}: {count} process(es) at {rate * count:g}/s: "
                  f"{ms:.3f} ms CPU a request ({got:.0f}/s served)", flush=True)
    return one, two
