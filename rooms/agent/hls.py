"""The live mix as HLS: AAC in 1-second MPEG-TS segments and a sliding playlist, written for nginx.

FFmpeg's ``hls`` muxer (inside PyAV) does the segmenting. Each Space has a directory
(``SPACES_HLS_DIR/<space id>/``) holding ``index.m3u8`` and ``s<N>.ts``; files are written to a
temporary name and renamed, so nginx never serves half a file. The playlist keeps the last
``LIST_SIZE`` segments and older segments are deleted a few seconds later: nothing is kept, HLS is not
a recording (a speaker who declined recording is still heard live, as over WebRTC; docs/security.md).

Failover: an agent that takes over a Space whose playlist exists appends to it (``append_list``): the
media sequence continues, and an ``EXT-X-DISCONTINUITY`` marks the new encoder's timestamps, so players
carry on without a reload.
"""

from __future__ import annotations

import logging
import os
import shutil

import av
import numpy as np

from rooms.audio import RATE
from rooms.services.hls import PLAYLIST

logger = logging.getLogger(__name__)

LIST_SIZE = 6  # segments in the playlist (6 s at 1-second segments)
DELETE_AFTER = 4  # segments kept on disk after they leave the playlist (players that are behind)
BITRATE = 64_000


class HlsWriter:
    """Encodes 48 kHz mono int16 frames into a Space's HLS directory."""

    def __init__(self, directory: str, *, segment_s: float = 1.0) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        playlist = os.path.join(directory, PLAYLIST)
        self.resumed = os.path.exists(playlist)
        flags = "delete_segments+omit_endlist+temp_file+independent_segments"
        if self.resumed:
            flags += "+append_list+discont_start"  # another encoder wrote the segments before ours
        self.container = av.open(
            playlist,
            "w",
            format="hls",
            options={
                "hls_time": f"{segment_s:g}",
                "hls_list_size": str(LIST_SIZE),
                "hls_delete_threshold": str(DELETE_AFTER),
                "hls_flags": flags,
                "hls_segment_filename": os.path.join(directory, "s%d.ts"),
                # MPEG-TS puts each AAC frame (≈ 180 bytes) in a PES of its own unless frames may wait to be
                # grouped: 0.5 s lets ≈ 12 share one (frames never wait past the segment's end). Segments
                # shrink from 18.2 KB to 9.4 KB a second: 75 kbit/s per listener instead of 146.
                "max_delay": "500000",
            },
        )
        self.stream = self.container.add_stream("aac", rate=RATE, layout="mono")  # type: ignore[call-overload]
        self.stream.bit_rate = BITRATE
        self.pts = 0
        self.closed = False

    def write(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.pts
        self.pts += samples.size
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the last segment; the playlist stays open-ended (another agent may append)."""
        if self.closed:
            return
        self.closed = True
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        finally:
            self.container.close()


def remove(directory: str) -> None:
    """The Space no longer needs HLS (it ended): nothing of it is kept."""
    shutil.rmtree(directory, ignore_errors=True)
