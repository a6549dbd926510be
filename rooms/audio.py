"""Audio encoding for recordings: 48 kHz mono PCM ⇄ Opus in Ogg, with PyAV (``av``) and numpy.

Opus in Ogg, not AAC in MP4: Ogg is written page by page, so a part cut short by a crash still decodes
up to its last page, while an MP4 without its trailing index is unreadable; Opus is the codec WebRTC
already carries (speech at 32 kb/s is clear), and Chromium, Firefox, Android and Safari ≥ 18.4 play
``audio/ogg; codecs=opus`` in a plain ``<audio>`` element. AAC would only help older Safari.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

import av
import numpy as np

RATE = 48000
SAMPLES_PER_MS = RATE // 1000
BIT_RATE = 32000
CONTENT_TYPE = "audio/ogg"


class OpusWriter:
    """Encode int16 mono 48 kHz samples, fed in any sizes, into one Ogg Opus stream on ``sink``."""

    def __init__(self, sink: IO[bytes] | str) -> None:
        self._out: Any = av.open(sink, "w", format="ogg")
        self._stream: Any = self._out.add_stream("libopus", rate=RATE, layout="mono")
        self._stream.bit_rate = BIT_RATE
        self._pts = 0
        self.samples = 0

    def write(self, pcm: np.ndarray) -> None:
        if pcm.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(pcm.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        self._pts += pcm.size
        self.samples += pcm.size
        for packet in self._stream.encode(frame):
            self._out.mux(packet)

    def write_silence(self, samples: int, block: int = RATE) -> None:
        while samples > 0:
            n = min(block, samples)
            self.write(np.zeros(n, dtype=np.int16))
            samples -= n

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()


def encode(pcm: np.ndarray) -> bytes:
    """One complete Ogg Opus file holding ``pcm``."""
    buffer = io.BytesIO()
    writer = OpusWriter(buffer)
    writer.write(pcm)
    writer.close()
    return buffer.getvalue()


def decode_blocks(source: IO[bytes] | str) -> Iterator[np.ndarray]:
    """Decode an audio file to int16 mono 48 kHz blocks (a truncated Ogg decodes up to its last page)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    container: Any = av.open(source, "r")
    try:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1).astype(np.int16)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.int16)
    except av.error.InvalidDataError:
        return  # a part cut short: keep what decoded
    finally:
        container.close()


def decode(source: IO[bytes] | str | bytes) -> np.ndarray:
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    blocks = list(decode_blocks(source))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)


def rms(pcm: np.ndarray) -> float:
    if pcm.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(pcm.astype(np.float64)))))


# --- joining parts without re-encoding -----------------------------------------------------------------


def opus_packet_samples(data: bytes) -> int:
    """Samples (at 48 kHz) one Opus packet decodes to, from its TOC byte (RFC 6716 §3.1)."""
    if not data:
        return 0
    config, code = data[0] >> 3, data[0] & 3
    if config < 12:
        size = (480, 960, 1920, 2880)[config % 4]
    elif config < 16:
        size = (480, 960)[config % 2]
    else:
        size = (120, 240, 480, 960)[config % 4]
    frames = 1 if code == 0 else 2 if code in (1, 2) else (data[1] & 0x3F if len(data) > 1 else 0)
    return size * frames


_silence: bytes | None = None


def _silent_packet() -> bytes:
    """One 20 ms Opus packet of silence (taken from the middle of an encoded run of zeros)."""
    global _silence
    if _silence is None:
        container: Any = av.open(io.BytesIO(encode(np.zeros(RATE // 2, dtype=np.int16))), "r")
        try:
            packets = [bytes(p) for p in container.demux(audio=0) if p.size]
        finally:
            container.close()
        _silence = packets[len(packets) // 2]
        assert opus_packet_samples(_silence) == 960
    return _silence


class OpusRemuxer:
    """Lay Ogg Opus parts on one timeline by copying their packets into one Ogg Opus stream (no decode,
    no encode: an hour joins in about a second).

    Every part is its own encoder run: its first packet starts ``pre-skip`` samples (312 for libopus)
    before the part's audio and its last packet is padded to a whole frame, so the first packet of a part
    and the last packet of the part before it land on the same 20 ms slot. Each slot takes the packet with
    more of its part's real audio in it (the later part's first packet: the seam loses ~6.5 ms of the
    earlier part's tail). A gap (no agent recording, a failover) becomes silent packets, rounded to the
    nearest 20 ms; a packet more than half a frame behind the timeline is dropped (overlaps keep the
    earlier audio), so rounding never accumulates. The decoder carries its state across a seam: at worst
    a click-free 2.5 ms overlap of two encoder runs. The last packet's duration trims the stream to the
    exact end, so it decodes to exactly ``end`` samples.
    """

    def __init__(self, sink: IO[bytes] | str) -> None:
        self._sink = sink
        self._out: Any = None
        self._stream: Any = None
        self._pre_skip = 0
        self._pending: tuple[bytes, int, int] | None = None  # (packet, slot position, real samples)
        self._end = 0  # timeline position after the pending packet (samples, output time)
        self.samples = 0

    def _open(self, template: Any) -> None:
        self._out = av.open(self._sink, "w", format="ogg")
        self._stream = self._out.add_stream_from_template(template)
        self._stream.time_base = template.time_base
        extradata = bytes(template.codec_context.extradata or b"")
        self._pre_skip = int.from_bytes(extradata[10:12], "little") if len(extradata) >= 12 else 0
        self._end = -self._pre_skip

    def _emit(self, data: bytes, pts: int, duration: int) -> None:
        packet = av.Packet(data)
        packet.stream = self._stream
        packet.pts = packet.dts = pts
        packet.duration = duration
        packet.time_base = self._stream.time_base
        self._out.mux(packet)

    def _flush_pending(self) -> None:
        if self._pending is not None:
            data, pos, _ = self._pending
            self._emit(data, pos, opus_packet_samples(data))
            self._pending = None

    def _place(self, data: bytes, start: int, real: int) -> None:
        size = opus_packet_samples(data)
        if size <= 0:
            return
        half = size // 2
        while start - self._end >= half:  # a gap: silence up to the packet (to the nearest frame)
            self._flush_pending()
            silence = _silent_packet()
            self._pending = (silence, self._end, 0)
            self._end += opus_packet_samples(silence)
        if start - self._end >= -half:  # its slot (a tie of half a frame goes to the later slot, always)
            self._flush_pending()
            self._pending = (data, self._end, real)
            self._end += size
        elif self._pending is not None and abs(start - self._pending[1]) <= half and real > self._pending[2]:
            self._pending = (data, self._pending[1], real)  # the seam: the packet with more real audio

    def add_part(self, source: IO[bytes] | str, *, start: int, samples: int) -> None:
        """Copy one part whose audio covers timeline samples ``[start, start + samples)``."""
        container: Any = av.open(source, "r")
        try:
            template = container.streams.audio[0]
            if self._out is None:
                self._open(template)
            end = start + samples
            try:
                for packet in container.demux(template):
                    if packet.pts is None or not packet.size:
                        continue
                    data = bytes(packet)
                    size = opus_packet_samples(data)
                    s = start + int(packet.pts)
                    real = max(0, min(s + size, end) - max(s, start))
                    self._place(data, s, real)
            except av.error.InvalidDataError:
                pass  # a part cut short: keep what demuxed
        finally:
            container.close()
        self.samples = max(self.samples, end)

    def close(self, *, end: int) -> int:
        """Finish the stream at timeline sample ``end``; returns the samples it decodes to."""
        if self._out is None:
            writer = OpusWriter(self._sink)
            writer.write_silence(end)
            writer.close()
            return end
        while self._end < end:  # silence to the end
            self._place(_silent_packet(), self._end, 0)
        if self._pending is not None:
            data, pos, _ = self._pending
            self._emit(data, pos, max(1, min(opus_packet_samples(data), end - pos)))
            self._pending = None
        self._out.close()
        return end
