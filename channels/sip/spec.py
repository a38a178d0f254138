"""The phone line as a registered channel: a pool of SIP workers where the ``sip`` role runs,
and, with ``outbound_uri``, the outbox's deliverer of calls (``outbound.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from channels.sip.outbound import SipCallDeliverer
from channels.sip.service import LineService
from channels.sip.settings import SipSettings
from channels.sip.spool import Spool
from channels.sip.supervisor import running_pool
from contract.channel import ChannelPorts, ChannelSpec, Started

ROLE = "sip"


@asynccontextmanager
async def _start(settings: SipSettings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    if ROLE not in roles:
        yield Started()
        return
    state = ports.data_dir / "sip"
    service = LineService(settings, ports, Spool(state / "spool"), state / "tts")
    # The consoles' emergency key reaches this process's workers through ``ports.calls``.
    stop_serving = ports.calls.serve(service.control) if ports.calls is not None else None
    try:
        async with running_pool(settings, service) as pool:
            first = pool.workers[0].port
            lines = tuple(f"SIP worker {w.index} on udp:{settings.host}:{w.port} (pid {w.pid})"
                          for w in pool.workers)
            # Outbound calls (answers to landlines, 回访 keypad menus) where a trunk URI is set.
            calls = (SipCallDeliverer(settings, pool, service),) if settings.outbound_uri else ()
            yield Started(ports={ROLE: first, **{f"worker{w.index}": w.port for w in pool.workers}},
                          listening=(f"phone line sip:{settings.number}@{settings.host}:{first}",
                                     *lines), deliverers=calls)
    finally:
        if stop_serving is not None:
            stop_serving()


SPEC = ChannelSpec(name="sip", title="phone line (SIP, pjsua2 workers): voice menu, messages, agents",
                   settings_model=SipSettings, start=_start, role=ROLE)
