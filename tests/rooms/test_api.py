"""Every rooms endpoint: the happy path, a refused caller, bad input (clear 4xx, nothing changed)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import ModerationAction, SpaceBan
from rooms import services
from rooms.models import HandRaise, HandState, Invitation, Participant, Role, Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tests.support.builders import participant

pytestmark = pytest.mark.django_db


def url(space, tail=""):
    return f"/api/v1/spaces/{space.pk}{tail}"


def err(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "detail", "extra"}


# --- create, detail, edit --------------------------------------------------------------------------


def test_create_live_and_scheduled(make_client, host):
    api = make_client(host)
    r = api.post("/api/v1/spaces", {"title": "Now", "topics": ["tech"]}, format="json")
    assert r.status_code == 201
    assert (r.json()["state"], r.json()["my_role"], r.json()["host"]["username"]) == ("live", "host", host.username)
    start = (timezone.now() + timedelta(days=2)).isoformat()
    r = make_client(HostFactory()).post("/api/v1/spaces", {"title": "Later", "scheduled_start": start}, format="json")
    assert (r.status_code, r.json()["state"]) == (201, "scheduled")


def test_create_refused_for_non_eligible(make_client):
    r = make_client(UserFactory(follower_count=3)).post("/api/v1/spaces", {"title": "x"}, format="json")
    err(r, 403, "not_eligible")
    assert r.json()["extra"] == {"followers": 3, "threshold": 600}
    assert not Space.objects.exists()


def test_create_refused_anonymous(api_client):
    err(api_client.post("/api/v1/spaces", {"title": "x"}, format="json"), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 71}, "title"),
        ({"title": "ok", "topics": ["a", "b", "c", "d"]}, "topics"),
        ({"title": "ok", "topics": "notalist"}, "topics"),
        ({"title": "ok", "scheduled_start": "tomorrow"}, "scheduled_start"),
        ({"title": "ok", "listener_cap": -1}, "listener_cap"),
        ({"title": ["x"]}, "title"),
    ],
)
def test_create_bad_input(make_client, host, body, field):
    r = make_client(host).post("/api/v1/spaces", body, format="json")
    err(r, 400, "invalid_input")
    assert field in r.json()["extra"]["fields"]
    assert not Space.objects.exists()


def test_create_schedule_too_far(make_client, host):
    start = (timezone.now() + timedelta(days=15)).isoformat()
    err(
        make_client(host).post("/api/v1/spaces", {"title": "x", "scheduled_start": start}, format="json"),
        400,
        "invalid_schedule",
    )
    assert not Space.objects.exists()


def test_create_second_live(make_client, host, live_space):
    err(make_client(host).post("/api/v1/spaces", {"title": "x"}, format="json"), 409, "host_already_live")


def test_detail_and_not_found(make_client, live_space):
    api = make_client(UserFactory())
    r = api.get(url(live_space))
    assert (r.status_code, r.json()["id"], r.json()["my_role"]) == (200, live_space.pk, None)
    err(api.get("/api/v1/spaces/999999"), 404, "space_not_found")


def test_patch_reschedule(make_client, host):
    space = services.space_create(host=host, title="s", scheduled_start=timezone.now() + timedelta(hours=1))
    new = timezone.now() + timedelta(days=5)
    r = make_client(host).patch(url(space), {"scheduled_start": new.isoformat(), "title": "t"}, format="json")
    assert r.status_code == 200 and r.json()["title"] == "t"
    err(make_client(UserFactory()).patch(url(space), {"title": "mine"}, format="json"), 403, "not_host")
    err(make_client(host).patch(url(space), {"title": ""}, format="json"), 400, "invalid_input")
    err(make_client(host).patch(url(space), {"listener_cap": "many"}, format="json"), 400, "invalid_input")
    assert Space.objects.get(pk=space.pk).title == "t"


# --- lifecycle -------------------------------------------------------------------------------------


def test_start_end_cancel(make_client, host):
    scheduled = services.space_create(host=host, title="s", scheduled_start=timezone.now() + timedelta(hours=1))
    other = make_client(UserFactory())
    err(other.post(url(scheduled, "/start")), 403, "not_host")
    assert make_client(host).post(url(scheduled, "/start")).json()["state"] == "live"
    err(make_client(host).post(url(scheduled, "/start")), 409, "space_not_scheduled")
    err(make_client(host).post(url(scheduled, "/cancel")), 409, "space_not_scheduled")
    err(other.post(url(scheduled, "/end")), 403, "not_host")
    err(make_client(host).post(url(scheduled, "/end"), {"reason": "x" * 501}, format="json"), 400, "invalid_input")
    assert Space.objects.get(pk=scheduled.pk).state == SpaceState.LIVE
    assert make_client(host).post(url(scheduled, "/end"), {"reason": "bye"}, format="json").json()["state"] == "ended"
    err(make_client(host).post(url(scheduled, "/end")), 409, "space_not_live")
    later = services.space_create(host=host, title="c", scheduled_start=timezone.now() + timedelta(hours=1))
    err(other.post(url(later, "/cancel")), 403, "not_host")
    assert make_client(host).post(url(later, "/cancel")).json()["state"] == "canceled"


def test_lifecycle_on_missing_space(make_client, host):
    for tail in ("/start", "/end", "/cancel", "/join", "/leave", "/hand", "/mute-all", "/leave-stage"):
        err(make_client(host).post(f"/api/v1/spaces/424242{tail}"), 404, "space_not_found")


# --- join, leave, participants ---------------------------------------------------------------------


def test_join_returns_credentials(make_client, live_space, settings):
    r = make_client(UserFactory()).post(url(live_space, "/join"))
    assert r.status_code == 200
    body = r.json()
    assert body["role"] == "listener" and body["token"] and body["livekit_url"] == settings.LIVEKIT_URL
    assert body["ws_url"].endswith(f"/ws/spaces/{live_space.pk}/")
    assert set(body) >= {"livekit_url", "token", "room", "identity", "role", "ws_url", "expires_in"}


def test_join_refusals(make_client, host, live_space):
    user = UserFactory()
    SpaceBan.objects.create(space=live_space, user=user)
    err(make_client(user).post(url(live_space, "/join")), 403, "banned")
    scheduled = services.space_create(
        host=HostFactory(), title="s", scheduled_start=timezone.now() + timedelta(hours=1)
    )
    err(make_client(UserFactory()).post(url(scheduled, "/join")), 409, "space_not_live")
    Space.objects.filter(pk=live_space.pk).update(listener_cap=1)
    make_client(UserFactory()).post(url(live_space, "/join"))
    late = UserFactory()
    err(make_client(late).post(url(live_space, "/join")), 409, "space_full")
    assert not Participant.objects.filter(user=late).exists()


def test_leave(make_client, live_space, joined):
    user = joined()
    assert make_client(user).post(url(live_space, "/leave")).status_code == 204
    assert not participant(live_space, user).is_connected


def test_participants_lists_stage_and_listeners(make_client, host, live_space, joined):
    services.space_join(space_id=live_space.pk, user=host)
    speaker = joined(Role.SPEAKER)
    listeners = [joined() for _ in range(3)]
    r = make_client(UserFactory()).get(url(live_space, "/participants"), {"page_size": 2})
    body = r.json()
    assert [p["user"]["username"] for p in body["stage"]] == [host.username, speaker.username]
    assert body["listener_count"] == 3
    assert len(body["listeners"]["results"]) == 2 and body["listeners"]["next"]
    page2 = make_client(UserFactory()).get(body["listeners"]["next"]).json()
    seen = {p["user"]["username"] for p in body["listeners"]["results"] + page2["listeners"]["results"]}
    assert seen == {u.username for u in listeners}


# --- hands -----------------------------------------------------------------------------------------


def test_hand_flow(make_client, host, live_space, joined):
    a, b = joined(), joined()
    assert make_client(a).post(url(live_space, "/hand")).status_code == 201
    assert make_client(b).post(url(live_space, "/hand")).status_code == 201
    queue = make_client(host).get(url(live_space, "/hands")).json()["results"]
    assert [(q["position"], q["user"]["username"]) for q in queue] == [(1, a.username), (2, b.username)]
    assert all(q["wait_s"] >= 0 for q in queue)
    r = make_client(host).post(url(live_space, f"/hands/{a.username}/approve"))
    assert (r.status_code, r.json()["role"]) == (200, "speaker")
    assert make_client(host).post(url(live_space, f"/hands/{b.username}/decline")).status_code == 204
    assert HandRaise.objects.get(user=b).state == HandState.DECLINED


def test_hand_lower(make_client, live_space, joined):
    user = joined()
    make_client(user).post(url(live_space, "/hand"))
    assert make_client(user).delete(url(live_space, "/hand")).status_code == 204
    err(make_client(user).delete(url(live_space, "/hand")), 409, "hand_not_raised")


def test_hand_refusals(make_client, live_space, joined):
    listener, asker = joined(), joined()
    make_client(asker).post(url(live_space, "/hand"))
    err(make_client(listener).get(url(live_space, "/hands")), 403, "not_host_team")
    err(make_client(listener).post(url(live_space, f"/hands/{asker.username}/approve")), 403, "not_host_team")
    err(make_client(listener).post(url(live_space, f"/hands/{asker.username}/decline")), 403, "not_host_team")
    err(make_client(UserFactory()).post(url(live_space, "/hand")), 409, "not_in_space")
    assert HandRaise.objects.get(user=asker).state == HandState.RAISED


def test_hand_bad_input(make_client, host, live_space, joined):
    listener = joined()
    err(make_client(host).post(url(live_space, "/hands/nobody-at-all/approve")), 404, "user_not_found")
    err(make_client(host).post(url(live_space, f"/hands/{listener.username}/approve")), 409, "hand_not_raised")
    assert participant(live_space, listener).role == Role.LISTENER


# --- invitations -----------------------------------------------------------------------------------


def test_invitation_flow(make_client, host, live_space, joined):
    user = joined()
    r = make_client(host).post(url(live_space, "/invitations"), {"username": user.username}, format="json")
    assert (r.status_code, r.json()["role"], r.json()["state"]) == (201, "speaker", "pending")
    iid = r.json()["id"]
    err(make_client(UserFactory()).post(url(live_space, f"/invitations/{iid}/accept")), 404, "invitation_not_found")
    r = make_client(user).post(url(live_space, f"/invitations/{iid}/accept"))
    assert (r.status_code, r.json()["role"]) == (200, "speaker")
    err(make_client(user).post(url(live_space, f"/invitations/{iid}/decline")), 409, "invitation_not_pending")


def test_invitation_decline(make_client, host, live_space, joined):
    user = joined()
    iid = (
        make_client(host).post(url(live_space, "/invitations"), {"username": user.username}, format="json").json()["id"]
    )
    r = make_client(user).post(url(live_space, f"/invitations/{iid}/decline"))
    assert (r.status_code, r.json()["state"]) == (200, "declined")


def test_invitation_refusals_and_bad_input(make_client, live_space, joined):
    cohost, speaker, listener = joined(Role.COHOST), joined(Role.SPEAKER), joined()
    body = {"username": listener.username}
    err(make_client(speaker).post(url(live_space, "/invitations"), body, format="json"), 403, "not_host_team")
    err(
        make_client(cohost).post(url(live_space, "/invitations"), body | {"role": "cohost"}, format="json"),
        403,
        "not_host",
    )
    err(
        make_client(cohost).post(url(live_space, "/invitations"), body | {"role": "host"}, format="json"),
        400,
        "invalid_input",
    )
    err(make_client(cohost).post(url(live_space, "/invitations"), {}, format="json"), 400, "invalid_input")
    err(
        make_client(cohost).post(url(live_space, "/invitations"), {"username": "ghost-user"}, format="json"),
        404,
        "user_not_found",
    )
    err(make_client(listener).post(url(live_space, "/invitations/99999/accept")), 404, "invitation_not_found")
    assert not Invitation.objects.exists()


# --- host tools ------------------------------------------------------------------------------------


def test_mute_and_mute_all(make_client, host, live_space, joined):
    a, b = joined(Role.SPEAKER), joined(Role.SPEAKER)
    r = make_client(host).post(url(live_space, f"/participants/{a.username}/mute"), {"reason": "echo"}, format="json")
    assert (r.status_code, r.json()["is_muted"]) == (200, True)
    r = make_client(host).post(url(live_space, "/mute-all"))
    assert sorted(r.json()["muted_user_ids"]) == sorted([a.pk, b.pk])
    err(make_client(a).post(url(live_space, "/mute-all")), 403, "not_host_team")
    err(make_client(a).post(url(live_space, f"/participants/{b.username}/mute")), 403, "not_host_team")
    err(
        make_client(host).post(url(live_space, f"/participants/{a.username}/mute"), {"reason": ["x"]}, format="json"),
        400,
        "invalid_input",
    )


def test_move_to_listeners(make_client, host, live_space, joined):
    speaker, cohost = joined(Role.SPEAKER), joined(Role.COHOST)
    err(
        make_client(cohost).post(url(live_space, f"/participants/{host.username}/move-to-listeners")),
        403,
        "cannot_moderate_host",
    )
    r = make_client(cohost).post(url(live_space, f"/participants/{speaker.username}/move-to-listeners"))
    assert (r.status_code, r.json()["role"]) == (200, "listener")
    err(
        make_client(host).post(url(live_space, f"/participants/{speaker.username}/move-to-listeners")),
        409,
        "not_on_stage",
    )


def test_remove(make_client, host, live_space, joined):
    user, cohost, other_cohost = joined(), joined(Role.COHOST), joined(Role.COHOST)
    err(
        make_client(cohost).post(url(live_space, f"/participants/{other_cohost.username}/remove")),
        403,
        "cannot_moderate_cohost",
    )
    err(
        make_client(host).post(
            url(live_space, f"/participants/{user.username}/remove"), {"ban": "forever"}, format="json"
        ),
        400,
        "invalid_input",
    )
    assert participant(live_space, user).is_connected
    r = make_client(cohost).post(
        url(live_space, f"/participants/{user.username}/remove"), {"ban": "host"}, format="json"
    )
    assert r.status_code == 204
    err(make_client(user).post(url(live_space, "/join")), 403, "banned")
    assert [a.action for a in ModerationAction.objects.order_by("pk")] == ["remove", "ban"]


def test_cohost_put_delete(make_client, host, live_space, joined):
    speaker, listener = joined(Role.SPEAKER), joined()
    r = make_client(host).put(url(live_space, f"/participants/{speaker.username}/cohost"))
    assert (r.status_code, r.json()["role"]) == (200, "cohost")
    r = make_client(host).put(url(live_space, f"/participants/{listener.username}/cohost"))
    assert (r.status_code, r.json()["role"], r.json()["state"]) == (202, "cohost", "pending")
    err(make_client(speaker).put(url(live_space, f"/participants/{listener.username}/cohost")), 403, "not_host")
    r = make_client(host).delete(url(live_space, f"/participants/{speaker.username}/cohost"))
    assert (r.status_code, r.json()["role"]) == (200, "speaker")
    err(make_client(host).delete(url(live_space, f"/participants/{speaker.username}/cohost")), 409, "not_cohost")
    err(make_client(host).put(url(live_space, "/participants/no-such-user/cohost")), 404, "user_not_found")


def test_leave_stage(make_client, host, live_space, joined):
    speaker = joined(Role.SPEAKER)
    r = make_client(speaker).post(url(live_space, "/leave-stage"))
    assert (r.status_code, r.json()["role"]) == (200, "listener")
    err(make_client(speaker).post(url(live_space, "/leave-stage")), 409, "not_on_stage")
    err(make_client(host).post(url(live_space, "/leave-stage")), 409, "host_cannot_leave_stage")


def test_host_tools_on_ended_space(make_client, host, live_space, joined):
    speaker = joined(Role.SPEAKER)
    services.space_end(space_id=live_space.pk, actor=host)
    err(make_client(host).post(url(live_space, f"/participants/{speaker.username}/mute")), 409, "space_not_live")
    err(make_client(host).post(url(live_space, "/mute-all")), 409, "space_not_live")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/spaces/99999999999999999999999",
        "/api/v1/spaces/99999999999999999999999/participants",
        "/api/v1/spaces/99999999999999999999999/hands",
    ],
)
def test_out_of_range_ids_are_404(make_client, path):
    err(make_client(UserFactory()).get(path), 404, "space_not_found")


def test_out_of_range_invitation_id(make_client, live_space, joined):
    user = joined()
    err(
        make_client(user).post(url(live_space, "/invitations/99999999999999999999999/accept")),
        404,
        "invitation_not_found",
    )
