"""``python -m bench.outcalls``: outbound calls per minute per SIP worker (issue 14's benchmark).

The line reads notices to citizens' phones (``channels/sip/outbound.py``):
each call is set up through ``makeCall``, plays who calls, the case number
digit by digit, the notice's text synthesised by espeak-ng, "press 1 to hear
it again", waits ``choice_timeout_s`` (1 s here) and says goodbye. The far end
is SIPp's built-in ``uas`` (answers at once, never presses a key). Figures:

- ``sip_outcalls_per_min_1_worker``: calls heard to the end per minute when
  ``--calls`` notices (each with its own text, so each is synthesised) are
  delivered with four in flight, one worker's call slots. Baseline: four slots
  kept busy with calls as long as the mean call measured (``4 × 60 / mean``),
  so the ratio is what set-up, synthesis and hand-over between calls cost;
- ``sip_outcall_tts_ms``: espeak-ng + sox time for one notice text, beside
  the length of the speech it makes (synthesis is faster than real time when
  the ratio is below 1).

Needs ``sipp``, ``espeak-ng`` and ``sox``. Nothing is asserted; results are
printed and written to ``bench/results/outcalls.json`` (about a minute).

    python -m bench.outcalls [--calls 12]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.figures import Figure, print_figure
from bench.sip import _pool, _ports
from channels.sip import audio
from channels.sip.outbound import SipCallDeliverer
from channels.sip.service import LineService
from channels.sip.settings import SipSettings
from channels.sip.spool import Spool
from contract.envelope import Channel
from contract.notice import Heard, Notice, SendError
from tests.channels.sip import sipp
from tests.channels.sip.pool import free_udp_port

RESULTS = Path(__file__).resolve().parent / "results" / "outcalls.json"
SLOTS = 4
"""pjsua's calls per worker."""
TEXT = "您的诉求已办结。办理单位：城市管理局。答复：第{n}号路灯已于今日修复，感谢您的反映。"


def _notice(n: int) -> Notice:
    return Notice(notice_id=n, channel=Channel.PHONE, address="+8659187654321",
                  text=TEXT.format(n=n), case_number=f"FZ12345-20261202-{n:06d}", kind="answer")


async def _tts(work: Path) -> tuple[float, float]:
    """(ms to synthesise one notice text, ms of speech it makes), the mean of four."""
    line = LineService(SipSettings(), _ports(work / "data"), Spool(work / "spool"), work / "tts")
    spent = spoken = 0.0
    for n in range(1000, 1004):
        start = time.perf_counter()
        wav = await line.speak(TEXT.format(n=n))
        spent += time.perf_counter() - start
        if wav is not None:
            spoken += audio.info(await asyncio.to_thread(Path(wav).read_bytes)).seconds
    return spent / 4 * 1000, spoken / 4 * 1000


async def run(calls: int) -> tuple[list[Figure], dict[str, float]]:
    root = Path(tempfile.mkdtemp(prefix="bench-outcalls-"))
    try:
        port = free_udp_port()
        phone = asyncio.create_task(sipp.run("", None, root / "phone", builtin="uas",
                                             calls=calls, timeout_s=600, extra=("-p", str(port))))
        await asyncio.sleep(0.5)
        settings = SipSettings(enabled=True, port=0, rtp_port_start=0, choice_timeout_s=1,
                               log_level=0, outbound_uri=f"sip:{{national}}@127.0.0.1:{port}")
        gate = asyncio.Semaphore(SLOTS)
        lengths: list[float] = []

        async with _pool(settings, root) as started:
            [line] = started.deliverers
            assert isinstance(line, SipCallDeliverer)

            async def one(n: int) -> bool:
                async with gate:
                    start = time.perf_counter()
                    try:
                        heard = isinstance(await line.deliver(_notice(n)), Heard)
                    except SendError:
                        return False
                    lengths.append(time.perf_counter() - start)
                    return heard

            began = time.perf_counter()
            results = await asyncio.gather(*(one(n) for n in range(1, calls + 1)))
            elapsed = time.perf_counter() - began
        await phone
        tts_ms, speech_ms = await _tts(root / "tts")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    heard = sum(results)
    mean_s = sum(lengths) / len(lengths) if lengths else float("nan")
    figures = [Figure.of("sip_outcalls_per_min_1_worker", "calls/min", heard / elapsed * 60,
                         SLOTS * 60 / mean_s),
               Figure.of("sip_outcall_tts_ms", "ms", tts_ms, speech_ms)]
    return figures, {"calls": calls, "heard": heard, "elapsed_s": round(elapsed, 1),
                     "mean_call_s": round(mean_s, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outcalls",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=12, help="notices to deliver (default 12)")
    args = parser.parse_args(argv)
    missing = [name for name in ("sipp", "espeak-ng", "sox") if shutil.which(name) is None]
    if missing:
        print(f"bench.outcalls: {', '.join(missing)} missing: apt-get install sip-tester espeak-ng sox")
        return 2
    figures, run_facts = asyncio.run(run(args.calls))
    print(f"outbound calls: {run_facts}")
    for figure in figures:
        print_figure(figure)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**run_facts, "figures": [asdict(f) for f in figures]},
                                  indent=2) + "\n")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
