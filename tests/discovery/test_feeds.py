"""Live now, upcoming and browse: who sees which Space, in which order, at what query cost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import User
from moderation.models import HostBan, SpaceBan
from rooms import services
from rooms.discovery.selectors import feeds
from rooms.models import Reminder, Role, Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tests.support.builders import follow, put_on, scheduled_space
from tests.support.builders import started_space as live_space

pytestmark = pytest.mark.django_db


def live_ids(client: Any) -> list[int]:
    response = client.get("/api/v1/spaces/live")
    assert response.status_code == 200
    return [item["id"] for item in response.json()["results"]]


# --- live now ---------------------------------------------------------------------------------------


def test_live_now_shows_a_followed_host_with_the_followed_people_named(viewer, make_client):
    host = HostFactory(display_name="Ada L")
    space = live_space(host, title="Compilers")
    Space.objects.filter(pk=space.pk).update(listener_count=42)
    follow(viewer, host)

    response = make_client(viewer).get("/api/v1/spaces/live")

    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == space.pk
    assert item["title"] == "Compilers"
    assert item["listener_count"] == 42
    assert item["host"]["username"] == host.username
    assert item["followed_count"] == 1
    assert item["followed_on_stage"] == [
        {"id": host.pk, "username": host.username, "display_name": "Ada L", "avatar_url": "", "role": "host"}
    ]


def test_live_now_shows_a_space_where_a_followed_person_speaks_or_cohosts(viewer, make_client):
    speaker, cohost = UserFactory(), UserFactory()
    a, b = live_space(), live_space()
    put_on(a, speaker, Role.SPEAKER)
    put_on(b, cohost, Role.COHOST)
    follow(viewer, speaker, cohost)

    assert sorted(live_ids(make_client(viewer))) == sorted([a.pk, b.pk])


def test_live_now_ignores_followed_people_who_only_listen(viewer, make_client):
    listener = UserFactory()
    put_on(live_space(), listener, Role.LISTENER)
    follow(viewer, listener)

    assert live_ids(make_client(viewer)) == []


def test_live_now_ignores_stage_people_the_user_does_not_follow(viewer, make_client):
    put_on(live_space(), UserFactory(), Role.SPEAKER)

    assert live_ids(make_client(viewer)) == []


def test_live_now_ignores_scheduled_and_ended_spaces(viewer, make_client):
    host_a, host_b = HostFactory(), HostFactory()
    scheduled_space(host_a)
    ended = live_space(host_b)
    services.space_end(space_id=ended.pk, actor=host_b)
    follow(viewer, host_a, host_b)

    assert live_ids(make_client(viewer)) == []


def test_live_now_ranks_by_followed_people_on_stage_then_listeners(viewer, make_client):
    people = [UserFactory() for _ in range(3)]
    one_big, two, one_small = live_space(), live_space(), live_space()
    put_on(one_big, people[0], Role.SPEAKER)
    put_on(two, people[1], Role.SPEAKER)
    put_on(two, people[2], Role.COHOST)
    extra = UserFactory()
    put_on(one_small, extra, Role.SPEAKER)
    Space.objects.filter(pk=one_big.pk).update(listener_count=500)
    Space.objects.filter(pk=two.pk).update(listener_count=3)
    Space.objects.filter(pk=one_small.pk).update(listener_count=10)
    follow(viewer, *people, extra)

    response = make_client(viewer).get("/api/v1/spaces/live")

    items = response.json()["results"]
    assert [i["id"] for i in items] == [two.pk, one_big.pk, one_small.pk]
    assert [p["role"] for p in items[0]["followed_on_stage"]] == ["cohost", "speaker"]


def test_live_now_hides_a_host_who_blocked_the_user(viewer, make_client):
    host = HostFactory()
    live_space(host)
    follow(viewer, host)
    speaker = UserFactory()
    space = live_space()
    put_on(space, speaker, Role.SPEAKER)
    follow(viewer, speaker)
    account_services.block_create(blocker=space.host, blocked=viewer)

    assert live_ids(make_client(viewer)) == [host.hosted_spaces.get().pk]


def test_live_now_hides_a_host_the_user_blocked(viewer, make_client):
    speaker = UserFactory()
    space = live_space()
    put_on(space, speaker, Role.SPEAKER)
    follow(viewer, speaker)
    account_services.block_create(blocker=viewer, blocked=space.host)

    assert live_ids(make_client(viewer)) == []


def test_live_now_hides_a_space_the_user_is_banned_from(viewer, make_client):
    speaker = UserFactory()
    space = live_space()
    put_on(space, speaker, Role.SPEAKER)
    follow(viewer, speaker)
    SpaceBan.objects.create(space=space, user=viewer)

    assert live_ids(make_client(viewer)) == []


def test_live_now_hides_every_space_of_a_host_who_banned_the_user(viewer, make_client):
    speaker = UserFactory()
    space = live_space()
    put_on(space, speaker, Role.SPEAKER)
    follow(viewer, speaker)
    HostBan.objects.create(host=space.host, user=viewer)

    assert live_ids(make_client(viewer)) == []


def test_live_now_bans_and_blocks_of_other_users_do_not_hide_it(viewer, make_client):
    host = HostFactory()
    space = live_space(host)
    follow(viewer, host)
    someone = UserFactory()
    SpaceBan.objects.create(space=space, user=someone)
    HostBan.objects.create(host=host, user=someone)
    account_services.block_create(blocker=host, blocked=someone)

    assert live_ids(make_client(viewer)) == [space.pk]


def _world(viewer: User, spaces: int) -> None:
    for _ in range(spaces):
        space = live_space()
        speakers = [UserFactory() for _ in range(2)]
        for s in speakers:
            put_on(space, s, Role.SPEAKER, connect=False)
        follow(viewer, space.host, *speakers)


@pytest.mark.parametrize("spaces", [2, 12])
def test_live_now_costs_four_queries_whatever_the_size(viewer, spaces, django_assert_num_queries):
    _world(viewer, spaces)

    with django_assert_num_queries(4):
        items = feeds.live_now_for(user=viewer)
        names = [m.username for item in items for m in item.followed_on_stage]

    assert len(items) == spaces
    assert len(names) == 3 * spaces


def test_live_now_endpoint_has_a_bounded_number_of_queries(viewer, make_client, django_assert_max_num_queries):
    _world(viewer, 12)
    client = make_client(viewer)

    with django_assert_max_num_queries(6):  # token + user, then the four feed queries
        response = client.get("/api/v1/spaces/live")

    assert len(response.json()["results"]) == 12


def test_live_now_requires_authentication(api_client):
    response = api_client.get("/api/v1/spaces/live")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- upcoming ---------------------------------------------------------------------------------------


def upcoming(client: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/spaces/upcoming")
    assert response.status_code == 200
    return list(response.json()["results"])


def test_upcoming_lists_scheduled_spaces_of_followed_hosts_soonest_first(viewer, make_client):
    a, b = HostFactory(), HostFactory()
    later = scheduled_space(a, hours=30, title="Later")
    sooner = scheduled_space(b, hours=3, title="Sooner")
    scheduled_space(HostFactory(), hours=1)  # not followed
    follow(viewer, a, b)

    items = upcoming(make_client(viewer))

    assert [i["id"] for i in items] == [sooner.pk, later.pk]
    assert items[0]["host"]["username"] == b.username
    assert items[0]["scheduled_start"]
    assert items[0]["reminded"] is False


def test_upcoming_includes_spaces_the_user_set_a_reminder_on(viewer, make_client):
    space = scheduled_space()
    Reminder.objects.create(space=space, user=viewer)

    items = upcoming(make_client(viewer))

    assert [(i["id"], i["reminded"]) for i in items] == [(space.pk, True)]


def test_upcoming_leaves_out_live_canceled_and_blocked(viewer, make_client):
    live_host, canceled_host, blocker = HostFactory(), HostFactory(), HostFactory()
    live_space(live_host)
    canceled = scheduled_space(canceled_host)
    services.space_cancel(space_id=canceled.pk, actor=canceled_host)
    scheduled_space(blocker)
    follow(viewer, live_host, canceled_host, blocker)
    account_services.block_create(blocker=blocker, blocked=viewer)

    assert upcoming(make_client(viewer)) == []


def test_upcoming_leaves_out_a_host_who_banned_the_user(viewer, make_client):
    host = HostFactory()
    scheduled_space(host)
    follow(viewer, host)
    HostBan.objects.create(host=host, user=viewer)

    assert upcoming(make_client(viewer)) == []


def test_upcoming_is_cursor_paginated(viewer, make_client):
    hosts = [HostFactory() for _ in range(3)]
    ids = [scheduled_space(h, hours=i + 1).pk for i, h in enumerate(hosts)]
    follow(viewer, *hosts)
    client = make_client(viewer)

    first = client.get("/api/v1/spaces/upcoming?page_size=2").json()
    second = client.get(first["next"]).json()

    assert [i["id"] for i in first["results"]] + [i["id"] for i in second["results"]] == ids
    assert second["next"] is None


# --- browse -----------------------------------------------------------------------------------------


def browse(client: Any, query: str = "") -> list[int]:
    response = client.get(f"/api/v1/spaces{query}")
    assert response.status_code == 200, response.json()
    return [i["id"] for i in response.json()["results"]]


def test_browse_lists_live_and_scheduled_spaces_newest_first(viewer, make_client):
    live = live_space()
    scheduled = scheduled_space()
    ended = live_space()
    services.space_end(space_id=ended.pk, actor=ended.host)

    assert browse(make_client(viewer)) == [scheduled.pk, live.pk]


def test_browse_filters_by_state(viewer, make_client):
    live = live_space()
    scheduled = scheduled_space()
    client = make_client(viewer)

    assert browse(client, "?state=live") == [live.pk]
    assert browse(client, "?state=scheduled") == [scheduled.pk]


def test_browse_searches_title_words_case_insensitively(viewer, make_client):
    match = live_space(title="Rust compilers at night")
    live_space(title="Cooking with Ada")
    scheduled = scheduled_space(title="compilers: the sequel")

    assert browse(make_client(viewer), "?q=COMPILERS") == [scheduled.pk, match.pk]
    assert browse(make_client(viewer), "?q=rust+night") == [match.pk]


def test_browse_filters_by_topic(viewer, make_client):
    tagged = live_space(topics=["Music", "jazz"])
    live_space(topics=["jazzercise"])
    scheduled_space(topics=["sports"])

    assert browse(make_client(viewer), "?topic=jazz") == [tagged.pk]
    assert browse(make_client(viewer), "?topic=music") == [tagged.pk]


def test_browse_hides_blocked_and_banned(viewer, make_client):
    blocker, blocked, banner = HostFactory(), HostFactory(), HostFactory()
    live_space(blocker)
    scheduled_space(blocked)
    live_space(banner)
    banned_from = live_space()
    visible = scheduled_space()
    account_services.block_create(blocker=blocker, blocked=viewer)
    account_services.block_create(blocker=viewer, blocked=blocked)
    HostBan.objects.create(host=banner, user=viewer)
    SpaceBan.objects.create(space=banned_from, user=viewer)

    assert browse(make_client(viewer)) == [visible.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?state=ended", "state"),
        ("?state=nonsense", "state"),
        ("?q=" + "x" * 101, "q"),
        ("?topic=" + "t" * 31, "topic"),
    ],
)
def test_browse_rejects_bad_filters(viewer, make_client, query, field):
    response = make_client(viewer).get(f"/api/v1/spaces{query}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert field in response.json()["extra"]["fields"]


def test_browse_requires_authentication(api_client):
    assert api_client.get("/api/v1/spaces").status_code == 401


def test_creating_a_space_still_works_on_the_same_path(make_client):
    host = HostFactory()

    response = make_client(host).post("/api/v1/spaces", {"title": "Made here"})

    assert response.status_code == 201
    assert Space.objects.get(pk=response.json()["id"]).state == SpaceState.LIVE


def test_upcoming_drops_a_space_long_past_its_start(viewer, make_client):
    host = HostFactory()
    space = scheduled_space(host)
    Space.objects.filter(pk=space.pk).update(scheduled_start=timezone.now() - timedelta(hours=3))
    follow(viewer, host)

    assert upcoming(make_client(viewer)) == []


def test_upcoming_requires_authentication(api_client):
    response = api_client.get("/api/v1/spaces/upcoming")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_upcoming_rejects_a_forged_cursor(viewer, make_client):
    response = make_client(viewer).get("/api/v1/spaces/upcoming?cursor=forged")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
