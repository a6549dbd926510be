"""rooms.audio: joining recording parts by copying their Opus packets (no re-encode)."""

from __future__ import annotations

import io

import av
import numpy as np

from rooms import audio

MS = audio.SAMPLES_PER_MS


def tone(hz: float, ms: int) -> np.ndarray:
    return (8000 * np.sin(2 * np.pi * hz * np.arange(ms * MS) / audio.RATE)).astype(np.int16)


def peak_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spectrum) * audio.RATE / pcm.size)


def packets(data: bytes) -> list[bytes]:
    container = av.open(io.BytesIO(data), "r")
    try:
        return [bytes(p) for p in container.demux(audio=0) if p.size]
    finally:
        container.close()


def test_opus_packet_samples_reads_the_toc():
    assert {audio.opus_packet_samples(p) for p in packets(audio.encode(tone(440, 500)))} == {960}
    assert audio.opus_packet_samples(bytes([0x03 << 3 | 0])) == 2880  # SILK 60 ms
    assert audio.opus_packet_samples(bytes([31 << 3 | 3, 4])) == 4 * 960  # CELT 20 ms, 4 frames
    assert audio.opus_packet_samples(b"") == 0


def test_remuxed_parts_decode_to_the_timeline_with_tones_gaps_and_overlaps_in_place():
    # agent A: 0-2 s (440 Hz) in parts of 1 s and 1 s; a failover gap 2000-3030 ms (not a multiple of 20 ms);
    # agent B: 3030-5030 ms (880 Hz), and a late part of A's overlapping B's start (the earlier audio wins);
    # a last part after a 970 ms gap, 6000-7000 ms (660 Hz)
    layout = [
        (0, tone(440, 1000)),
        (1000, tone(440, 1000)),
        (3030, tone(880, 2000)),
        (3500, tone(440, 1000)),
        (6000, tone(660, 1000)),
    ]
    buffer = io.BytesIO()
    remuxer = audio.OpusRemuxer(buffer)
    encoded = []
    for start_ms, pcm in layout:
        data = audio.encode(pcm)
        encoded.append(data)
        remuxer.add_part(io.BytesIO(data), start=start_ms * MS, samples=pcm.size)
    assert remuxer.close(end=7000 * MS) == 7000 * MS
    out = buffer.getvalue()

    # packets were copied, not re-encoded: every packet of the replay is a part's packet or silence
    copied = {p for data in encoded for p in packets(data)}
    assert all(p in copied or p == audio._silent_packet() for p in packets(out))
    assert sum(p in copied for p in packets(out)) >= 240  # 4.8 s of the 7 s is recorded audio

    pcm = audio.decode(out)
    assert pcm.size == 7000 * MS  # exact duration: pre-skip and end trimming handled
    for lo, hi, hz in [(50, 950, 440), (1050, 1950, 440), (3100, 4950, 880), (6050, 6950, 660)]:
        window = pcm[lo * MS : hi * MS]
        assert audio.rms(window) > 4500, (lo, hi)
        assert abs(peak_hz(window) - hz) < 5, (lo, hi, peak_hz(window))
    for lo, hi in [(2030, 3000), (5060, 5980)]:  # the gaps stay silent and keep their length (±20 ms)
        assert audio.rms(pcm[lo * MS : hi * MS]) < 50, (lo, hi)
    # the audio after the gap starts where the timeline says (within one 20 ms frame)
    loud = np.flatnonzero(np.abs(pcm[2500 * MS : 3500 * MS].astype(np.int32)) > 4000)
    assert abs(2500 + loud[0] / MS - 3030) <= 20
    # the seam between A's two parts is not a dropout longer than ~7 ms (pre-skip of the later part)
    seam = np.abs(pcm[990 * MS : 1010 * MS].astype(np.int32)).reshape(-1, MS // 2).max(axis=1)
    assert np.count_nonzero(seam < 1000) <= 14


def test_remuxer_with_no_parts_writes_silence():
    buffer = io.BytesIO()
    assert audio.OpusRemuxer(buffer).close(end=500 * MS) == 500 * MS
    assert audio.decode(buffer.getvalue()).size == 500 * MS


def test_ogg_crc_matches_the_pages_libavformat_writes():
    data = audio.encode(tone(440, 300))
    offset, pages = 0, 0
    while offset < len(data):
        count = data[offset + 26]
        end = offset + 27 + count + sum(data[offset + 27 : offset + 27 + count])
        page = data[offset:end]
        assert int.from_bytes(page[22:26], "little") == audio.ogg_crc(page[:22] + b"\0\0\0\0" + page[26:])
        offset, pages = end, pages + 1
    assert pages >= 3


def test_a_part_cut_short_joins_up_to_its_last_page_and_the_rest_stays_silent():
    whole = audio.encode(tone(440, 3000))
    cut = whole[: len(whole) // 2 + 37]  # mid-page: a crash while the part was written
    buffer = io.BytesIO()
    remuxer = audio.OpusRemuxer(buffer)
    remuxer.add_part(io.BytesIO(cut), start=0, samples=3000 * MS)
    remuxer.add_part(io.BytesIO(audio.encode(tone(880, 1000))), start=3000 * MS, samples=1000 * MS)
    assert remuxer.close(end=4000 * MS) == 4000 * MS
    pcm = audio.decode(buffer.getvalue())
    assert pcm.size == 4000 * MS
    assert audio.rms(pcm[100 * MS : 1000 * MS]) > 4500 and audio.rms(pcm[2600 * MS : 2950 * MS]) < 50
    assert abs(peak_hz(pcm[3050 * MS : 3950 * MS]) - 880) < 5
