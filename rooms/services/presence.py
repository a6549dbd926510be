"""Presence: join (LiveKit credentials), leave, and LiveKit webhooks that keep presence true.

Joins do not lock the Space row (a busy Space takes many joins a second): the connected flag and the
listener count move together through conditional updates, so the count can neither drift nor pass the
cap. Stage changes lock the Space row (see ``stage.py``).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DataError, OperationalError, connection
from django.db.models import F, Field, Q
from django.db.models.constants import OnConflict
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import User
from rooms import livekit_client
from rooms.exceptions import AudioUnavailable, SpaceFull, SpaceNotFound
from rooms.models import (
    HOST_TEAM,
    STAGE_ROLES,
    GuestListener,
    HandRaise,
    HandState,
    Participant,
    Role,
    Space,
    SpaceState,
)
from rooms.selectors import JoinContext, access_space_for_join, ban_of, space_get_for_join
from rooms.services import guests, hls
from rooms.services._common import emit_stage, livekit_apply, livekit_disconnect, lock_space, participant_set_role
from spaces_project.common.db import atomic_retrying_deadlocks, is_deadlock
from spaces_project.common.precompiled import hot_cursor
from spaces_project.common.text import decimal_id

logger = logging.getLogger(__name__)

PEAK_AFTER_JOIN = Greatest(F("peak_listener_count"), F("listener_count") + 1)


@dataclass(frozen=True)
class JoinCredentials:
    livekit_url: str
    token: str
    room: str
    identity: str
    role: str
    is_muted: bool
    ws_url: str
    expires_in: int
    transport: str = "webrtc"


def _insert_connected(*, space: Space, user: User, role: str) -> Participant | None:
    """A first join: create the participant already connected, in one statement; None if it exists.

    ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` (Django's ``_insert``, what ``bulk_create`` uses):
    the common case of a crowd of new listeners costs one statement instead of a read, a savepoint, an
    insert, its release and the connected flag's update. A user who was here before takes the usual path.
    """
    participant = Participant(space=space, user=user, role=role, is_connected=True, joined_at=timezone.now())
    meta = Participant._meta
    rows = Participant.objects._insert(  # type: ignore[attr-defined]
        [participant],
        fields=[f for f in meta.concrete_fields if not f.primary_key],
        returning_fields=[meta.pk],
        on_conflict=OnConflict.IGNORE,
        unique_fields=[meta.get_field("space"), meta.get_field("user")],
    )
    if not rows or not rows[0] or rows[0][0] is None:
        return None
    participant.pk = rows[0][0]
    participant._state.adding = False
    participant._state.db = "default"
    return participant


@functools.cache
def _first_listener_sql(*, alone: bool) -> tuple[str, tuple[Field, ...]]:
    """A first listener's ``INSERT … ON CONFLICT DO NOTHING`` and the count's conditional ``UPDATE`` as one
    statement (PostgreSQL: data-modifying CTEs), built once from the models' metadata.

    The ``UPDATE`` runs only for a row the ``INSERT`` created (``EXISTS (SELECT 1 FROM inserted)``), under
    the same cap and peak conditions as :func:`_listener_in_sql`. It answers the new row's id (no row: the
    participant existed, nothing was written) and whether the count took it. Inside a transaction
    (``alone=False``) a refused count is answered (the caller raises ``space_full`` and the transaction
    takes the row back, as before); ``alone=True`` (its own transaction, autocommit) the statement itself
    fails with a division by zero when the row was inserted but the count refused, so PostgreSQL takes
    the row back with it: a full Space never holds a connected, uncounted row either way.
    """
    meta = Participant._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    pk = quote(meta.pk.column)
    columns = ", ".join(quote(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    space_pk = quote(Space._meta.pk.column)
    count = _listener_in_sql(enforce_cap=True)
    counted = "(SELECT count(*) FROM counted)"
    answer = f"1 / {counted}" if alone else f"{counted} > 0"
    # Only quoted names from the models' metadata go into the text; every value is a parameter.
    sql = (
        f"WITH inserted AS (INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT DO NOTHING RETURNING {pk}), "
        f"counted AS ({count} AND EXISTS (SELECT 1 FROM inserted) RETURNING {space_pk}) "
        f"SELECT inserted.{pk}, {answer} FROM inserted"
    )
    return sql, fields


DIVISION_BY_ZERO = "22012"


def _insert_counted_listener(*, space: Space, user: User) -> Participant | None:
    """A first join as a listener on PostgreSQL: the connected row and the count in one statement.

    None if the participant existed (nothing written: the caller takes the usual path); raises
    ``space_full`` if the cap refused the count (nothing written either). Outside a transaction the
    statement is its own transaction (no ``BEGIN``/``COMMIT`` round trips); inside one, the caller's
    transaction takes the row back.
    """
    alone = not connection.in_atomic_block
    sql, fields = _first_listener_sql(alone=alone)
    participant = Participant(space=space, user=user, role=Role.LISTENER, is_connected=True, joined_at=timezone.now())
    params = [*(f.get_db_prep_save(f.pre_save(participant, True), connection) for f in fields), space.pk]
    try:
        with hot_cursor(connection) as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except DataError as exc:
        if alone and getattr(exc.__cause__, "sqlstate", None) == DIVISION_BY_ZERO:
            raise SpaceFull(extra={"cap": space.listener_cap}) from None
        raise
    if row is None:
        return None
    if not row[1]:  # in a transaction: the count refused; the caller's transaction takes the row back
        raise SpaceFull(extra={"cap": space.listener_cap})
    participant.pk = row[0]
    participant._state.adding = False
    participant._state.db = "default"
    return participant


def participant_mark_connected(*, space: Space, participant: Participant, enforce_cap: bool) -> bool:
    """Flip the participant to connected; True if it was not. Raises ``space_full`` past the cap."""
    now = timezone.now()
    flipped = Participant.objects.filter(pk=participant.pk, is_connected=False).update(
        is_connected=True, joined_at=now, left_at=None
    )
    participant.is_connected = True
    if not flipped:
        return False
    return _count_connected(space=space, participant=participant, enforce_cap=enforce_cap)


def _count_connected(*, space: Space, participant: Participant, enforce_cap: bool) -> bool:
    """The counters of a participant who just became connected (True). Raises ``space_full`` past the cap."""
    if participant.role == Role.LISTENER:
        if not _listener_in(space_id=space.pk, enforce_cap=enforce_cap):
            raise SpaceFull(extra={"cap": space.listener_cap})
    elif participant.role in HOST_TEAM:
        Space.objects.filter(pk=space.pk).update(host_team_absent_since=None)
    return True


@functools.cache
def _listener_in_sql(*, enforce_cap: bool) -> str:
    """The count's conditional ``UPDATE`` as SQL, built once: the ORM compiled it at every join (0.5 ms of
    CPU, a tenth of the whole join; docs/benchmarks.md, "Join storm")."""
    meta = Space._meta

    def column(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, Field) and field.column
        return connection.ops.quote_name(field.column)

    table, pk = connection.ops.quote_name(meta.db_table), column("id")
    count, peak, cap = column("listener_count"), column("peak_listener_count"), column("listener_cap")
    room_left = f" AND ({cap} = 0 OR {count} < {cap})" if enforce_cap else ""
    # Only quoted names from the model's metadata go into the text; the Space id is a parameter.
    return (
        f"UPDATE {table} SET {count} = {count} + 1, {peak} = GREATEST({peak}, {count} + 1) WHERE {pk} = %s{room_left}"  # noqa: S608
    )


def _listener_in(*, space_id: int, enforce_cap: bool) -> bool:
    """One more listener on the Space row, unless the cap is reached (False): one statement, no read."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_listener_in_sql(enforce_cap=enforce_cap), [space_id])
            return cursor.rowcount == 1
    room_left = Q(listener_cap=0) | Q(listener_count__lt=F("listener_cap")) if enforce_cap else Q()
    grown = {"listener_count": F("listener_count") + 1, "peak_listener_count": PEAK_AFTER_JOIN}
    return bool(Space.objects.filter(room_left, pk=space_id).update(**grown))


def participant_mark_disconnected(*, space: Space, participant: Participant) -> bool:
    now = timezone.now()
    flipped = Participant.objects.filter(pk=participant.pk, is_connected=True).update(
        is_connected=False, is_speaking=False, left_at=now
    )
    participant.is_connected = False
    participant.is_speaking = False
    if not flipped:
        return False
    if participant.role == Role.LISTENER:
        Space.objects.filter(pk=space.pk, listener_count__gt=0).update(listener_count=F("listener_count") - 1)
    elif participant.role in HOST_TEAM:
        _start_absence_clock(space=space)
    return True


def _start_absence_clock(*, space: Space) -> None:
    present = Participant.objects.filter(space=space, role__in=HOST_TEAM, is_connected=True).exists()
    if not present:
        Space.objects.filter(pk=space.pk, host_team_absent_since__isnull=True).update(
            host_team_absent_since=timezone.now()
        )


def _join_record(*, space_id: int, user: User) -> tuple[Space, Participant]:
    """Read the Space with the caller's flags, check access, make the caller a connected participant.

    A first join as a listener on PostgreSQL outside any transaction needs none: the read takes no
    locks (each statement reads its own snapshot under READ COMMITTED, in a transaction or not) and the
    row and the count are one statement. Everyone else (here before, the host, SQLite, a caller's
    transaction) writes in a transaction, as before; so does a first join that lost a deadlock (it
    reads again there, and runs again if it loses once more).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return _join_record_in_transaction(space_id=space_id, user=user, known=[])
    context = _join_context(space_id=space_id, user=user)
    if context.space.host_id != user.pk:
        try:
            participant = _insert_counted_listener(space=context.space, user=user)
        except OperationalError as exc:
            if not is_deadlock(exc):
                raise
            logger.warning("db.deadlock_retried", extra={"function": "_insert_counted_listener", "attempt": 1})
            return _join_record_in_transaction(space_id=space_id, user=user, known=[])
        if participant is not None:
            return context.space, participant
    return _join_record_in_transaction(space_id=space_id, user=user, known=[context])


def _join_context(*, space_id: int, user: User) -> JoinContext:
    context = space_get_for_join(space_id=space_id, user_id=user.pk)
    if context is None:
        raise SpaceNotFound()
    access_space_for_join(space=context.space, user=user, context=context)
    return context


@atomic_retrying_deadlocks
def _join_record_in_transaction(*, space_id: int, user: User, known: list[JoinContext]) -> tuple[Space, Participant]:
    """``known``: the read just made outside, used by the first attempt only (a run after a deadlock
    reads again)."""
    context = known.pop() if known else _join_context(space_id=space_id, user=user)
    space = context.space
    default_role = Role.HOST if user.pk == space.host_id else Role.LISTENER
    participant: Participant | None = None
    changed = False
    if default_role == Role.LISTENER and connection.vendor == "postgresql":
        participant = _insert_counted_listener(space=space, user=user)  # row and count: one statement
        changed = participant is not None
    else:
        participant = _insert_connected(space=space, user=user, role=default_role)
        if participant is not None:  # first join: the row was created connected, only the count is left
            changed = _count_connected(space=space, participant=participant, enforce_cap=True)
    if participant is None:  # here before: the usual read, then the conditional flip and count
        participant, _ = Participant.objects.get_or_create(space=space, user=user, defaults={"role": default_role})
        changed = participant_mark_connected(space=space, participant=participant, enforce_cap=True)
    if changed and participant.role in STAGE_ROLES:
        emit_stage(space=space)
    return space, participant


# A room created this recently still exists (LiveKit keeps it LIVEKIT_ROOM_EMPTY_TIMEOUT_S after the
# last participant leaves), so a join burst makes one CreateRoom call, not one per listener.
ROOM_ENSURED_TTL_S = 10
# This process's copy of the shared memo: key → the wall-clock time the cache entry expires (its value),
# so a burst reads the cache once per process, and never believes the memo longer than the cache does.
_rooms_ensured: dict[str, float] = {}


def _room_remember(key: str, until: float) -> None:
    if len(_rooms_ensured) > 10_000:  # a bound: drop the expired ones
        now = time.time()
        for old in [k for k, t in _rooms_ensured.items() if t <= now]:
            _rooms_ensured.pop(old, None)
    _rooms_ensured[key] = until


def livekit_room_ensure(*, space: Space) -> None:
    key = f"rooms:lk-room:{settings.LIVEKIT_API_URL or settings.LIVEKIT_URL}:{space.livekit_room}"
    now = time.time()
    if _rooms_ensured.get(key, 0.0) > now:
        return
    until = cache.get(key)
    if until:
        if isinstance(until, float) and until > now:  # an entry of before this change holds 1: not kept here
            _room_remember(key, until)
        return
    try:
        livekit_client.room_ensure(
            room=space.livekit_room,
            empty_timeout_s=settings.LIVEKIT_ROOM_EMPTY_TIMEOUT_S,
            departure_timeout_s=settings.LIVEKIT_ROOM_EMPTY_TIMEOUT_S,
        )
    except livekit_client.LiveKitUnavailable:
        logger.warning("livekit.room_ensure_failed", extra={"space_id": space.pk})
        return
    until = now + ROOM_ENSURED_TTL_S
    cache.set(key, until, ROOM_ENSURED_TTL_S)
    _room_remember(key, until)


def space_join(*, space_id: int, user: User) -> JoinCredentials:
    """:func:`space_join_any` for a caller that needs LiveKit credentials (always WebRTC)."""
    credentials = space_join_any(space_id=space_id, user=user, transport=hls.WEBRTC)
    assert isinstance(credentials, JoinCredentials)
    return credentials


def space_join_any(*, space_id: int, user: User, transport: str | None = None) -> JoinCredentials | hls.HlsCredentials:
    """Enter a live Space: every SPEC 2.4 check, presence, then a LiveKit token matching the role.

    Raises ``space_not_found``, ``space_not_live``, ``account_suspended``, ``banned``, ``blocked``,
    ``space_full``. Makes sure the LiveKit room exists (idempotent); if LiveKit cannot be reached the
    credentials are still returned (the database is the truth) and the client's next join retries it.
    ``transport``: ``"hls"`` asks for HLS (data saver), ``"webrtc"`` insists on LiveKit credentials
    (service callers), None lets the Space decide (:func:`rooms.services.hls.join_transport`).
    """
    if not livekit_client.is_configured():
        raise AudioUnavailable()
    space, participant = _join_record(space_id=space_id, user=user)
    ws_base = settings.SPACES_PUBLIC_URL.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    chosen = (
        hls.WEBRTC
        if transport == hls.WEBRTC
        else hls.join_transport(space=space, participant=participant, requested=transport)
    )
    hls.transport_record(space=space, participant=participant, transport=chosen)
    if chosen == hls.HLS:  # HLS overflow / data saver: no LiveKit credentials (rooms/services/hls.py)
        return hls.credentials(space=space, participant=participant, ws_url=f"{ws_base}/ws/spaces/{space.pk}/")
    permission = (
        livekit_client.STAGE_PERMISSION if participant.role in STAGE_ROLES else livekit_client.LISTENER_PERMISSION
    )
    livekit_room_ensure(space=space)
    ttl = settings.LIVEKIT_TOKEN_TTL_S
    token = livekit_client.token_mint(
        room=space.livekit_room,
        user_id=user.pk,
        name=user.display_name or user.username,
        permission=permission,
        ttl_s=ttl,
    )
    return JoinCredentials(
        livekit_url=settings.LIVEKIT_URL,
        token=token,
        room=space.livekit_room,
        identity=livekit_client.identity_for(user.pk),
        role=participant.role,
        is_muted=participant.is_muted,
        ws_url=f"{ws_base}/ws/spaces/{space.pk}/",
        expires_in=ttl,
    )


@atomic_retrying_deadlocks
def space_leave(*, space_id: int, user: User) -> None:
    """Leave the Space: disconnect, give up a stage seat (the host keeps theirs), lower the hand.

    Idempotent. The LiveKit participant is removed on commit.
    """
    space = lock_space(space_id=space_id)
    participant = Participant.objects.select_for_update().filter(space=space, user=user).first()
    if participant is None:
        return
    was_stage = participant.role in STAGE_ROLES
    participant_mark_disconnected(space=space, participant=participant)
    if participant.role in (Role.SPEAKER, Role.COHOST):
        participant_set_role(space=space, participant=participant, role=Role.LISTENER)
    HandRaise.objects.filter(space=space, user=user, state=HandState.RAISED).update(
        state=HandState.LOWERED, resolved_at=timezone.now()
    )
    if was_stage and space.state == SpaceState.LIVE:
        emit_stage(space=space)
    livekit_disconnect(space=space, user_id=user.pk)


def _space_id_from_room(room: str) -> int | None:
    prefix = settings.LIVEKIT_ROOM_PREFIX
    return decimal_id(room[len(prefix) :]) if room.startswith(prefix) else None


@atomic_retrying_deadlocks
def livekit_event_apply(*, event: livekit_client.WebhookEvent) -> str:
    """Apply one verified LiveKit webhook to presence; idempotent and safe in any order.

    Returns what was done (for logs and tests). Someone connected who should not be (banned, unknown,
    Space not live) is disconnected on commit.
    """
    space_id = _space_id_from_room(event.room)
    if space_id is None:
        return "ignored_room"
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return "ignored_room"
    if event.event == "room_finished" or guests.is_guest_identity(event.identity):
        return _room_or_guest_event(space=space, event=event)
    user_id = livekit_client.user_id_from_identity(event.identity)
    if user_id is None:
        return "ignored_identity"
    participant = Participant.objects.filter(space=space, user_id=user_id).first()
    if event.event == "participant_joined":
        if participant is None or space.state != SpaceState.LIVE or ban_of(space=space, user_id=user_id):
            livekit_disconnect(space=space, user_id=user_id)
            return "disconnected_intruder"
        if (
            participant_mark_connected(space=space, participant=participant, enforce_cap=False)
            and participant.role in STAGE_ROLES
        ):
            emit_stage(space=space)
        return "connected"
    if participant is None:
        return "ignored_unknown"
    if event.event == "participant_left":
        # Someone who switched to HLS left LiveKit but not the Space: their presence is the socket's now.
        left = participant.transport != hls.HLS and participant_mark_disconnected(space=space, participant=participant)
        if left and participant.role in STAGE_ROLES:
            emit_stage(space=space)
        return "disconnected"
    if event.event in ("track_published", "track_unpublished") and event.track_source == livekit_client.MICROPHONE:
        speaking = event.event == "track_published"
        Participant.objects.filter(pk=participant.pk).update(is_speaking=speaking)
        if speaking and participant.role not in STAGE_ROLES:
            livekit_apply(participant=participant)  # a listener must not publish: repair at once
            return "drift"
        return "speaking" if speaking else "silent"
    return "ignored_event"


def _room_or_guest_event(*, space: Space, event: livekit_client.WebhookEvent) -> str:
    if event.event == "room_finished":
        return _room_finished(space=space)
    return guests.guest_event_apply(space=space, event=event.event, identity=event.identity)


def _room_finished(*, space: Space) -> str:
    now = timezone.now()
    Participant.objects.filter(space=space, is_connected=True).update(
        is_connected=False, is_speaking=False, left_at=now
    )
    GuestListener.objects.filter(space=space).delete()
    Space.objects.filter(pk=space.pk).update(listener_count=0)
    if space.state == SpaceState.LIVE:
        Space.objects.filter(pk=space.pk, host_team_absent_since__isnull=True).update(host_team_absent_since=now)
    return "room_finished"


@atomic_retrying_deadlocks
def hls_socket_presence(*, space_id: int, user_id: int, connected: bool) -> bool:
    """An HLS listener's presence follows their Spaces websocket (LiveKit never sees them).

    Called by the socket on connect and disconnect; does nothing for WebRTC participants (LiveKit's
    webhooks keep theirs). True if the listener's connected state changed.
    """
    participant = Participant.objects.filter(space_id=space_id, user_id=user_id, transport=hls.HLS).first()
    if participant is None or participant.role != Role.LISTENER:
        return False
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return False
    if not connected:
        return participant_mark_disconnected(space=space, participant=participant)
    if space.state != SpaceState.LIVE or ban_of(space=space, user_id=user_id):
        return False
    return participant_mark_connected(space=space, participant=participant, enforce_cap=False)
