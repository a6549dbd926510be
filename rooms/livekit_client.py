"""The only module that imports ``livekit``: tokens, server API calls and webhook verification.

Every function takes its configuration from settings explicitly and returns plain values (never SDK
objects). The server SDK is asyncio-based; the sync functions here run one short-lived client per
call through ``async_to_sync`` (construct ``LiveKitAPI`` inside the coroutine, close it after).
Any failure to reach the server is raised as :class:`LiveKitUnavailable`, which the Celery tasks
retry and the reconcile task eventually repairs; "not found" answers are not errors here (the thing
the caller wanted gone is gone).
"""

from __future__ import annotations

import asyncio
import calendar
import datetime
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import jwt
from asgiref.sync import async_to_sync
from django.conf import settings
from livekit import api as lk
from livekit.protocol import models as lk_models

from spaces_project.common.text import decimal_id

logger = logging.getLogger(__name__)

T = TypeVar("T")

MICROPHONE = "microphone"
IDENTITY_PREFIX = "u"
# The audio agent's identity kind ("agent-<agent id>"): never a user, so presence webhooks, reconcile and
# the listener count ignore it (``user_id_from_identity`` gives None).
AGENT_IDENTITY_PREFIX = "agent-"


class LiveKitUnavailable(Exception):
    """The LiveKit server could not be reached or answered with a server error."""


class WebhookInvalid(Exception):
    """A webhook's signature or body did not verify."""


@dataclass(frozen=True)
class Permission:
    """The full permission set we give a participant; listeners are hidden and subscribe only."""

    can_publish: bool
    hidden: bool

    @property
    def sources(self) -> list[str]:
        return [MICROPHONE] if self.can_publish else []


LISTENER_PERMISSION = Permission(can_publish=False, hidden=True)
STAGE_PERMISSION = Permission(can_publish=True, hidden=False)


@dataclass(frozen=True)
class Track:
    sid: str
    source: str  # "microphone", "camera", ... (lower case)
    muted: bool


@dataclass(frozen=True)
class RemoteParticipant:
    identity: str
    can_publish: bool
    can_subscribe: bool
    hidden: bool
    sources: tuple[str, ...]
    tracks: tuple[Track, ...] = field(default_factory=tuple)

    def matches(self, permission: Permission) -> bool:
        if not self.can_subscribe or self.can_publish != permission.can_publish or self.hidden != permission.hidden:
            return False
        return not permission.can_publish or set(self.sources) == set(permission.sources)


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    event: str
    room: str
    identity: str
    track_sid: str
    track_source: str
    created_at: int


def identity_for(user_id: int) -> str:
    return f"{IDENTITY_PREFIX}{user_id}"


def user_id_from_identity(identity: str) -> int | None:
    """The user id of an identity we minted (``u<id>``); None for any other participant."""
    if not identity.startswith(IDENTITY_PREFIX):
        return None
    return decimal_id(identity[len(IDENTITY_PREFIX) :])


def is_configured() -> bool:
    return bool(settings.LIVEKIT_URL and settings.LIVEKIT_API_KEY and settings.LIVEKIT_API_SECRET)


def _api_url() -> str:
    if settings.LIVEKIT_API_URL:
        return str(settings.LIVEKIT_API_URL)
    url = str(settings.LIVEKIT_URL)
    return url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)


@functools.lru_cache(maxsize=1024)
def _video_claims(room: str, permission: Permission) -> dict[str, Any]:
    """The ``video`` claim of a token for ``room`` and ``permission``, rendered by the SDK's own ``Claims``
    (the same for every participant of a room with that permission: built once, not at every join)."""
    grants = lk.VideoGrants(
        room_join=True,
        room=room,
        can_publish=permission.can_publish,
        can_subscribe=True,
        can_publish_data=False,
        can_publish_sources=permission.sources,
        hidden=permission.hidden,
    )
    video: dict[str, Any] = lk.AccessToken("-", "-").with_grants(grants).claims.asdict()["video"]
    return video


def token_mint(
    *, room: str, user_id: int, name: str, permission: Permission, ttl_s: int | None = None, identity: str = ""
) -> str:
    """An access token for one room whose grants match ``permission`` exactly.

    The claims ``AccessToken(...).with_identity().with_name().with_ttl().with_grants().to_jwt()`` signs, in
    its order (``name`` unless empty, ``video``, ``sub``, ``iss``, ``nbf``, ``exp``; the SDK leaves out empty
    values), with the ``video`` claim rendered once per room and permission: the SDK turned the whole
    claims dataclass into a dict at every join (a tenth of a join's CPU). ``tests/rooms/test_services_presence.py``
    compares both.
    """
    identity = identity or identity_for(user_id)
    if not identity or not room:
        raise ValueError("identity and room must be set when joining a room")  # as the SDK refuses
    ttl = datetime.timedelta(seconds=ttl_s or settings.LIVEKIT_TOKEN_TTL_S)
    now = datetime.datetime.now(datetime.UTC)
    claims: dict[str, Any] = {"name": name} if name else {}
    claims["video"] = _video_claims(room, permission)
    claims["sub"] = identity
    claims["iss"] = settings.LIVEKIT_API_KEY
    claims["nbf"] = calendar.timegm(now.utctimetuple())
    claims["exp"] = calendar.timegm((now + ttl).utctimetuple())
    return jwt.encode(claims, settings.LIVEKIT_API_SECRET, algorithm="HS256")


def agent_identity(agent_id: str) -> str:
    return f"{AGENT_IDENTITY_PREFIX}{agent_id}"


def agent_token_mint(*, room: str, agent_id: str, ttl_s: int | None = None) -> str:
    """A token for the audio agent: hidden, subscribe only, participant kind AGENT."""
    grants = lk.VideoGrants(
        room_join=True,
        room=room,
        can_publish=False,
        can_subscribe=True,
        can_publish_data=False,
        can_publish_sources=[],
        hidden=True,
        agent=True,
    )
    ttl = datetime.timedelta(seconds=ttl_s or settings.LIVEKIT_TOKEN_TTL_S)
    return (
        lk.AccessToken(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
        .with_identity(agent_identity(agent_id))
        .with_name("Spaces recorder")
        .with_kind("agent")
        .with_ttl(ttl)
        .with_grants(grants)
        .to_jwt()
    )


def _call(fn: Callable[[lk.LiveKitAPI], Awaitable[T]], *, missing_ok: bool = False, default: Any = None) -> T:
    """Run one server API call with a fresh client; map transport and 5xx errors."""

    async def runner() -> T:
        client = lk.LiveKitAPI(
            _api_url(),
            settings.LIVEKIT_API_KEY,
            settings.LIVEKIT_API_SECRET,
            timeout=aiohttp.ClientTimeout(total=settings.LIVEKIT_API_TIMEOUT_S),
        )
        try:
            # The SDK passes ``timeout=None`` per request, which overrides the session's timeout: bound it here.
            return await asyncio.wait_for(fn(client), settings.LIVEKIT_API_TIMEOUT_S)
        finally:
            await client.aclose()

    try:
        return async_to_sync(runner)()
    except lk.TwirpError as exc:
        if missing_ok and exc.code == lk.TwirpErrorCode.NOT_FOUND:
            return default  # type: ignore[no-any-return]
        # 5xx is an outage; a 4xx here means our configuration is wrong (keys): equally "cannot apply now".
        raise LiveKitUnavailable(f"{exc.status} {exc.code}: {exc.message}") from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise LiveKitUnavailable(str(exc) or type(exc).__name__) from exc


def room_ensure(*, room: str, empty_timeout_s: int, departure_timeout_s: int) -> None:
    """Create the room if it does not exist (idempotent on the server)."""
    _call(
        lambda c: c.room.create_room(
            lk.CreateRoomRequest(name=room, empty_timeout=empty_timeout_s, departure_timeout=departure_timeout_s)
        )
    )


def room_delete(*, room: str) -> None:
    """Delete the room, disconnecting everyone in it; a missing room is fine."""
    _call(lambda c: c.room.delete_room(lk.DeleteRoomRequest(room=room)), missing_ok=True)


def rooms_list(*, prefix: str) -> list[str]:
    async def fn(c: lk.LiveKitAPI) -> list[str]:
        result = await c.room.list_rooms(lk.ListRoomsRequest())
        return [r.name for r in result.rooms if r.name.startswith(prefix)]

    return _call(fn)


def _source_name(value: int) -> str:
    return str(lk_models.TrackSource.Name(value)).lower()  # type: ignore[arg-type]


def _participant(info: Any) -> RemoteParticipant:
    perm = info.permission
    return RemoteParticipant(
        identity=info.identity,
        can_publish=perm.can_publish,
        can_subscribe=perm.can_subscribe,
        hidden=perm.hidden,
        sources=tuple(_source_name(s) for s in perm.can_publish_sources),
        tracks=tuple(Track(sid=t.sid, source=_source_name(t.source), muted=t.muted) for t in info.tracks),
    )


def participants_list(*, room: str) -> list[RemoteParticipant]:
    """Everyone connected to ``room`` (hidden participants included); [] if the room is gone."""

    async def fn(c: lk.LiveKitAPI) -> list[RemoteParticipant]:
        result = await c.room.list_participants(lk.ListParticipantsRequest(room=room))
        return [_participant(p) for p in result.participants]

    return _call(fn, missing_ok=True, default=[])


def participant_get(*, room: str, user_id: int) -> RemoteParticipant | None:
    async def fn(c: lk.LiveKitAPI) -> RemoteParticipant:
        info = await c.room.get_participant(lk.RoomParticipantIdentity(room=room, identity=identity_for(user_id)))
        return _participant(info)

    return _call(fn, missing_ok=True, default=None)


def participant_update(*, room: str, user_id: int, permission: Permission) -> bool:
    """Replace the participant's whole permission set. False if they are not connected."""
    proto = lk_models.ParticipantPermission(
        can_subscribe=True,
        can_publish=permission.can_publish,
        can_publish_data=False,
        can_publish_sources=[lk_models.TrackSource.MICROPHONE] if permission.can_publish else [],
        hidden=permission.hidden,
    )

    async def fn(c: lk.LiveKitAPI) -> bool:
        await c.room.update_participant(
            lk.UpdateParticipantRequest(room=room, identity=identity_for(user_id), permission=proto)
        )
        return True

    return _call(fn, missing_ok=True, default=False)


def microphone_mute(*, room: str, user_id: int) -> int:
    """Mute every published microphone track of the participant on the server; returns how many."""

    async def fn(c: lk.LiveKitAPI) -> int:
        identity = identity_for(user_id)
        info = await c.room.get_participant(lk.RoomParticipantIdentity(room=room, identity=identity))
        muted = 0
        for track in info.tracks:
            if track.source == lk_models.TrackSource.MICROPHONE and not track.muted:
                await c.room.mute_published_track(
                    lk.MuteRoomTrackRequest(room=room, identity=identity, track_sid=track.sid, muted=True)
                )
                muted += 1
        return muted

    return _call(fn, missing_ok=True, default=0)


def participant_remove(*, room: str, user_id: int) -> bool:
    """Disconnect the participant; False if they were not connected."""

    async def fn(c: lk.LiveKitAPI) -> bool:
        await c.room.remove_participant(lk.RoomParticipantIdentity(room=room, identity=identity_for(user_id)))
        return True

    return _call(fn, missing_ok=True, default=False)


def _webhook_token_check(auth_header: str) -> None:
    """Bound the signing token in time; the SDK checks only ``exp`` (and ``nbf`` when present).

    LiveKit signs every webhook with a token valid from now (``nbf``) for five minutes (``exp``).
    Required here: both claims, ``nbf`` and ``iat`` not in the future beyond the clock skew, ``exp`` not
    past, and a validity of at most ``LIVEKIT_WEBHOOK_MAX_TTL_S``: a token signed for 30 days (or
    dated 30 days ahead) would make a captured webhook replayable for that long.
    """
    skew = settings.LIVEKIT_WEBHOOK_LEEWAY_S
    claims = jwt.decode(
        auth_header,
        key=settings.LIVEKIT_API_SECRET,
        algorithms=["HS256"],
        issuer=settings.LIVEKIT_API_KEY,
        leeway=skew,
        options={"require": ["exp", "nbf"]},
    )
    if int(claims["exp"]) - int(claims["nbf"]) > settings.LIVEKIT_WEBHOOK_MAX_TTL_S:
        raise WebhookInvalid("token valid for longer than LIVEKIT_WEBHOOK_MAX_TTL_S")


def webhook_receive(*, body: str, auth_header: str) -> WebhookEvent:
    """Verify a webhook (JWT in ``Authorization`` signing the body's SHA-256) and return its facts."""
    receiver = lk.WebhookReceiver(
        lk.TokenVerifier(
            settings.LIVEKIT_API_KEY,
            settings.LIVEKIT_API_SECRET,
            leeway=datetime.timedelta(seconds=settings.LIVEKIT_WEBHOOK_LEEWAY_S),
        )
    )
    try:
        _webhook_token_check(auth_header)
        event = receiver.receive(body, auth_header)
    except WebhookInvalid:
        raise
    except Exception as exc:  # the SDK raises bare Exception / jwt errors / protobuf parse errors
        raise WebhookInvalid(str(exc)) from exc
    return WebhookEvent(
        id=event.id,
        event=event.event,
        room=event.room.name,
        identity=event.participant.identity,
        track_sid=event.track.sid,
        track_source=_source_name(event.track.source),
        created_at=int(event.created_at),
    )
