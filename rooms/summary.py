"""After the Space: what the host sees (reads, plus the one write at end that keeps the reaction count).

Figures and where they come from:
- duration: ``ended_at - started_at`` (to now while live);
- peak listeners: ``Space.peak_listener_count``, raised in the same UPDATE that counts a listener in;
- total listeners: everyone who joined (host excluded), from the participant rows;
- listening minutes: the sum over participants of their last stay (``left_at - joined_at``; a
  participant who left and came back counts their last stay only);
- speakers: everyone who was on stage (still there, approved hand, accepted invitation, or in the
  recording's timeline);
- reactions: counted in the shared cache while live, stored on the Space when it ends;
- replays played: plays started from the beginning (``Recording.play_count``); clips made;
- new followers: follows of the host made between the start and the end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from accounts.models import Follow, User
from rooms import selectors
from rooms.models import (
    STAGE_ROLES,
    Clip,
    HandRaise,
    HandState,
    Invitation,
    InvitationState,
    Participant,
    Recording,
    Space,
    SpaceState,
    SpeakerSegment,
)


def _reactions_key(space_id: int) -> str:
    from rooms.discovery.services.room_extras import reactions_key

    return reactions_key(space_id)


def on_space_end(*, space: Space) -> None:
    """Keep the live reaction count on the row (called in the end's transaction)."""
    counted = cache.get(_reactions_key(space.pk)) or 0
    if counted:
        Space.objects.filter(pk=space.pk).update(reaction_count=int(counted))


def _speakers(space: Space) -> set[int]:
    ids = set(Participant.objects.filter(space=space, role__in=STAGE_ROLES).values_list("user_id", flat=True))
    ids |= set(HandRaise.objects.filter(space=space, state=HandState.APPROVED).values_list("user_id", flat=True))
    ids |= set(
        Invitation.objects.filter(space=space, state=InvitationState.ACCEPTED).values_list("invitee_id", flat=True)
    )
    ids |= set(SpeakerSegment.objects.filter(recording__space=space).values_list("user_id", flat=True))
    return ids


def _listening_ms(space: Space, until: datetime) -> int:
    total = 0
    for joined, left in Participant.objects.filter(space=space, joined_at__isnull=False).values_list(
        "joined_at", "left_at"
    ):
        if joined is None:
            continue
        end = left if left is not None and left >= joined else until
        total += max(0, int((end - joined).total_seconds() * 1000))
    return total


def space_summary(*, space_id: int, user: User) -> dict[str, Any]:
    """The host team's summary of a live or ended Space (raises ``not_host_team`` for anyone else)."""
    space = selectors.space_get(space_id=space_id)
    selectors.access_space_for_host_team(space=space, user=user)
    if space.started_at is None:
        from rooms.exceptions import SpaceNotLive

        raise SpaceNotLive("A Space that never started has no summary.")
    until = space.ended_at or timezone.now()
    recording = Recording.objects.filter(space=space).first()
    reactions = space.reaction_count if space.state == SpaceState.ENDED else cache.get(_reactions_key(space.pk)) or 0
    speakers = _speakers(space)
    return {
        "space_id": space.pk,
        "state": space.state,
        "duration_s": int((until - space.started_at).total_seconds()),
        "peak_listeners": space.peak_listener_count,
        "total_listeners": Participant.objects.filter(space=space, joined_at__isnull=False)
        .exclude(user_id=space.host_id)
        .count(),
        "listening_minutes": round(_listening_ms(space, until) / 60000, 1),
        "speakers": [
            {"user_id": u.pk, "username": u.username}
            for u in User.objects.filter(pk__in=speakers).order_by("username").only("username")
        ],
        "reactions": int(reactions),
        "replays_played": recording.play_count if recording else 0,
        "clips": Clip.objects.filter(space=space).count(),
        "new_followers": Follow.objects.filter(
            followee_id=space.host_id, created_at__gte=space.started_at, created_at__lte=until
        ).count(),
    }
