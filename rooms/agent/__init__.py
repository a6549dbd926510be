"""The audio agent: a hidden, subscribe-only LiveKit participant that records Spaces.

``worker.Agent`` leases Spaces that need it (PostgreSQL rows, ``rooms/services/recordings.py``),
``session.SpaceSession`` joins one Space's room and mixes its stage microphones, ``mixer`` holds the
per-track buffers, the mix and the speaker timeline. Besides ``rooms/livekit_client.py`` this package is
the only place that imports ``livekit.rtc``. Started by ``python manage.py run_agent``.
"""
