"""HLS overflow: which transport a joining listener gets, and their signed, short-lived HLS link.

A LiveKit room lives on one node; past ``SPACES_HLS_THRESHOLD`` listeners (or always, when the operator
forces it, or when the client asks: data saver) listeners hear the Space's mix as HLS, written by the
audio agent (``rooms/agent/hls.py``) and served by nginx. Speakers, co-hosts and the host always get
WebRTC. Links are signed per listener for nginx's ``secure_link`` (a CDN can do the same check): the
signature covers the expiry, the listener and the Space, and sits in the path, so the segment URLs the
playlist names relatively carry it too. A removed or banned listener cannot get a new link (``join``
refuses them), so their access ends when their link expires: at most ``SPACES_HLS_LINK_TTL_S``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from rooms.models import Participant, Role, Space, SpaceState

WEBRTC = "webrtc"
HLS = "hls"
TRANSPORTS = (WEBRTC, HLS)
PLAYLIST = "index.m3u8"


@dataclass(frozen=True)
class HlsCredentials:
    transport: str
    hls_url: str
    role: str
    is_muted: bool
    ws_url: str
    expires_in: int


def is_configured() -> bool:
    return bool(settings.SPACES_HLS_SECRET)


def threshold(space: Space) -> int:
    """WebRTC listeners this Space carries before new listeners get HLS (0: never by count)."""
    return space.hls_threshold if space.hls_threshold is not None else settings.SPACES_HLS_THRESHOLD


def join_transport(*, space: Space, participant: Participant, requested: str | None) -> str:
    """The transport for this join. Anyone who may publish gets WebRTC; a listener gets HLS if they ask
    for it, if the operator forces it, or once the Space's listener count (read by the join already)
    reaches its threshold. Without an HLS origin configured, everyone gets WebRTC."""
    if participant.role != Role.LISTENER or not is_configured():
        return WEBRTC
    if requested == HLS or space.hls_forced:
        return HLS
    limit = threshold(space)
    return HLS if limit and space.listener_count >= limit else WEBRTC


def transport_record(*, space: Space, participant: Participant, transport: str) -> None:
    """Remember how the participant listens (presence: the socket for HLS) and start the Space's HLS."""
    if participant.transport != transport:
        Participant.objects.filter(pk=participant.pk).update(transport=transport)
        participant.transport = transport
    if transport == HLS and not space.hls_active:
        Space.objects.filter(pk=space.pk, hls_active=False).update(hls_active=True)
        space.hls_active = True


def needs_hls_q() -> Q:
    """Live Spaces whose agent must encode HLS (the agent lease criterion's "needs hls" clause)."""
    return Q(hls_forced=True) | Q(hls_active=True)


def needs_hls(space: Space) -> bool:
    return space.state == SpaceState.LIVE and (space.hls_forced or space.hls_active)


def sign(*, space_id: int, listener: str, expires: int) -> str:
    """nginx ``secure_link_md5 "$expires/$listener/$space $secret"``: base64url MD5, no padding."""
    raw = f"{expires}/{listener}/{space_id} {settings.SPACES_HLS_SECRET}".encode()
    return base64.urlsafe_b64encode(hashlib.md5(raw).digest()).decode().rstrip("=")  # noqa: S324 (nginx's scheme)


def signed_url(*, space_id: int, listener: str, ttl_s: int | None = None, now: float | None = None) -> str:
    """The listener's playlist URL: ``{HLS_URL}/hls/{sig}/{expires}/{listener}/{space}/index.m3u8``."""
    expires = int(now if now is not None else time.time()) + (ttl_s or settings.SPACES_HLS_LINK_TTL_S)
    sig = sign(space_id=space_id, listener=listener, expires=expires)
    return f"{settings.SPACES_HLS_URL.rstrip('/')}/hls/{sig}/{expires}/{listener}/{space_id}/{PLAYLIST}"


def credentials(*, space: Space, participant: Participant, ws_url: str) -> HlsCredentials:
    ttl = settings.SPACES_HLS_LINK_TTL_S
    return HlsCredentials(
        transport=HLS,
        hls_url=signed_url(space_id=space.pk, listener=f"u{participant.user_id}", ttl_s=ttl),
        role=participant.role,
        is_muted=participant.is_muted,
        ws_url=f"{ws_url}?transport=hls",  # the socket is this listener's presence (rooms/consumers.py)
        expires_in=ttl,
    )


def space_dir(space_id: int) -> str:
    """Where the agent writes a Space's playlist and segments (nginx serves the parent directory)."""
    return os.path.join(settings.SPACES_HLS_DIR, str(space_id))
