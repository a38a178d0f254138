"""``python -m bench.sip``: the phone line's capacity, set-up rate and CPU, each beside SIPp's own.

Issue 11 asks what one worker and a pool behind Kamailio hold. Every figure
here is measured twice in the same run: against our workers (pjsua2, the
Mandarin menu, prompts played) and, as the baseline, SIPp's caller against
SIPp's own answering side (``UAS_XML``: answers at once, echoes RTP, takes
Kamailio's OPTIONS probes with ``-aa``; behind the same Kamailio configuration
for the pool's figures), which does no work per call and has no call limit —
so the ratio is the cost of the line, not of the machine or of SIPp:

- ``sip_held_1_worker`` / ``sip_held_kamailio_<N>_workers``: calls held at once
  with media (SIPp's speech pcap) when ``4N + 4`` callers dial together; the
  rest get 486 (``PJSUA_MAX_CALLS`` is four);
- ``sip_setup_ms_kamailio_<N>_workers``: INVITE → 200 latency (SIPp's response
  time, 1 ms resolution: a baseline of 0 is under a millisecond) at 10 calls/s
  through Kamailio, against the same Kamailio configuration in front of SIPp uas;
- ``sip_setup_rate_kamailio_<N>_workers``: calls set up and hung up per second when
  300 are offered at 300/s with at most ``4N`` in progress;
- ``sip_cpu_ms_per_call_s``: CPU milliseconds per second of a held call with
  media, callers plus answering side (workers, or SIPp uas).

The rate run is fast call churn: before the worker's set-up gate
(``channels/sip/gate.py``) and Kamailio's pool-wide INVITE cap (pipelimit) it
exhausted a worker's pjlib ioqueue and pjsua aborted (8 worker restarts, 37
calls set up a second). Now calls above the cap get 503 with Retry-After and
count as not set up (so does 486); the baseline Kamailio gets the same cap.
Measured on the 2-core machine: 300 offered at 300/s to 4 workers, 62 set up a
second, 0 worker restarts (the count is printed and kept in the results).

Needs ``sipp`` and ``kamailio`` (``apt-get install sip-tester kamailio``).
Nothing is asserted; results are printed and written to ``bench/results/sip.json``.
Separate from ``make bench`` so that stays under ten minutes (this takes ~1.5 min).

    python -m bench.sip [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.figures import Figure, print_figure
from channels.sip.settings import SipSettings
from channels.sip.spec import SPEC
from contract.channel import ChannelPorts, Started
from contract.clock import FixedClock
from contract.envelope import Envelope, Receipt
from contract.signing import CitizenCsrf, Signer
from contract.sms_keywords import RatingTaken
from tests.channels.sip import sipp
from tests.channels.sip.pool import free_udp_port, pool_settings, running_kamailio

RESULTS = Path(__file__).resolve().parent / "results" / "sip.json"
TZ = ZoneInfo("Asia/Shanghai")
HELD: list[sipp.Step] = [sipp.Pause(200), sipp.Speak(), sipp.HangUpAfter(500)]
"""A call with media: SIPp's 7 s speech pcap, then BYE."""
SHORT: list[sipp.Step] = [sipp.HangUpAfter(0)]


UAS_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="SIPp uas that also works behind a record-routing proxy">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
""" + sipp.answer_sdp() + """]]></send>
  <recv request="ACK" crlf="true"/>
""" + sipp.AWAIT_BYE.format(timeout=60_000) + "</scenario>\n"
"""SIPp's built-in ``uas`` echoes no Record-Route, so behind Kamailio its caller's BYE has no route."""


class _Nobody:
    """The service side for a bench: no case is made (nobody presses a key), nothing is asked."""

    async def __call__(self, envelope: Envelope) -> Receipt:
        return Receipt("FZ12345-20261202-000001", created=True)

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        return None

    async def query_help(self, sender_e164: str, *, channel: str, in_reply: bool) -> str | None:
        return None

    async def unsubscribe(self, sender_e164: str, *, channel: str, in_reply: bool) -> str | None:
        return None

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        return RatingTaken(taken=False)

    async def announce(self, caller: str, *, agent: str | None = None, call: str = "") -> int:
        return 0


def _ports(data_dir: Path) -> ChannelPorts:
    nobody, signer = _Nobody(), Signer(b"bench-sip-secret-0123456789abcdef")

    async def record_status(ref: str, status: str, error_code: str | None) -> None:
        return None

    return ChannelPorts(sink=nobody, clock=FixedClock(datetime(2026, 12, 2, 10, tzinfo=TZ)),
                        announce=nobody.announce, data_dir=data_dir, tz=TZ, commands=nobody,
                        record_status=record_status, signer=signer, csrf=CitizenCsrf(signer))


def _settings(workers: int) -> SipSettings:
    """Callers stay in the menu (no key, a long choice timeout): a call costs what answering costs."""
    base = SipSettings(enabled=True, port=0, rtp_port_start=0, choice_timeout_s=60, log_level=0)
    return pool_settings(base, workers=workers)


@asynccontextmanager
async def _pool(settings: SipSettings, work: Path) -> AsyncIterator[Started]:
    async with SPEC.start(settings, _ports(work / "data"), frozenset({"sip"})) as started:
        yield started


@asynccontextmanager
async def _uas(work: Path, calls: int | None = None) -> AsyncIterator[str]:
    """SIPp's answering side on a free port (echoing RTP): the baseline's far end.

    With ``calls`` it is waited for on exit (it ends after them), so its CPU is in
    ``RUSAGE_CHILDREN``; without, it is stopped on exit.
    """
    port = free_udp_port()
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread((work / "uas.xml").write_text, UAS_XML)
    process = await asyncio.create_subprocess_exec(
        sipp.sipp_binary(), "-sf", str(work / "uas.xml"), "-i", "127.0.0.1", "-mi", "127.0.0.1",
        "-mp", "0", "-p", str(port), "-rtp_echo", "-aa", "-m", str(calls or 1_000_000), "-nostdin", cwd=work,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    await asyncio.sleep(0.5)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        if calls is None:
            process.terminate()
        try:
            async with asyncio.timeout(20):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


class _Restarts(logging.Handler):
    """Counts workers the supervisor had to restart (a native abort under load is a finding)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "exited;" in record.getMessage()


def _numbers(count: int) -> list[str]:
    """Distinct caller numbers: Kamailio caps concurrent calls per number (two by default)."""
    return [str(13805910000 + i) for i in range(count)]


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) the live processes ``pids`` used so far."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _response_ms(work: Path) -> float:
    """SIPp's mean INVITE → 200 time (``ResponseTime1``, cumulative) from its stats CSV."""
    rows = [row.split(";") for row in (work / "stats.csv").read_text().strip().splitlines()]
    clock = rows[-1][rows[0].index("ResponseTime1(C)")]
    hours, minutes, seconds, micros = (int(part) for part in clock.split(":"))
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + micros / 1000


async def _held(target: str, work: Path, callers: int) -> tuple[int, float]:
    """(calls answered, CPU of the SIPp callers) when ``callers`` dial at once with media."""
    before = _children_cpu()
    result = await sipp.run(target, sipp.scenario(HELD, user="[field0]", busy_ok=True), work,
                            calls=callers, rate=callers, timeout_s=60, numbers=_numbers(callers))
    return result.successful - result.busy, _children_cpu() - before


async def _setup(target: str, work: Path, *, calls: int, rate: float, limit: int) -> tuple[float, float]:
    """(mean set-up ms, completed calls per second): ``calls`` calls hung up at once on answer,
    offered at ``rate`` per second with at most ``limit`` in progress."""
    started = time.monotonic()
    result = await sipp.run(target, sipp.scenario(SHORT, user="[field0]", busy_ok=True), work,
                            calls=calls, rate=rate, limit=limit, timeout_s=60, numbers=_numbers(calls))
    answered = result.successful - result.busy - result.refused  # 486/503 set nothing up
    return _response_ms(work), answered / (time.monotonic() - started)


async def run(workers: int) -> list[Figure]:
    figures: list[Figure] = []
    root = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    call_s = sipp.SPEECH_S + 0.7
    try:
        # One worker, direct: how many calls it holds with media, and at what CPU.
        one = _settings(1)
        async with _pool(one, root / "one") as started:
            pids = [int(line.rsplit("pid ", 1)[1].rstrip(")")) for line in started.listening[1:]]
            cpu0 = _cpu_of(pids)
            held, callers_cpu = await _held(f"127.0.0.1:{started.ports['sip']}", root / "one-held", 8)
            ours_cpu = (_cpu_of(pids) - cpu0 + callers_cpu) / max(held, 1) / call_s
        async with _uas(root / "uas-held", 8) as target:
            base_before = _children_cpu()
            base_held, _ = await _held(target, root / "uas-held-uac", 8)
        base_cpu = (_children_cpu() - base_before) / max(base_held, 1) / call_s
        figures.append(Figure.of("sip_held_1_worker", "calls", held, base_held))
        figures.append(Figure.of("sip_cpu_ms_per_call_s", "ms", ours_cpu * 1000, base_cpu * 1000))
        # The pool behind Kamailio: held calls, set-up latency and rate.
        pool = _settings(workers)
        capacity = 4 * workers
        async with _pool(pool, root / "pool"), running_kamailio(pool, root / "kamailio") as proxy:
            await asyncio.sleep(1)
            held, _ = await _held(proxy.target, root / "pool-held", capacity + 4)
            setup_ms, _ = await _setup(proxy.target, root / "pool-latency", calls=40, rate=10,
                                       limit=capacity)
            _, rate = await _setup(proxy.target, root / "pool-rate", calls=300, rate=300, limit=capacity)
        # Baseline: the same Kamailio configuration with SIPp uas as its one destination.
        async with _uas(root / "uas-pool") as target:
            # The same pool-wide INVITE cap as in front of the workers (pipelimit).
            cap = pool.kamailio_setups_per_worker_s * workers
            behind = pool.model_copy(update={"workers": 1, "port": int(target.rsplit(":", 1)[1]),
                                             "kamailio_port": free_udp_port(),
                                             "kamailio_setups_per_worker_s": cap})
            async with running_kamailio(behind, root / "kamailio-uas") as proxy:
                await asyncio.sleep(1)
                base_held, _ = await _held(proxy.target, root / "uas-pool-held", capacity + 4)
                base_ms, _ = await _setup(proxy.target, root / "uas-latency", calls=40, rate=10,
                                          limit=capacity)
                _, base_rate = await _setup(proxy.target, root / "uas-rate", calls=300, rate=300,
                                            limit=capacity)
        figures.append(Figure.of(f"sip_held_kamailio_{workers}_workers", "calls", held, base_held))
        figures.append(Figure.of(f"sip_setup_ms_kamailio_{workers}_workers", "ms", setup_ms, base_ms))
        figures.append(Figure.of(f"sip_setup_rate_kamailio_{workers}_workers", "calls/s", rate, base_rate))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sip", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="workers behind Kamailio (default 4)")
    args = parser.parse_args(argv)
    missing = [name for name in ("sipp", "kamailio")
               if shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin") is None]
    if missing:
        print(f"bench.sip: {', '.join(missing)} missing: apt-get install sip-tester kamailio")
        return 2
    print(f"phone line: 1 worker direct, {args.workers} behind Kamailio; baseline SIPp uac -> SIPp uas")
    restarts = _Restarts()
    logging.getLogger("channels.sip.supervisor").addHandler(restarts)
    figures = asyncio.run(run(args.workers))
    for figure in figures:
        print_figure(figure)
    print(f"  workers restarted during the run: {restarts.count}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"workers": args.workers, "worker_restarts": restarts.count,
                                   "figures": [asdict(f) for f in figures]}, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
