"""Writes of the rooms domain, one module per area; import the functions from here."""

from rooms.services._common import audit, lock_participant, lock_space
from rooms.services.guests import GuestCredentials, space_guest_join
from rooms.services.lifecycle import (
    space_cancel,
    space_create,
    space_end,
    space_start,
    space_update,
    spaces_end_abandoned,
)
from rooms.services.moderation import (
    participant_mute,
    participant_remove,
    speaker_move_to_listeners,
    speakers_mute_all,
)
from rooms.services.presence import JoinCredentials, livekit_event_apply, space_join, space_join_any, space_leave
from rooms.services.stage import (
    cohost_add,
    cohost_remove,
    hand_approve,
    hand_decline,
    hand_lower,
    hand_raise,
    invitation_accept,
    invitation_create,
    invitation_decline,
    stage_leave,
)

__all__ = [
    "GuestCredentials",
    "JoinCredentials",
    "audit",
    "cohost_add",
    "cohost_remove",
    "hand_approve",
    "hand_decline",
    "hand_lower",
    "hand_raise",
    "invitation_accept",
    "invitation_create",
    "invitation_decline",
    "livekit_event_apply",
    "lock_participant",
    "lock_space",
    "participant_mute",
    "participant_remove",
    "space_cancel",
    "space_create",
    "space_end",
    "space_guest_join",
    "space_join",
    "space_join_any",
    "space_leave",
    "space_start",
    "space_update",
    "spaces_end_abandoned",
    "speaker_move_to_listeners",
    "speakers_mute_all",
    "stage_leave",
]
