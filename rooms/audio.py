"""Audio encoding for recordings: 48 kHz mono PCM ⇄ Opus in Ogg, with PyAV (``av``) and numpy.

Opus in Ogg, not AAC in MP4: Ogg is written page by page, so a part cut short by a crash still decodes
up to its last page, while an MP4 without its trailing index is unreadable; Opus is the codec WebRTC
already carries (speech at 32 kb/s is clear), and Chromium, Firefox, Android and Safari ≥ 18.4 play
``audio/ogg; codecs=opus`` in a plain ``<audio>`` element. AAC would only help older Safari.
"""

from __future__ import annotations

import io
import zlib
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


_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, initial value 0, no final xor),
    computed with zlib's reflected CRC-32 on bit-reversed bytes (C speed, no table walk in Python)."""
    register = zlib.crc32(data.translate(_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{register:032b}"[::-1], 2)


def ogg_packets(data: bytes) -> Iterator[bytes]:
    """The packets of the first logical stream of an Ogg file, in order; stops at a truncated page."""
    offset, pending, serial = 0, b"", None
    while offset + 27 <= len(data) and data[offset : offset + 4] == b"OggS":
        count = data[offset + 26]
        lacing = data[offset + 27 : offset + 27 + count]
        body = offset + 27 + count
        end = body + sum(lacing)
        if len(lacing) < count or end > len(data):
            return  # cut short
        page_serial = int.from_bytes(data[offset + 14 : offset + 18], "little")
        serial = page_serial if serial is None else serial
        if page_serial == serial:
            start = body
            for value in lacing:
                pending += data[start : start + value]
                start += value
                if value < 255:
                    yield pending
                    pending = b""
        offset = end


class _OggWriter:
    """Ogg pages of one logical stream; a page per second of packets (libavformat's default)."""

    def __init__(self, sink: IO[bytes] | str) -> None:
        self._fh: IO[bytes] = open(sink, "wb") if isinstance(sink, str) else sink
        self._own = isinstance(sink, str)
        self._serial = 0x5350  # any value: one stream per file
        self._sequence = 0
        self._packets: list[bytes] = []
        self._segments = 0
        self._granule = 0
        self._first = True

    def page(self, packets: list[bytes], granule: int, *, last: bool = False) -> None:
        lacing = bytearray()
        for packet in packets:
            lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
        header_type = (0x02 if self._first else 0) | (0x04 if last else 0)
        header = (
            b"OggS\x00"
            + bytes([header_type])
            + granule.to_bytes(8, "little", signed=True)
            + self._serial.to_bytes(4, "little")
            + self._sequence.to_bytes(4, "little")
            + b"\x00\x00\x00\x00"
            + bytes([len(lacing)])
            + bytes(lacing)
        )
        page = header + b"".join(packets)
        crc = ogg_crc(page).to_bytes(4, "little")
        self._fh.write(page[:22] + crc + page[26:])
        self._first = False
        self._sequence += 1

    def add(self, packet: bytes, granule: int, *, per_page: int = 50) -> None:
        segments = len(packet) // 255 + 1
        if self._packets and (self._segments + segments > 255 or len(self._packets) >= per_page):
            self.page(self._packets, self._granule)
            self._packets, self._segments = [], 0
        self._packets.append(packet)
        self._segments += segments
        self._granule = granule

    def close(self, granule: int) -> None:
        self.page(self._packets, granule, last=True)
        self._packets = []
        if self._own:
            self._fh.close()


class OpusRemuxer:
    """Lay Ogg Opus parts on one timeline by copying their packets into one Ogg Opus stream (no decode,
    no encode: an hour of parts joins in seconds). Pages are read and written here (Ogg framing is
    simple); PyAV's demuxer and muxer cost ~30 µs a packet, 180,000 packets an hour.

    Every part is its own encoder run: its first packet starts ``pre-skip`` samples (312 for libopus)
    before the part's audio and its last packet is padded to a whole frame, so the first packet of a part
    and the last packet of the part before it land on the same 20 ms slot. Each slot takes the packet with
    more of its part's real audio in it (the later part's first packet: the seam loses ~6.5 ms of the
    earlier part's tail). A gap (no agent recording, a failover) becomes silent packets, rounded to the
    nearest 20 ms; a packet more than half a frame behind the timeline is dropped (overlaps keep the
    earlier audio), so rounding never accumulates. The last page's granule position trims the stream to
    the exact end, so it decodes to exactly ``end`` samples.
    """

    def __init__(self, sink: IO[bytes] | str) -> None:
        self._sink = sink
        self._out: _OggWriter | None = None
        self._pre_skip = 0
        self._pending: tuple[bytes, int, int] | None = None  # (packet, slot position, real samples)
        self._end = 0  # timeline position after the pending packet (samples; the stream starts at -pre-skip)

    def _open(self, head: bytes, tags: bytes) -> None:
        self._out = _OggWriter(self._sink)
        self._pre_skip = int.from_bytes(head[10:12], "little")
        self._end = -self._pre_skip
        self._out.page([head], 0)
        self._out.page([tags], 0)

    def _flush_pending(self) -> None:
        if self._pending is not None and self._out is not None:
            data, pos, _ = self._pending
            self._out.add(data, pos + opus_packet_samples(data) + self._pre_skip)
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
        if isinstance(source, str):
            with open(source, "rb") as fh:
                data = fh.read()
        else:
            data = source.read()
        packets = ogg_packets(data)
        head, tags = next(packets, b""), next(packets, b"")
        if not head.startswith(b"OpusHead") or not tags.startswith(b"OpusTags"):
            return  # not an Ogg Opus part (or cut short before its first audio): its slots stay silent
        if self._out is None:
            self._open(head, tags)
        end = start + samples
        position = start - int.from_bytes(head[10:12], "little")
        for packet in packets:
            size = opus_packet_samples(packet)
            real = max(0, min(position + size, end) - max(position, start))
            self._place(packet, position, real)
            position += size

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
            self._out.add(data, pos + opus_packet_samples(data) + self._pre_skip)
            self._pending = None
        self._out.close(end + self._pre_skip)
        return end
