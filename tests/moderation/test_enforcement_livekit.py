"""Bans and suspensions disconnect people from the audio itself (a private livekit-server, real peers).

The harness serves the app from a thread of this process, which needs a database with real concurrent
connections: PostgreSQL (so the embedded SQLite run skips these).
"""

from __future__ import annotations

import pytest

from moderation import services
from moderation.models import HostBan
from rooms import livekit_client
from rooms.models import Space, SpaceState
from tests.factories import UserFactory
from tests.support.livekit import remote, wait_until

pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_ban_from_the_list_disconnects_from_livekit_and_refuses_rejoin(postgres_url, world):
    listener = UserFactory()
    peer, api, _ = world.enter(listener)
    response = world.host_api.post(
        f"/api/v1/spaces/{world.space_id}/bans", {"username": listener.username, "scope": "host"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert peer.disconnected.wait(10)
    assert wait_until(lambda: remote(world.room, listener) is None)
    again = api.post(f"/api/v1/spaces/{world.space_id}/join")
    assert (again.status_code, again.json()["code"]) == (403, "banned")
    assert HostBan.objects.filter(host=world.host, user=listener).exists()


def test_suspension_disconnects_a_listener_and_ends_the_hosts_room(postgres_url, world):
    listener = UserFactory()
    listener_peer, listener_api, _ = world.enter(listener)
    services.user_suspend(user_id=listener.pk, staff=None, reason="spam")
    assert listener_peer.disconnected.wait(10)
    assert wait_until(lambda: remote(world.room, listener) is None)
    assert listener_api.post(f"/api/v1/spaces/{world.space_id}/join").json()["code"] == "account_suspended"
    # the host still speaks to the others until the host is suspended too
    other_peer, _, _ = world.enter(UserFactory())
    assert other_peer.heard_from(world.host_identity, frames=10)
    services.user_suspend(user_id=world.host.pk, staff=None, reason="scam")
    assert other_peer.disconnected.wait(10)
    assert world.host_peer.disconnected.wait(10)
    assert world.room not in livekit_client.rooms_list(prefix=world.room)
    assert Space.objects.get(pk=world.space_id).state == SpaceState.ENDED
