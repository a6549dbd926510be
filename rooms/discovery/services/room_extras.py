"""The room around the audio: reminders (RSVPs), reactions and messages to the host team.

Reactions are not stored. Each accepted reaction is published once as a ``reaction`` room event with the
Space's current ``seq`` (it takes no new one: it changes no state a snapshot carries). Every server
process's hub adds up the reactions of a Space for ``REACTION_WINDOW_S`` and sends its sockets one
``reaction`` frame ``{counts: {emoji: n}}``, so a socket gets at most four reaction frames a second however
big the room (``rooms/realtime.py`` registers the rule, ``spaces_project/realtime/hub.py`` applies it); this
works with any number of server processes.
Each user is rate-limited by the ``reaction`` throttle; on top of that a per-Space budget in the shared
cache (``SPACES_REACTIONS_PER_SPACE_S`` a second, all processes together) bounds the Redis traffic of a
huge room: reactions past the budget are accepted but not broadcast.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from accounts.exceptions import AccountSuspended
from accounts.models import User
from accounts.selectors import is_blocked
from rooms import events
from rooms.exceptions import Banned, BlockedByHost, NotInSpace, SpaceNotFound, SpaceNotLive, SpaceNotScheduled
from rooms.models import HostMessage, Participant, Reminder, Space, SpaceState
from rooms.selectors import ban_of
from spaces_project.realtime.events import send_event_on_commit

logger = logging.getLogger(__name__)

REACTION_EMOJI = ("👏", "😂", "❤️", "🔥", "💯", "🙌", "😮", "👍")
MESSAGE_MAX_LEN = 280


def _space(space_id: int) -> Space:
    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None:
        raise SpaceNotFound()
    return space


def _check_not_shut_out(*, space: Space, user: User) -> None:
    """Raise ``account_suspended``, ``banned`` or ``blocked`` if the user may not deal with this Space."""
    if user.suspension_active:
        raise AccountSuspended()
    if user.pk == space.host_id:
        return
    scope = ban_of(space=space, user_id=user.pk)
    if scope is not None:
        raise Banned(extra={"scope": scope})
    if is_blocked(blocker_id=space.host_id, blocked_id=user.pk):
        raise BlockedByHost()


def _check_present(*, space: Space, user: User) -> None:
    """Raise unless the Space is live and the user is in it now (joined and connected)."""
    if space.state != SpaceState.LIVE:
        raise SpaceNotLive()
    _check_not_shut_out(space=space, user=user)
    if not Participant.objects.filter(space=space, user=user, is_connected=True).exists():
        raise NotInSpace("Join the Space first.")


# --- reminders --------------------------------------------------------------------------------------


def reminder_set(*, space_id: int, user: User) -> Reminder:
    """Set a reminder on a scheduled Space (idempotent). Raises ``space_not_scheduled``, ``banned``, ``blocked``."""
    space = _space(space_id)
    if space.state != SpaceState.SCHEDULED:
        raise SpaceNotScheduled("A reminder can only be set on a scheduled Space.")
    _check_not_shut_out(space=space, user=user)
    try:
        with transaction.atomic():
            reminder, _ = Reminder.objects.get_or_create(space=space, user=user)
    except IntegrityError:  # a concurrent duplicate request won the insert
        reminder = Reminder.objects.get(space=space, user=user)
    return reminder


def reminder_unset(*, space_id: int, user: User) -> bool:
    """Remove the user's reminder on the Space (idempotent); True if there was one."""
    space = _space(space_id)
    deleted, _ = Reminder.objects.filter(space=space, user=user).delete()
    return bool(deleted)


# --- reactions --------------------------------------------------------------------------------------


def _within_space_budget(space_id: int) -> bool:
    """Count one reaction against the Space's budget of this second (shared by every process)."""
    key = f"rx:{space_id}:{int(time.time())}"
    cache.add(key, 0, timeout=5)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        return True
    return int(count) <= settings.SPACES_REACTIONS_PER_SPACE_S


def reactions_key(space_id: int) -> str:
    return f"rx-total:{space_id}"


def _count_reaction(space_id: int) -> None:
    """Count every accepted reaction for the host summary (written to the Space row when it ends)."""
    key = reactions_key(space_id)
    cache.add(key, 0, timeout=7 * 86400)
    try:
        cache.incr(key)
    except ValueError:
        pass


def reaction_send(*, space_id: int, user: User, emoji: str) -> bool:
    """React in a live Space the user is in. Publishes a ``reaction`` room event; False if over budget.

    Raises ``invalid_emoji``, ``space_not_live``, ``not_in_space``, ``banned``, ``blocked``.
    """
    from spaces_project.common.exceptions import ApplicationError

    if emoji not in REACTION_EMOJI:
        raise ApplicationError(
            "Reactions use a fixed set of emoji.", code="invalid_emoji", extra={"allowed": list(REACTION_EMOJI)}
        )
    space = _space(space_id)
    _check_present(space=space, user=user)
    _count_reaction(space.pk)
    if not _within_space_budget(space.pk):
        return False
    send_event_on_commit(events.Reaction(space_id=space.pk, seq=space.seq, emoji=emoji, user_id=user.pk))
    return True


# --- messages to the host team ----------------------------------------------------------------------


@transaction.atomic
def host_message_send(*, space_id: int, user: User, text: str) -> HostMessage:
    """Send a short message to the host team of a live Space the user is in.

    Publishes ``message.received`` to the host team on commit. Raises ``invalid_input`` (empty or too
    long), ``space_not_live``, ``not_in_space``, ``banned``, ``blocked``, ``account_suspended``.
    """
    from spaces_project.common.exceptions import ApplicationError

    text = text.strip()
    if not text or len(text) > MESSAGE_MAX_LEN:
        message = f"A message has 1 to {MESSAGE_MAX_LEN} characters."
        raise ApplicationError(message, code="invalid_input", extra={"fields": {"text": [message]}})
    space = _space(space_id)
    _check_present(space=space, user=user)
    msg = HostMessage.objects.create(space=space, sender=user, text=text)
    send_event_on_commit(
        events.MessageReceived(space_id=space.pk, seq=space.seq, **host_message_data(msg, sender=user))
    )
    logger.info("host_message.sent", extra={"space_id": space.pk, "user_id": user.pk, "message_id": msg.pk})
    return msg


def host_message_data(msg: HostMessage, *, sender: User) -> dict[str, Any]:
    return {
        "id": msg.pk,
        "user_id": sender.pk,
        "username": sender.username,
        "display_name": sender.display_name,
        "text": msg.text,
        "created_at": msg.created_at.isoformat(),
    }
