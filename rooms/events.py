"""Typed websocket events of the rooms domain (types and payload builders).

Room events take the Space's next ``seq`` in the transaction of the change; host-team and personal
events carry the current ``seq``. Payloads carry ids and the changed fields only.
"""

from __future__ import annotations

from typing import Any

from rooms.models import Participant

SPACE_STARTED = "space.started"
SPACE_ENDED = "space.ended"
SPACE_UPDATED = "space.updated"
STAGE_UPDATED = "stage.updated"
HAND_RAISED = "hand.raised"
HAND_LOWERED = "hand.lowered"
REQUEST_APPROVED = "request.approved"
REQUEST_DECLINED = "request.declined"
INVITE_RECEIVED = "invite.received"
INVITE_ANSWERED = "invite.answered"
PARTICIPANT_MUTED = "participant.muted"
PARTICIPANT_REMOVED = "participant.removed"
LISTENERS_COUNT = "listeners.count"
RECORDING_UPDATED = "recording.updated"
CAPTIONS_UPDATED = "captions.updated"  # the host turned live captions on/off
CAPTION = "caption"  # a live caption line (partial or final), rooms/services/captions.py


def stage_member(participant: Participant) -> dict[str, Any]:
    return {
        "user_id": participant.user_id,
        "username": participant.user.username,
        "display_name": participant.user.display_name,
        "role": participant.role,
        "is_muted": participant.is_muted,
        "is_connected": participant.is_connected,
        "is_speaking": participant.is_speaking,
        "recording_declined": participant.recording_declined,
        "captions_declined": participant.captions_declined,
    }
