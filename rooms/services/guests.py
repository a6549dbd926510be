"""Listening without an account (docs/security.md, "Guest listeners").

A host may let guests listen from the share link (``Space.guests_allowed``). ``space_guest_join`` gives a
guest a fresh, short-lived identity ``guest-<random>``: a hidden, subscribe-only LiveKit token and a signed
pass for the read-only event stream. A guest has no account, so every action endpoint (speak, hand,
react, message, report) stays closed to them by authentication. Guests are counted as listeners while
LiveKit has them in the room: the webhooks keep one ``GuestListener`` row per identity and move
``Space.listener_count`` with it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import F

from rooms import livekit_client
from rooms.exceptions import AudioUnavailable, GuestsNotAllowed, GuestTicketInvalid, SpaceNotFound, SpaceNotLive
from rooms.models import GuestListener, Space, SpaceState

GUEST_PREFIX = "guest-"
_PASS_SALT = "rooms.guest-pass"


@dataclass(frozen=True)
class GuestCredentials:
    livekit_url: str
    token: str
    room: str
    identity: str
    ws_url: str
    ws_ticket: str
    expires_in: int


def is_guest_identity(identity: str) -> bool:
    return identity.startswith(GUEST_PREFIX)


def access_space_for_guest(*, space: Space | None) -> Space:
    """Raise unless a guest may listen to ``space`` now: allowed by the host, live, free, host in good standing."""
    from accounts.exceptions import AccountSuspended
    from tickets.exceptions import TicketRequired
    from tickets.models import TicketOffer

    if space is None:
        raise SpaceNotFound()
    if space.state != SpaceState.LIVE:
        raise SpaceNotLive()
    if not space.guests_allowed:
        raise GuestsNotAllowed()
    if space.host.suspension_active:
        raise AccountSuspended("The host's account is suspended.")
    if TicketOffer.objects.filter(space_id=space.pk).exists():
        # A ticket belongs to an account: a guest cannot buy or hold one.
        raise TicketRequired(extra={"space": space.pk})
    return space


def space_guest_join(*, space_id: int) -> GuestCredentials:
    """Credentials for one guest listener; raises as ``access_space_for_guest``, or ``audio_unavailable``."""
    from rooms.services.presence import livekit_room_ensure

    if not livekit_client.is_configured():
        raise AudioUnavailable()
    space = access_space_for_guest(space=Space.objects.select_related("host").filter(pk=space_id).first())
    identity = f"{GUEST_PREFIX}{secrets.token_hex(8)}"
    ttl = settings.SPACES_GUEST_TTL_S
    livekit_room_ensure(space=space)
    token = livekit_client.token_mint(
        room=space.livekit_room,
        user_id=0,
        identity=identity,
        name="Guest",
        permission=livekit_client.LISTENER_PERMISSION,
        ttl_s=ttl,
    )
    ws_base = settings.SPACES_PUBLIC_URL.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return GuestCredentials(
        livekit_url=settings.LIVEKIT_URL,
        token=token,
        room=space.livekit_room,
        identity=identity,
        ws_url=f"{ws_base}/ws/spaces/{space.pk}/",
        ws_ticket=signing.dumps({"space": space.pk, "guest": identity}, salt=_PASS_SALT),
        expires_in=ttl,
    )


def guest_pass_check(*, ticket: str, space_id: int) -> str:
    """The guest identity a websocket pass names, if it is for this Space and fresh; else ``not_authenticated``."""
    try:
        data: Any = signing.loads(ticket, salt=_PASS_SALT, max_age=settings.SPACES_GUEST_TTL_S)
    except signing.BadSignature:
        raise GuestTicketInvalid() from None
    if not isinstance(data, dict) or data.get("space") != space_id or not is_guest_identity(str(data.get("guest"))):
        raise GuestTicketInvalid()
    return str(data["guest"])


def guest_event_apply(*, space: Space, event: str, identity: str) -> str:
    """A LiveKit webhook about a guest: count them in ``listener_count`` once while they are in the room."""
    if event == "participant_joined":
        if space.state != SpaceState.LIVE:
            return "ignored_guest"
        _row, created = GuestListener.objects.get_or_create(space=space, identity=identity)
        if created:
            Space.objects.filter(pk=space.pk).update(listener_count=F("listener_count") + 1)
        return "guest_connected"
    if event == "participant_left":
        deleted, _ = GuestListener.objects.filter(space=space, identity=identity).delete()
        if deleted:
            Space.objects.filter(pk=space.pk, listener_count__gt=0).update(listener_count=F("listener_count") - 1)
        return "guest_disconnected"
    return "ignored_guest"
