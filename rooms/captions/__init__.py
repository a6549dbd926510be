"""Live captions: a speech engine behind one small interface, voice activity detection, 48→16 kHz
resampling and the per-speaker captioner the audio agent feeds (``rooms/agent/session.py``).

Pure Python + numpy + the engine: no LiveKit, no database (unit-tested alone). The service side
(storing, events, transcripts, search) is ``rooms/services/captions.py``.
"""
