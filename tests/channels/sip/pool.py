"""Kamailio in front of a pool of real workers, as production runs them, on free loopback ports.

The pool is started the way the service starts it (``SPEC.start`` with the
``sip`` role): real worker processes on consecutive free SIP ports (a worker
restarted after a crash binds its own port again, so the dispatcher list stays
right, as with fixed ports in production). Kamailio runs as a child with the
configuration ``hotline sip kamailio-config`` writes (``kamailio -f CFG -Y
RUNDIR -P PIDFILE -DD -E -n 2``) and is stopped with SIGTERM. The trunk is
127.0.0.1 (pike never limits it); a flooder sends from 127.0.0.2, another
address of the loopback.

On CI (``CI=true``) a missing ``kamailio`` fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from channels.sip import kamailio
from channels.sip.settings import SipSettings
from tests.channels.sip.sipp import missing

TRUNK = "127.0.0.1"
FLOODER = "127.0.0.2"
START_TIMEOUT_S = 15.0


def kamailio_binary() -> str:
    """The kamailio binary (Debian puts it in /usr/sbin), or fail (CI) / skip (laptop)."""
    found = shutil.which("kamailio", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if found is None:
        missing("Kamailio is missing: apt-get install kamailio")
    return found


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def consecutive_free_ports(count: int, *, first: int = 21000, last: int = 29000) -> int:
    """The first of ``count`` consecutive free UDP ports (workers listen on ``port + i``)."""
    for base in range(first + (os.getpid() % 97) * count, last - count, count):
        held: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return base
    raise RuntimeError(f"no {count} consecutive free UDP ports in {first}-{last}")


def pool_settings(base: SipSettings, *, workers: int) -> SipSettings:
    """``base`` with ``workers`` workers on consecutive free ports and Kamailio on a free port."""
    return base.model_copy(update={
        "workers": workers, "port": consecutive_free_ports(workers),
        "kamailio_port": free_udp_port(), "trunk_address": TRUNK})


@dataclass
class Kamailio:
    """The running proxy: where callers dial, and its process."""

    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.returncode is None


def _options(port: int) -> bytes:
    return (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{{local}};"
            f"branch=z9hG4bK-ping{port}\r\nFrom: <sip:ping@127.0.0.1>;tag=p\r\n"
            f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: ping-{port}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def answers_options(port: int, wait_s: float = 0.3) -> bool:
    """Whether something answers an OPTIONS ping on ``127.0.0.1:port`` (Kamailio is up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        sock.sendto(_options(port).replace(b"{local}", str(local).encode()), ("127.0.0.1", port))
        sock.settimeout(wait_s)
        try:
            return sock.recv(65_535).startswith(b"SIP/2.0 200")
        except (TimeoutError, ConnectionRefusedError):
            return False


@asynccontextmanager
async def running_kamailio(settings: SipSettings, workdir: Path) -> AsyncIterator[Kamailio]:
    """Kamailio with the generated configuration, up and answering; SIGTERM on exit."""
    binary = kamailio_binary()
    cfg, _ = kamailio.write(settings, workdir)
    checked = await asyncio.create_subprocess_exec(
        binary, "-c", "-f", str(cfg), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await checked.communicate()
    assert checked.returncode == 0, out.decode("utf-8", "replace")[-2000:]
    log = workdir / "kamailio.log"
    sink = await asyncio.to_thread(log.open, "wb")  # a file, not a pipe nobody drains
    with sink:
        process = await asyncio.create_subprocess_exec(
            binary, "-f", str(cfg), "-Y", str(workdir), "-P", str(workdir / "kamailio.pid"),
            "-DD", "-E", "-n", "2", stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink)
    proxy = Kamailio(settings.kamailio_port, process, log)
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not await asyncio.to_thread(answers_options, proxy.port):
                assert proxy.alive, log.read_text("utf-8", "replace")[-3000:]
        yield proxy
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


def dispatcher_states(settings: SipSettings) -> str:
    """``kamcmd dispatcher.list`` (each worker's state), for assertion messages; "" without kamcmd."""
    kamcmd = shutil.which("kamcmd", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if kamcmd is None:
        return ""
    import subprocess

    sock = f"unix:/tmp/hotline-kamailio-{settings.kamailio_port}.ctl"
    done = subprocess.run([kamcmd, "-s", sock, "dispatcher.list"], capture_output=True, text=True,
                          timeout=5, check=False)
    return done.stdout + done.stderr
