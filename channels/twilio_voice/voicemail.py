"""A voicemail as Twilio hands it over: fetch the recording, make the envelope.

The recording is fetched from the REST API by its RecordingSid on the
configured API root, never from the ``RecordingUrl`` in the callback: the
callback's body is signed, but following a URL out of it would still let a
mistake in our own TwiML send our credentials somewhere else. The download is
read in chunks and refused past ``max_recording_bytes``.

The envelope carries the WAV and a placeholder text (``voice_placeholder``):
the case is "awaiting transcription" from the start, the transcription worker
adds machine text when a model is configured, and an agent listens either way.
One voicemail per call: ``external_id`` is the CallSid, so a repeated callback
returns the same case.

Recordings API: https://www.twilio.com/docs/voice/api/recording
"""

from __future__ import annotations

from datetime import datetime

import aiohttp

from channels.twilio_voice.calls import CallRecord
from channels.twilio_voice.settings import TwilioVoiceSettings
from contract.envelope import Attachment, Channel, Envelope
from contract.normalise import InvalidInput, normalise_phone
from contract.transcript import voice_placeholder


class RecordingUnavailable(Exception):
    """The recording could not be fetched; ``retryable`` says whether a later try may work."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


async def fetch_recording(http: aiohttp.ClientSession, settings: TwilioVoiceSettings,
                          recording_sid: str) -> bytes | None:
    """The recording's WAV bytes; None when Twilio has no such recording (404)."""
    headers = settings.auth_header()
    chunks: list[bytes] = []
    total = 0
    async with http.get(settings.recording_url(recording_sid), headers=headers) as resp:
        if resp.status == 404:
            return None
        if resp.status >= 400:
            raise RecordingUnavailable(f"Twilio API HTTP {resp.status}",
                                       retryable=resp.status == 429 or resp.status >= 500)
        async for chunk in resp.content.iter_chunked(1 << 16):
            total += len(chunk)
            if total > settings.max_recording_bytes:
                raise RecordingUnavailable(f"recording over {settings.max_recording_bytes} bytes",
                                           retryable=False)
            chunks.append(chunk)
    data = b"".join(chunks)
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RecordingUnavailable("the recording is not a WAV file", retryable=False)
    return data


def voicemail_envelope(call: CallRecord, *, recording_sid: str, seconds: int, wav: bytes,
                       received_at: datetime) -> Envelope:
    """The envelope for one call's voicemail: caller, placeholder text, the WAV attached."""
    notes = [f"Twilio 语音留言：CallSid {call.call_sid}，RecordingSid {recording_sid}"]
    try:
        sender: str | None = normalise_phone(call.caller)
    except InvalidInput:
        sender = None
        notes.append(f"来电号码无法识别：{call.caller or '（未显示）'}，无法短信答复")
    return Envelope(channel=Channel.TWILIO_VOICE, external_id=call.call_sid,
                    received_at=received_at, text=voice_placeholder(seconds), sender=sender,
                    reply_address=sender,
                    attachments=(Attachment(f"voicemail-{call.call_sid}.wav", "audio/wav", wav),),
                    notes=tuple(notes))
