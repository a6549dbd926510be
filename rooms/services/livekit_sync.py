"""Make LiveKit match the database: apply one participant, and reconcile whole rooms.

The database is the truth. These functions read it, call LiveKit (no lock held during network calls)
and clear ``livekit_dirty`` only if the row did not change meanwhile. They raise
``LiveKitUnavailable`` for the Celery tasks to retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rooms import livekit_client
from rooms.models import STAGE_ROLES, Participant, Role, Space, SpaceState
from rooms.selectors import ban_of
from spaces_project.common.text import decimal_id

logger = logging.getLogger(__name__)

# A participant who called join is given this long to connect before reconcile marks them gone.
PRESENCE_GRACE_S = 30


def permission_for(role: str) -> livekit_client.Permission:
    return livekit_client.STAGE_PERMISSION if role in STAGE_ROLES else livekit_client.LISTENER_PERMISSION


def participant_apply(*, participant_id: int, mute: bool = False) -> str:
    """Push one participant's role (full permission set) and, if asked, a server mute to LiveKit."""
    participant = Participant.objects.select_related("space").filter(pk=participant_id).first()
    if participant is None:
        return "gone"
    space = participant.space
    stamp = participant.updated_at
    if space.state != SpaceState.LIVE or not livekit_client.is_configured():
        Participant.objects.filter(pk=participant.pk).update(livekit_dirty=False)
        return "skipped"
    room = space.livekit_room
    if ban_of(space=space, user_id=participant.user_id):
        livekit_client.participant_remove(room=room, user_id=participant.user_id)
        result = "removed"
    else:
        connected = livekit_client.participant_update(
            room=room, user_id=participant.user_id, permission=permission_for(participant.role)
        )
        if connected and mute and participant.is_muted and participant.role in STAGE_ROLES:
            livekit_client.microphone_mute(room=room, user_id=participant.user_id)
        result = "applied" if connected else "not_connected"
    Participant.objects.filter(pk=participant.pk, updated_at=stamp).update(livekit_dirty=False)
    logger.info("livekit.participant_applied", extra={"participant_id": participant.pk, "result": result})
    return result


@dataclass
class ReconcileReport:
    updated: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    marked_connected: list[int] = field(default_factory=list)
    marked_gone: list[int] = field(default_factory=list)
    rooms_deleted: list[str] = field(default_factory=list)


def space_reconcile(*, space: Space, report: ReconcileReport) -> None:
    """Compare one live Space's LiveKit room with the database and fix every difference."""
    from rooms.services.presence import participant_mark_connected, participant_mark_disconnected

    room = space.livekit_room
    started = timezone.now()
    remote = livekit_client.participants_list(room=room)
    rows = {p.user_id: p for p in Participant.objects.filter(space=space)}
    seen: set[int] = set()
    for rp in remote:
        user_id = livekit_client.user_id_from_identity(rp.identity)
        if user_id is None:
            continue
        seen.add(user_id)
        participant = rows.get(user_id)
        if participant is None or ban_of(space=space, user_id=user_id):
            livekit_client.participant_remove(room=room, user_id=user_id)
            report.removed.append(user_id)
            continue
        wanted = permission_for(participant.role)
        stray_tracks = participant.role == Role.LISTENER and bool(rp.tracks)
        if not rp.matches(wanted) or stray_tracks:
            livekit_client.participant_update(room=room, user_id=user_id, permission=wanted)
            report.updated.append(user_id)
        if not participant.is_connected:
            with transaction.atomic():
                participant_mark_connected(space=space, participant=participant, enforce_cap=False)
            report.marked_connected.append(user_id)
    cutoff = timezone.now() - timedelta(seconds=PRESENCE_GRACE_S)
    for user_id, participant in rows.items():
        if participant.is_connected and user_id not in seen and (participant.joined_at or cutoff) <= cutoff:
            with transaction.atomic():
                participant_mark_disconnected(space=space, participant=participant)
            report.marked_gone.append(user_id)
    # Every row unchanged since this pass began now matches LiveKit; later changes keep their flag.
    Participant.objects.filter(space=space, livekit_dirty=True, updated_at__lte=started).update(livekit_dirty=False)


def livekit_reconcile() -> ReconcileReport:
    """Reconcile every live Space, and close LiveKit rooms of Spaces that are no longer live."""
    report = ReconcileReport()
    if not livekit_client.is_configured():
        return report
    for space in Space.objects.filter(state=SpaceState.LIVE).order_by("pk"):
        space_reconcile(space=space, report=report)
    prefix = settings.LIVEKIT_ROOM_PREFIX
    live_rooms = {s.livekit_room for s in Space.objects.filter(state=SpaceState.LIVE).only("pk")}
    for name in livekit_client.rooms_list(prefix=prefix):
        if decimal_id(name[len(prefix) :]) is not None and name not in live_rooms:
            livekit_client.room_delete(room=name)
            report.rooms_deleted.append(name)
    logger.info(
        "livekit.reconciled",
        extra={"updated": len(report.updated), "removed": len(report.removed), "gone": len(report.marked_gone)},
    )
    return report
