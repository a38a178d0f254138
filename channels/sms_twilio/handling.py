"""What happens to one inbound SMS, whichever way it reached us (webhook or reconciliation).

The decision is the same for both paths, so it lives once, here:

- a keyword (``CX``/``查询``, ``TD``/``退订``) goes to the ``SmsCommands`` the
  lead supplies and is never registered as an item;
- a bare rating ("1"/"2"/"3", 满意…) is a command only when the commands take
  it (the number has an open rating request, R12 回访); otherwise an item;
- an empty message (nothing but whitespace, or nothing left after dropping
  broken characters) and no photo is not registered: the citizen is told why;
- anything else becomes an envelope for the sink, with its media.

During reconciliation (``replay=True``) a case-status query is skipped: its
answer would arrive late and, if the webhook did answer, twice. An unsubscribe
is applied again instead, because it is idempotent and losing it is worse.
``TryLater`` from the sink or the commands propagates: the caller answers 503
(webhook) or stops the run without moving its watermark (reconciliation).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contract.envelope import Channel, Receipt, Sink
from contract.normalise import InvalidInput
from contract.sms_keywords import (
    CaseQuery,
    QueryHelp,
    SmsCommands,
    Unsubscribe,
    parse_keyword,
    parse_rating,
)

from .inbound import (
    EMPTY_REPLY,
    NO_NUMBER_REPLY,
    UNREADABLE_REPLY,
    InboundSms,
    build_envelope,
    clean_body,
    receipt_reply,
    sender_e164,
    too_long_reply,
)
from .media import MediaFetcher


class Kind(StrEnum):
    """How one message ended."""

    REGISTERED = "registered"
    """The sink committed it (``receipt.created`` says whether it was new)."""
    COMMAND = "command"
    """A keyword, answered by the commands."""
    REFUSED = "refused"
    """Not registered (empty, unreadable, too long); the reply tells the citizen why."""
    SKIPPED = "skipped"
    """Left alone during reconciliation (a late case-status query)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of handling one message: what it became and what to reply."""

    kind: Kind
    reply: str | None
    receipt: Receipt | None = None


async def process(sms: InboundSms, *, sink: Sink, commands: SmsCommands,
                  media: MediaFetcher, replay: bool = False) -> Outcome:
    """Handle one inbound SMS; raises ``TryLater`` when the store cannot take it now."""
    try:
        text, broken = clean_body(sms.body)
    except InvalidInput as exc:
        return Outcome(Kind.REFUSED, too_long_reply(exc))
    command = parse_keyword(text) if text else None
    if command is not None:
        return await _command(sms, command, commands, replay=replay)
    choice = parse_rating(text) if text and not sms.media else None
    sender = sender_e164(sms) if choice is not None else None
    if choice is not None and sender is not None:
        taken = await commands.rate(choice, sender, channel=Channel.SMS_TWILIO,
                                    in_reply=not replay)
        if taken.taken:
            return Outcome(Kind.COMMAND, taken.reply)
        if replay:
            # Rated by the webhook already (or registered as an item then): not again.
            return Outcome(Kind.SKIPPED, None)
    if not text and not sms.media:
        return Outcome(Kind.REFUSED, UNREADABLE_REPLY if broken else EMPTY_REPLY)
    fetched = await media.fetch_all(sms.sid, sms.media)
    notes = fetched.notes
    if broken:
        notes = (*notes, f"短信含 {broken} 个无法解码的字符（UCS-2 错误），已删除")
    if not text:
        notes = (*notes, "彩信无文字内容，仅有附件")
    # The webhook's TwiML carries the case number; a message recovered by
    # reconciliation has had no reply, so its receipt goes through the outbox.
    envelope = build_envelope(sms, text=text, attachments=fetched.attachments, notes=notes,
                              receipt_in_reply=not replay)
    receipt = await sink(envelope)
    return Outcome(Kind.REGISTERED, receipt_reply(receipt), receipt)


async def _command(sms: InboundSms, command: CaseQuery | QueryHelp | Unsubscribe,
                   commands: SmsCommands, *, replay: bool) -> Outcome:
    if isinstance(command, CaseQuery | QueryHelp) and replay:
        return Outcome(Kind.SKIPPED, None)
    sender = sender_e164(sms)
    if sender is None:
        return Outcome(Kind.REFUSED, NO_NUMBER_REPLY)
    # The answer goes back in the TwiML (as Twilio documents for a reply); the commands
    # record it as sent in reply, so every answer, help included, leaves its notice.
    if isinstance(command, QueryHelp):
        return Outcome(Kind.COMMAND, await commands.query_help(
            sender, channel=Channel.SMS_TWILIO, in_reply=True))
    if isinstance(command, CaseQuery):
        return Outcome(Kind.COMMAND, await commands.case_status(
            command.case_number, sender, channel=Channel.SMS_TWILIO, in_reply=True))
    return Outcome(Kind.COMMAND, await commands.unsubscribe(
        sender, channel=Channel.SMS_TWILIO, in_reply=True))
