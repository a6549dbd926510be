"""The captions tests' speech (moved to rooms/captions/testset.py, which the bench uses too)."""

from rooms.captions.testset import SENTENCES, alsa_announcements, beckett_16k, speak

__all__ = ["SENTENCES", "alsa_announcements", "beckett_16k", "speak"]
