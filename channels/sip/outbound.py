"""The phone line as an outbox channel: a notice becomes a call a SIP worker places.

The outbox (``worker.voice_channel = "phone"``) hands a notice to a landline
here; the text is synthesised (``LineService.speak``), a worker dials the
number through ``outbound_uri`` and plays who calls, the case number digit by
digit and the text, then "press 1 to hear it again" or, for a 回访 rating
request, the keypad menu. ``deliver`` waits for the call's end: heard (with
the key) is ``Heard``; busy, no answer, hung up early or no key is a retryable
``SendError`` (the outbox tries again within calling hours); a number the trunk
refuses for good is not retried. Workers and outbox share one process (the
``sip`` and ``worker`` roles of ``hotline serve``): the request goes over the
workers' existing link.
"""

from __future__ import annotations

import logging

import phonenumbers

from channels.sip.outcall_script import ANSWER, RATING, Result, message_items
from channels.sip.service import LineService
from channels.sip.settings import SipSettings
from channels.sip.supervisor import LineDown, WorkerPool
from contract.envelope import Channel
from contract.notice import RATING_REQUEST, Heard, Notice, SendError

log = logging.getLogger(__name__)

CALL_SLACK_S = 240.0
"""How long a call may last once answered (message, replays, the menu) before we stop waiting."""
RETRY_RESULTS = frozenset({Result.BUSY, Result.NO_ANSWER, Result.UNHEARD, Result.NO_KEY,
                           "line_full"})


def dial_uri(template: str, address: str) -> str:
    """The SIP URI that reaches ``address`` through the trunk; ``SendError`` for a number
    no call can reach (not retried)."""
    try:
        parsed = phonenumbers.parse(address, "CN")
    except phonenumbers.NumberParseException as exc:
        raise SendError(f"not a phone number: {address!r}", retryable=False,
                        code="bad_number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise SendError(f"not a valid phone number: {address!r}", retryable=False,
                        code="bad_number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    national = "".join(c for c in phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.NATIONAL) if c.isdigit())
    return template.format(e164=e164, national=national)


class SipCallDeliverer:
    """Delivers notices on ``Channel.PHONE`` as calls from the worker pool."""

    channel = Channel.PHONE

    def __init__(self, settings: SipSettings, pool: WorkerPool, service: LineService) -> None:
        self.settings, self.pool, self.service = settings, pool, service

    async def deliver(self, notice: Notice) -> str | Heard:
        uri = dial_uri(self.settings.outbound_uri, notice.address)
        spoken = await self.service.speak(notice.text)
        if spoken is None:
            raise SendError("no speech engine to read the notice (espeak-ng)", retryable=True,
                            code="tts")
        ask = RATING if notice.kind == RATING_REQUEST else ANSWER
        request = {"uri": uri, "items": list(message_items(notice.case_number, spoken)),
                   "ask": ask, "ring_s": self.settings.outbound_ring_s,
                   "key_timeout_s": self.settings.choice_timeout_s}
        try:
            answer = await self.pool.dial(request, timeout_s=self.settings.outbound_ring_s
                                          + CALL_SLACK_S)
        except (LineDown, TimeoutError) as exc:
            raise SendError(f"the line could not place the call: {exc}", retryable=True,
                            code="line_down") from exc
        result, code = str(answer.get("result", "")), int(answer.get("code") or 0)
        ref = f"sip-call:{notice.notice_id}:{code}"
        if result == Result.HEARD:
            return Heard(ref, key=str(answer.get("key") or ""))
        message = f"call {result} (SIP {code})" if code else f"call {result}"
        raise SendError(message, retryable=result in RETRY_RESULTS, code=result or "failed")
