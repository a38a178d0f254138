"""Recorded and prompt WAVs as bytes: duration, "is anything in it", and header repair.

pjmedia's WAV writer fills in the RIFF and data sizes only when the recorder
is closed. A worker killed mid-recording (``kill -9``, a native abort) leaves
a file whose header says zero bytes of audio although the samples are on disk:
``repair`` recomputes the sizes from the file's length, so a crashed call's
message is registered whole. Pure functions over bytes, tested without SIP.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class NotWav(ValueError):
    """The bytes are not a PCM WAV file we can read."""


@dataclass(frozen=True, slots=True)
class WavInfo:
    """Format and where the samples are."""

    rate: int
    channels: int
    bits: int
    data_offset: int
    data_size: int

    @property
    def seconds(self) -> float:
        """Duration of the audio."""
        frame = self.channels * self.bits // 8
        return self.data_size / frame / self.rate if frame and self.rate else 0.0


def info(data: bytes) -> WavInfo:
    """Parse the RIFF chunks of a PCM WAV; ``data_size`` is clamped to what the file holds."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise NotWav("no RIFF/WAVE header")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt " and size >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag != 1:
                raise NotWav(f"not PCM (format tag {tag})")
            fmt = (rate, channels, bits)
        elif chunk == b"data":
            if fmt is None:
                raise NotWav("data before fmt")
            held = len(data) - body
            # A crashed writer leaves size 0 (or a stale size): trust the file's length.
            real = held if size == 0 or size > held else size
            return WavInfo(*fmt, data_offset=body, data_size=real - real % (fmt[1] * fmt[2] // 8))
        pos = body + size + (size & 1)
    raise NotWav("no data chunk")


def repair(data: bytes) -> bytes:
    """The same WAV with its RIFF and data sizes matching the samples on disk."""
    wav = info(data)
    body = data[:wav.data_offset + wav.data_size]
    fixed = bytearray(body)
    struct.pack_into("<I", fixed, 4, len(body) - 8)
    struct.pack_into("<I", fixed, wav.data_offset - 4, wav.data_size)
    return bytes(fixed)


def peak(data: bytes) -> int:
    """Largest absolute sample of a 16-bit WAV (0 for other widths or no audio)."""
    wav = info(data)
    if wav.bits != 16 or wav.data_size < 2:
        return 0
    samples = memoryview(data)[wav.data_offset:wav.data_offset + wav.data_size].cast("h")
    return max(max(samples), -min(samples))


def has_message(data: bytes, *, min_seconds: float, min_peak: int = 300) -> bool:
    """A recording worth a case: long enough and louder than line noise (a call with no audio is not)."""
    try:
        wav = info(data)
    except NotWav:
        return False
    return wav.seconds >= min_seconds and peak(data) >= min_peak
