from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.exceptions import AccountSuspended
from accounts.models import Block
from moderation.models import HostBan
from rooms import livekit_client, services
from rooms.exceptions import Banned, BlockedByHost, SpaceFull, SpaceNotFound, SpaceNotLive
from rooms.models import HandRaise, HandState, Participant, Role, Space
from tests.factories import UserFactory
from tests.support.builders import participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def known_keys(settings):
    # Known keys, and a LiveKit API that refuses connections: join must still hand out credentials.
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "k", "s" * 40
    settings.LIVEKIT_URL, settings.LIVEKIT_API_URL = "ws://127.0.0.1:9", "http://127.0.0.1:9"


def test_listener_token_subscribes_only_and_is_hidden(live_space, known_keys):
    user = UserFactory()
    creds = services.space_join(space_id=live_space.pk, user=user)
    video = livekit_client.lk.TokenVerifier("k", "s" * 40).verify(creds.token).video
    assert creds.role == Role.LISTENER
    assert (video.room, video.room_join, video.can_subscribe, video.can_publish, video.hidden) == (
        live_space.livekit_room,
        True,
        True,
        False,
        True,
    )
    assert creds.identity == f"u{user.pk}"
    assert Space.objects.get(pk=live_space.pk).listener_count == 1


def test_stage_token_may_publish_the_microphone_only(host, live_space, known_keys, settings):
    creds = services.space_join(space_id=live_space.pk, user=host)
    video = livekit_client.lk.TokenVerifier("k", "s" * 40).verify(creds.token).video
    assert (creds.role, video.can_publish, video.can_publish_sources, video.hidden) == (
        Role.HOST,
        True,
        ["microphone"],
        False,
    )
    assert creds.expires_in == settings.LIVEKIT_TOKEN_TTL_S
    assert creds.livekit_url == "ws://127.0.0.1:9"


def test_join_twice_counts_once(live_space):
    user = UserFactory()
    services.space_join(space_id=live_space.pk, user=user)
    services.space_join(space_id=live_space.pk, user=user)
    assert Space.objects.get(pk=live_space.pk).listener_count == 1


def test_join_refusals(host, live_space):
    with pytest.raises(SpaceNotFound):
        services.space_join(space_id=live_space.pk + 1000, user=UserFactory())
    with pytest.raises(AccountSuspended):
        services.space_join(space_id=live_space.pk, user=UserFactory(is_suspended=True))
    banned = UserFactory()
    HostBan.objects.create(host=host, user=banned)
    with pytest.raises(Banned):
        services.space_join(space_id=live_space.pk, user=banned)
    blocked = UserFactory()
    Block.objects.create(blocker=host, blocked=blocked)
    with pytest.raises(BlockedByHost):
        services.space_join(space_id=live_space.pk, user=blocked)
    assert not Participant.objects.exclude(user=host).exists()
    services.space_end(space_id=live_space.pk, actor=host)
    with pytest.raises(SpaceNotLive):
        services.space_join(space_id=live_space.pk, user=UserFactory())


def test_listener_cap(host, live_space):
    Space.objects.filter(pk=live_space.pk).update(listener_cap=2)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    services.space_join(space_id=live_space.pk, user=a)
    services.space_join(space_id=live_space.pk, user=b)
    with pytest.raises(SpaceFull):
        services.space_join(space_id=live_space.pk, user=c)
    assert not Participant.objects.filter(user=c, is_connected=True).exists()
    # stage members are not listeners: the host still gets in
    assert services.space_join(space_id=live_space.pk, user=host).role == Role.HOST
    services.space_leave(space_id=live_space.pk, user=a)
    assert services.space_join(space_id=live_space.pk, user=c).role == Role.LISTENER
    assert Space.objects.get(pk=live_space.pk).listener_count == 2


def test_leave_gives_up_the_seat_and_the_hand(live_space, joined):
    speaker, listener = joined(Role.SPEAKER), joined()
    services.hand_raise(space_id=live_space.pk, user=listener)
    services.space_leave(space_id=live_space.pk, user=speaker)
    services.space_leave(space_id=live_space.pk, user=listener)
    services.space_leave(space_id=live_space.pk, user=listener)  # idempotent
    assert participant(live_space, speaker).role == Role.LISTENER
    assert not participant(live_space, speaker).is_connected
    assert HandRaise.objects.get(user=listener).state == HandState.LOWERED
    assert Space.objects.get(pk=live_space.pk).listener_count == 0


def _event(space, kind, user=None, source=""):
    return livekit_client.WebhookEvent(
        id="EV_x",
        event=kind,
        room=space.livekit_room,
        identity=f"u{user.pk}" if user else "",
        track_sid="TR_x",
        track_source=source,
        created_at=int(timezone.now().timestamp()),
    )


def test_webhooks_keep_presence(live_space, joined):
    user = joined()
    assert services.livekit_event_apply(event=_event(live_space, "participant_left", user)) == "disconnected"
    assert not participant(live_space, user).is_connected
    assert Space.objects.get(pk=live_space.pk).listener_count == 0
    # replayed: nothing changes twice
    services.livekit_event_apply(event=_event(live_space, "participant_left", user))
    assert Space.objects.get(pk=live_space.pk).listener_count == 0
    assert services.livekit_event_apply(event=_event(live_space, "participant_joined", user)) == "connected"
    services.livekit_event_apply(event=_event(live_space, "participant_joined", user))
    assert Space.objects.get(pk=live_space.pk).listener_count == 1


def test_webhooks_track_speaking(live_space, joined):
    speaker = joined(Role.SPEAKER)
    services.livekit_event_apply(event=_event(live_space, "track_published", speaker, "microphone"))
    assert participant(live_space, speaker).is_speaking
    services.livekit_event_apply(event=_event(live_space, "track_unpublished", speaker, "microphone"))
    assert not participant(live_space, speaker).is_speaking


def test_webhook_listener_publishing_is_drift(live_space, joined):
    listener = joined()
    assert services.livekit_event_apply(event=_event(live_space, "track_published", listener, "microphone")) == "drift"
    assert participant(live_space, listener).livekit_dirty


def test_webhook_intruders_are_disconnected(live_space, host):
    stranger = UserFactory()
    result = services.livekit_event_apply(event=_event(live_space, "participant_joined", stranger))
    assert result == "disconnected_intruder"
    assert not Participant.objects.filter(user=stranger).exists()


def test_webhook_other_rooms_are_ignored(live_space):
    event = livekit_client.WebhookEvent("e", "participant_joined", "elsewhere-1", "u1", "", "", 0)
    assert services.livekit_event_apply(event=event) == "ignored_room"


def test_room_finished_clears_presence(live_space, joined):
    joined()
    services.livekit_event_apply(event=_event(live_space, "room_finished"))
    assert not Participant.objects.filter(space=live_space, is_connected=True).exists()
    assert Space.objects.get(pk=live_space.pk).listener_count == 0


def test_absence_clock_from_webhooks(host, live_space):
    services.space_join(space_id=live_space.pk, user=host)
    services.livekit_event_apply(event=_event(live_space, "participant_left", host))
    since = Space.objects.get(pk=live_space.pk).host_team_absent_since
    assert since is not None and since > timezone.now() - timedelta(seconds=5)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # new connections: outside the test's transaction
def test_the_join_statements_are_prepared_once_per_connection(postgres_url, live_space, settings):
    from django.db import connection

    from accounts import selectors as account_selectors

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements ORDER BY statement")
            return [row[0] for row in cursor.fetchall()]

    connection.close()  # a connection of its own: nothing prepared yet
    first = UserFactory()
    account_selectors.user_for_token(key="not-a-token")
    services.space_join(space_id=live_space.pk, user=first)
    statements = prepared()
    assert any(s.startswith("WITH inserted AS (INSERT INTO") for s in statements), statements  # the first join
    assert any('FROM "rooms_space"' in s for s in statements), statements  # the join read
    assert any('"authtoken_token"' in s for s in statements), statements  # the token lookup
    # the next listeners reuse them: nothing new is prepared, and the values still come apart from the text
    services.space_join(space_id=live_space.pk, user=UserFactory())
    assert prepared() == statements
    assert Space.objects.get(pk=live_space.pk).listener_count == 2
    # off (a pooler that cannot keep them): the same join, nothing prepared
    settings.SPACES_DB_PREPARED_STATEMENTS = False
    connection.close()
    services.space_join(space_id=live_space.pk, user=UserFactory())
    assert prepared() == []
    assert Space.objects.get(pk=live_space.pk).listener_count == 3


def test_a_first_listener_join_writes_the_row_and_the_count_in_one_statement(postgres_url, host, live_space):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Space.objects.filter(pk=live_space.pk).update(listener_cap=1)
    first, late = UserFactory(), UserFactory()
    with CaptureQueriesContext(connection) as joined:
        services.space_join(space_id=live_space.pk, user=first)
    writes = [q["sql"] for q in joined.captured_queries if "INSERT" in q["sql"] or "UPDATE" in q["sql"]]
    assert len(writes) == 1 and writes[0].startswith("WITH inserted AS (INSERT INTO") and "UPDATE" in writes[0]
    assert Space.objects.get(pk=live_space.pk).listener_count == 1
    # Full: the statement inserted the row, the count refused it, the transaction took the row back.
    with pytest.raises(SpaceFull):
        services.space_join(space_id=live_space.pk, user=late)
    assert not Participant.objects.filter(user=late).exists()
    space = Space.objects.get(pk=live_space.pk)
    assert (space.listener_count, space.peak_listener_count) == (1, 1)
    # Here before (a row exists): the usual path, and the cap still counts.
    services.space_leave(space_id=live_space.pk, user=first)
    services.space_join(space_id=live_space.pk, user=late)
    with pytest.raises(SpaceFull):
        services.space_join(space_id=live_space.pk, user=first)
    assert not participant(live_space, first).is_connected
    assert services.space_join(space_id=live_space.pk, user=host).role == Role.HOST  # the host's own path
    space = Space.objects.get(pk=live_space.pk)
    assert (space.listener_count, space.peak_listener_count) == (1, 1)


@pytest.mark.parametrize("permission", [livekit_client.LISTENER_PERMISSION, livekit_client.STAGE_PERMISSION])
@pytest.mark.parametrize("name", ["Ada Lovelace", ""])
def test_a_minted_token_carries_what_the_sdk_would_sign(settings, permission, name):
    """token_mint renders the video claim once per room and permission: the payload (keys in order, values)
    and header must be what the SDK's AccessToken signs for the same participant."""
    import jwt

    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "k", "s" * 40
    room, identity = "space-7", livekit_client.identity_for(42)
    grants = livekit_client.lk.VideoGrants(
        room_join=True,
        room=room,
        can_publish=permission.can_publish,
        can_subscribe=True,
        can_publish_data=False,
        can_publish_sources=permission.sources,
        hidden=permission.hidden,
    )
    sdk = (
        livekit_client.lk.AccessToken("k", "s" * 40)
        .with_identity(identity)
        .with_name(name)
        .with_ttl(timedelta(seconds=600))
        .with_grants(grants)
        .to_jwt()
    )
    ours = livekit_client.token_mint(room=room, user_id=42, name=name, permission=permission, ttl_s=600)
    for _ in range(2):  # the second from the memo
        decoded = [jwt.decode(t, "s" * 40, algorithms=["HS256"], options={"verify_aud": False}) for t in (sdk, ours)]
        assert list(decoded[0]) == list(decoded[1])
        assert decoded[0] | {"nbf": 0, "exp": 0} == decoded[1] | {"nbf": 0, "exp": 0}
        assert abs(decoded[0]["exp"] - decoded[1]["exp"]) <= 1 and decoded[1]["exp"] - decoded[1]["nbf"] == 600
        assert jwt.get_unverified_header(sdk) == jwt.get_unverified_header(ours)
        assert livekit_client.lk.TokenVerifier("k", "s" * 40).verify(ours).video == grants
        ours = livekit_client.token_mint(room=room, user_id=42, name=name, permission=permission, ttl_s=600)


def test_a_join_burst_reads_the_room_memo_once_per_process_and_no_longer_than_the_cache_keeps_it(
    live_space, known_keys, monkeypatch
):
    import time

    from django.core.cache import cache

    from rooms.services import presence

    ensured, reads = [], []
    monkeypatch.setattr(livekit_client, "room_ensure", lambda **kw: ensured.append(kw["room"]))

    class Shared:  # the cache as the memo sees it; ``entry`` stands for another process's entry
        entry: float | None = None

        def get(self, key, default=None):
            reads.append(key)
            return self.entry if self.entry is not None else cache.get(key, default)

        def set(self, key, value, timeout):
            cache.set(key, value, timeout)

    shared = Shared()
    monkeypatch.setattr(presence, "cache", shared)
    presence._rooms_ensured.clear()
    for _ in range(3):
        services.space_join(space_id=live_space.pk, user=UserFactory())
    assert (len(ensured), len(reads)) == (1, 1)  # created once, the shared memo read once
    # Another process's entry, expiring soon: believed until then, not longer.
    presence._rooms_ensured.clear()
    shared.entry = time.time() + 0.3
    services.space_join(space_id=live_space.pk, user=UserFactory())
    services.space_join(space_id=live_space.pk, user=UserFactory())
    assert (len(ensured), len(reads)) == (1, 2)
    shared.entry = None
    cache.delete(reads[0])
    time.sleep(0.35)
    services.space_join(space_id=live_space.pk, user=UserFactory())
    assert len(ensured) == 2
