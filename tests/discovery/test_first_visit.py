"""A first visit that is not empty: someone who follows nobody is shown the most listened-to live
Spaces, the soonest upcoming ones and hosts worth following, with the feeds' hiding rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Block, Follow
from moderation.models import SpaceBan
from rooms.models import Space, SpaceState
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_new_user_sees_popular_live_spaces_upcoming_ones_and_hosts(make_client):
    me = UserFactory()
    big, small, blocker, followed = (HostFactory(follower_count=n) for n in (5000, 700, 9000, 8000))
    quiet = Space.objects.create(host=small, title="Quiet", state=SpaceState.LIVE, listener_count=3)
    busy = Space.objects.create(host=big, title="Busy", state=SpaceState.LIVE, listener_count=250)
    Space.objects.create(host=blocker, title="Hidden", state=SpaceState.LIVE, listener_count=999)
    banned = Space.objects.create(host=HostFactory(), title="Banned", state=SpaceState.LIVE, listener_count=500)
    Space.objects.create(host=small, title="Over", state=SpaceState.ENDED, listener_count=10000)
    later = Space.objects.create(
        host=small, title="Later", state=SpaceState.SCHEDULED, scheduled_start=timezone.now() + timedelta(days=2)
    )
    sooner = Space.objects.create(
        host=big, title="Sooner", state=SpaceState.SCHEDULED, scheduled_start=timezone.now() + timedelta(hours=2)
    )
    Space.objects.create(host=followed, title="Followed's", state=SpaceState.ENDED)
    Block.objects.create(blocker=blocker, blocked=me)
    SpaceBan.objects.create(space=banned, user=me)
    Follow.objects.create(follower=me, followee=followed)
    UserFactory(follower_count=100000)  # never hosted: not suggested as a host

    response = make_client(me).get("/api/v1/discover")

    assert response.status_code == 200
    body = response.json()
    assert [s["id"] for s in body["live"]] == [busy.pk, quiet.pk]
    assert [s["id"] for s in body["upcoming"]] == [sooner.pk, later.pk]
    hosts = [h["username"] for h in body["hosts"]]
    assert hosts[:2] == [big.username, small.username]
    assert blocker.username not in hosts and followed.username not in hosts and me.username not in hosts
    assert body["hosts"][0]["follower_count"] == 5000


def test_discover_needs_a_login(api_client):
    assert api_client.get("/api/v1/discover").status_code in (401, 403)
