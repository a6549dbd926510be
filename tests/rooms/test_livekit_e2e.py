"""End to end against a real livekit-server: tokens, permissions, host tools and webhooks really hold.

Participants are the Python realtime client; every change goes through the REST API as a client would.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import SpaceBan
from rooms import livekit_client, tasks
from rooms.models import Participant, Space
from tests.factories import UserFactory
from tests.support.livekit import NOBODY, remote, wait_until

pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres(postgres_url: str) -> None:
    """A live server thread and the test both write while LiveKit webhooks arrive: SQLite's single
    writer lock makes that flaky, so these run on PostgreSQL (and fail in CI without it)."""


def test_listener_hears_the_speaker(world):
    listener = UserFactory()
    peer, _, creds = world.enter(listener)
    assert creds["role"] == "listener"
    assert peer.heard_from(world.host_identity, frames=20)


def test_listener_cannot_publish(world):
    listener = UserFactory()
    peer, _, _ = world.enter(listener)
    assert not peer.publish_tone(timeout=3)
    info = remote(world.room, listener)
    assert info is not None and info.hidden and not info.can_publish and info.tracks == ()


def test_approved_hand_speaks_and_is_heard(world):
    listener = UserFactory()
    peer, api, _ = world.enter(listener)
    assert api.post(f"/api/v1/spaces/{world.space_id}/hand").status_code == 201
    response = world.host_api.post(f"/api/v1/spaces/{world.space_id}/hands/{listener.username}/approve")
    assert response.status_code == 200, response.json()
    assert wait_until(lambda: (remote(world.room, listener) or NOBODY).can_publish)
    assert peer.publish_tone()
    assert world.host_peer.heard_from(livekit_client.identity_for(listener.pk), frames=20)
    other, _, _ = world.enter(UserFactory())
    assert other.heard_from(livekit_client.identity_for(listener.pk), frames=20)


def test_move_to_listeners_unpublishes_and_refuses_new_publish(world):
    speaker = UserFactory()
    peer, api, _ = world.enter(speaker)
    api.post(f"/api/v1/spaces/{world.space_id}/hand")
    world.host_api.post(f"/api/v1/spaces/{world.space_id}/hands/{speaker.username}/approve")
    assert wait_until(lambda: (remote(world.room, speaker) or NOBODY).can_publish)
    assert peer.publish_tone()
    assert world.host_peer.heard_from(livekit_client.identity_for(speaker.pk), frames=10)
    response = world.host_api.post(f"/api/v1/spaces/{world.space_id}/participants/{speaker.username}/move-to-listeners")
    assert response.status_code == 200, response.json()
    assert wait_until(lambda: (remote(world.room, speaker) or NOBODY).tracks == ())
    info = remote(world.room, speaker)
    assert not info.can_publish and info.hidden
    assert not peer.publish_tone(timeout=3)
    assert remote(world.room, speaker).tracks == ()


def test_remove_disconnects_and_rejoin_is_refused(world):
    listener = UserFactory()
    peer, api, _ = world.enter(listener)
    response = world.host_api.post(
        f"/api/v1/spaces/{world.space_id}/participants/{listener.username}/remove", {"ban": "space"}, format="json"
    )
    assert response.status_code == 204
    assert peer.disconnected.wait(10)
    assert wait_until(lambda: remote(world.room, listener) is None)
    again = api.post(f"/api/v1/spaces/{world.space_id}/join")
    assert (again.status_code, again.json()["code"]) == (403, "banned")


def test_end_disconnects_everyone_and_deletes_the_room(world):
    listener_peer, _, _ = world.enter(UserFactory())
    assert world.host_api.post(f"/api/v1/spaces/{world.space_id}/end").status_code == 200
    assert listener_peer.disconnected.wait(10)
    assert world.host_peer.disconnected.wait(10)
    assert world.room not in livekit_client.rooms_list(prefix=world.room)


def test_webhooks_keep_presence_true(world):
    host_row = Participant.objects.get(space_id=world.space_id, user=world.host)
    assert wait_until(lambda: Participant.objects.get(pk=host_row.pk).is_speaking)  # track_published webhook
    listener = UserFactory()
    peer, _, _ = world.enter(listener)
    assert Space.objects.get(pk=world.space_id).listener_count == 1
    # the listener vanishes without calling leave: only LiveKit knows, and tells us
    peer.close()
    row = Participant.objects.get(space_id=world.space_id, user=listener)
    assert wait_until(lambda: not Participant.objects.get(pk=row.pk).is_connected)
    assert Space.objects.get(pk=world.space_id).listener_count == 0
    connected = set(
        Participant.objects.filter(space_id=world.space_id, is_connected=True).values_list("user_id", flat=True)
    )
    in_livekit = {
        livekit_client.user_id_from_identity(p.identity) for p in livekit_client.participants_list(room=world.room)
    }
    assert connected == in_livekit == {world.host.pk}


def _speaker_on_stage(world):
    speaker = UserFactory()
    peer, api, _ = world.enter(speaker)
    api.post(f"/api/v1/spaces/{world.space_id}/hand")
    world.host_api.post(f"/api/v1/spaces/{world.space_id}/hands/{speaker.username}/approve")
    assert wait_until(lambda: (remote(world.room, speaker) or NOBODY).can_publish)
    assert peer.publish_tone()
    return speaker, peer


def test_role_change_during_outage_is_kept_and_applied_when_back(world, lk, monkeypatch):
    speaker, _peer = _speaker_on_stage(world)
    monkeypatch.setattr(tasks.livekit_participant_apply, "max_retries", 1)
    lk.freeze()  # SIGSTOP: the server is there but answers nothing
    try:
        moved = world.host_api.post(
            f"/api/v1/spaces/{world.space_id}/participants/{speaker.username}/move-to-listeners"
        )
        assert moved.status_code == 200, moved.json()
        row = Participant.objects.get(space_id=world.space_id, user=speaker)
        assert (row.role, row.livekit_dirty) == ("listener", True)  # kept, and known to be unapplied
    finally:
        lk.thaw()
    tasks.livekit_reconcile()  # what Celery beat runs every SPACES_LIVEKIT_RECONCILE_S
    assert wait_until(lambda: remote(world.room, speaker).tracks == ())
    assert not remote(world.room, speaker).can_publish
    # converged: nothing left to apply (a late track webhook may repair once more on its own first)
    assert wait_until(lambda: not Participant.objects.get(pk=row.pk).livekit_dirty, timeout=15)


def test_reconcile_repairs_drift(world):
    speaker, _peer = _speaker_on_stage(world)
    intruder = UserFactory()
    intruder_peer, _, _ = world.enter(intruder)
    # Changes LiveKit never heard of (a lost task): a demotion and a ban.
    Participant.objects.filter(space_id=world.space_id, user=speaker).update(role="listener")
    SpaceBan.objects.create(space_id=world.space_id, user=intruder)
    assert remote(world.room, speaker).can_publish
    report = tasks.livekit_reconcile()
    # the intruder's own participant_joined webhook may already have had them removed (also correct)
    assert report["updated"] == 1 and report["removed"] in (0, 1)
    assert wait_until(lambda: remote(world.room, speaker).tracks == ())
    assert not remote(world.room, speaker).can_publish
    assert intruder_peer.disconnected.wait(10)
    # a second pass finds nothing to do
    assert tasks.livekit_reconcile() == {"updated": 0, "removed": 0, "gone": 0}


def test_reconcile_repairs_presence(world, make_client):
    ghost = UserFactory()  # called join but never connected to LiveKit
    assert make_client(ghost).post(f"/api/v1/spaces/{world.space_id}/join").status_code == 200
    Participant.objects.filter(user=ghost).update(joined_at=timezone.now() - timedelta(seconds=60))
    # the host is connected to LiveKit, but a lost webhook left the database thinking otherwise
    Participant.objects.filter(user=world.host).update(is_connected=False)
    tasks.livekit_reconcile()
    assert not Participant.objects.get(user=ghost).is_connected
    assert Participant.objects.get(user=world.host).is_connected
    assert Space.objects.get(pk=world.space_id).listener_count == 0
