"""The host's summary of a Space: duration, peak and total listeners, listening minutes, speakers,
reactions, replays played, new followers (API and web page)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Follow
from rooms import services
from rooms.discovery.services import room_extras as discovery
from rooms.models import Participant, Recording, Role, Space
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_summary_after_the_space(live_space, host, joined, make_client, client):
    speaker = joined(role=Role.SPEAKER)  # (the fixture joins them as listeners first: done before the others)
    cohost = joined(role=Role.COHOST)
    a, b, c = joined(), joined(), joined()
    services.space_leave(space_id=live_space.pk, user=c)
    assert Space.objects.get(pk=live_space.pk).listener_count == 2
    for user in (a, b):
        discovery.reaction_send(space_id=live_space.pk, user=user, emoji="🔥")
    Follow.objects.create(follower=a, followee=host)
    Follow.objects.create(follower=UserFactory(), followee=host, created_at=timezone.now())
    Follow.objects.filter(follower=a).update(created_at=timezone.now())
    # a stay of exactly 10 minutes for one listener (the others stay until the end)
    start = timezone.now() - timedelta(minutes=10)
    Space.objects.filter(pk=live_space.pk).update(started_at=start - timedelta(seconds=1))
    Participant.objects.filter(space=live_space, user=c).update(joined_at=start, left_at=start + timedelta(minutes=10))
    Recording.objects.create(space=live_space, started_at=start, state="ready", play_count=4)
    services.space_end(space_id=live_space.pk, actor=host)
    Follow.objects.create(follower=b, followee=host)  # after the end: not counted
    response = make_client(host).get(f"/api/v1/spaces/{live_space.pk}/summary")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert 600 <= body["duration_s"] <= 610
    assert body["peak_listeners"] == 3 and body["total_listeners"] == 5
    assert body["listening_minutes"] >= 10
    assert {s["username"] for s in body["speakers"]} == {host.username, speaker.username, cohost.username}
    assert (body["reactions"], body["replays_played"], body["new_followers"], body["clips"]) == (2, 4, 2, 0)
    # host-team power of a co-host ends with the Space (docs/security.md, "Host-team power and Space state")
    former = make_client(cohost).get(f"/api/v1/spaces/{live_space.pk}/summary")
    assert (former.status_code, former.json()["code"]) == (403, "not_host_team")
    client.force_login(host)
    page = client.get(f"/spaces/{live_space.pk}/summary").content.decode()
    assert '<dd id="peak">3</dd>' in page and '<dd id="replays">4</dd>' in page


def test_summary_refusals(live_space, host, joined, make_client):
    url = f"/api/v1/spaces/{live_space.pk}/summary"
    assert make_client().get(url).status_code == 401
    listener = joined()
    refused = make_client(listener).get(url)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_host_team")
    missing = make_client(host).get("/api/v1/spaces/999999/summary")
    assert (missing.status_code, missing.json()["code"]) == (404, "space_not_found")
    later = services.space_create(host=UserFactory(follower_count=10_000), title="Later",
                                  scheduled_start=timezone.now() + timedelta(days=1))  # fmt: skip
    never = make_client(later.host).get(f"/api/v1/spaces/{later.pk}/summary")
    assert (never.status_code, never.json()["code"]) == (409, "space_not_live")
