"""Trust & safety API: reports, notices, ban lists and the moderation log, through the HTTP interface."""

from __future__ import annotations

import pytest

from moderation import services
from moderation.models import HostBan, ModerationAction, Notice, Report, SpaceBan
from rooms.models import Participant
from tests.support.builders import Cast

pytestmark = pytest.mark.django_db


# --- reports ---------------------------------------------------------------------------------------


def test_report_a_user(cast: Cast, make_client):
    response = make_client(cast.listener).post(
        "/api/v1/reports", {"username": cast.speaker.username.upper(), "category": "harassment", "text": "slurs"}
    )
    assert response.status_code == 201, response.data
    assert response.data["target_user"]["username"] == cast.speaker.username
    assert (response.data["status"], response.data["outcome"]) == ("open", "")
    report = Report.objects.get()
    assert (report.reporter, report.target_user, report.text) == (cast.listener, cast.speaker, "slurs")


def test_report_a_space(cast: Cast, make_client):
    response = make_client(cast.outsider).post("/api/v1/reports", {"space_id": cast.space.pk, "category": "spam"})
    assert response.status_code == 201
    assert response.data["target_space_id"] == cast.space.pk


def test_second_open_report_is_a_conflict(cast: Cast, make_client):
    client = make_client(cast.listener)
    first = client.post("/api/v1/reports", {"username": cast.speaker.username, "category": "spam"})
    second = client.post("/api/v1/reports", {"username": cast.speaker.username, "category": "hate"})
    assert second.status_code == 409
    assert second.data == {
        "code": "report_already_open",
        "detail": second.data["detail"],
        "extra": {"report_id": first.data["id"]},
    }
    assert Report.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"category": "spam"}, 400, "invalid_input"),
        ({"username": "x", "space_id": 1, "category": "spam"}, 400, "invalid_input"),
        ({"username": "nobody-here", "category": "spam"}, 404, "user_not_found"),
        ({"space_id": 999999, "category": "spam"}, 404, "space_not_found"),
        ({"space_id": "abc", "category": "spam"}, 400, "invalid_input"),
        ({"space_id": -3, "category": "spam"}, 400, "invalid_input"),
        ({"username": "SELF", "category": "spam"}, 400, "cannot_report_self"),
        ({"username": "SPEAKER", "category": "not-a-category"}, 400, "invalid_input"),
        ({"username": "SPEAKER", "category": "spam", "text": "x" * 1001}, 400, "invalid_input"),
        ({"username": ["a"], "category": {"k": 1}}, 400, "invalid_input"),
    ],
)
def test_bad_reports_are_refused_and_change_nothing(cast: Cast, make_client, body, status, code):
    body = {
        k: (cast.listener.username if v == "SELF" else cast.speaker.username if v == "SPEAKER" else v)
        for k, v in body.items()
    }
    response = make_client(cast.listener).post("/api/v1/reports", body, format="json")
    assert (response.status_code, response.data["code"]) == (status, code)
    assert not Report.objects.exists()


def test_anonymous_cannot_report(cast: Cast, api_client):
    response = api_client.post("/api/v1/reports", {"username": cast.speaker.username, "category": "spam"})
    assert (response.status_code, response.data["code"]) == (401, "not_authenticated")
    assert not Report.objects.exists()


def test_suspended_user_cannot_report(cast: Cast, make_client):
    response = make_client(cast.suspended).post("/api/v1/reports", {"username": cast.host.username, "category": "spam"})
    assert response.data["code"] == "account_suspended"
    assert response.status_code in (401, 403)
    assert not Report.objects.exists()


def test_reporter_sees_the_outcome(cast: Cast, make_client):
    client = make_client(cast.listener)
    report_id = client.post("/api/v1/reports", {"username": cast.speaker.username, "category": "spam"}).data["id"]
    services.report_resolve(report_id=report_id, staff=cast.staff, decision=services.ReportDecision("warn"))
    mine = client.get("/api/v1/me/reports").data["results"]
    assert [(r["id"], r["status"], r["outcome"]) for r in mine] == [(report_id, "actioned", "warned")]
    notices = client.get("/api/v1/me/notices").data["results"]
    assert [(n["kind"], n["report_id"]) for n in notices] == [("report_outcome", report_id)]
    # the warned user sees the warning, not who reported them
    warned = make_client(cast.speaker).get("/api/v1/me/notices").data["results"]
    assert [(n["kind"], n["report_id"]) for n in warned] == [("warning", None)]
    # nobody sees another user's reports
    assert make_client(cast.speaker).get("/api/v1/me/reports").data["results"] == []


# --- moderation log --------------------------------------------------------------------------------


def test_moderation_log_for_the_host_team_newest_first_and_paginated(cast: Cast, make_client):
    for target in (cast.listener, cast.speaker, cast.outsider):
        services.space_ban_create(space_id=cast.space.pk, actor=cast.cohost, target=target, reason="r")
    client = make_client(cast.host)
    url: str | None = f"/api/v1/spaces/{cast.space.pk}/moderation-log?page_size=2"
    rows: list[dict] = []
    pages = 0
    while url:
        page = client.get(url).data
        assert len(page["results"]) <= 2
        rows += page["results"]
        url, pages = page["next"], pages + 1
    assert pages == 3
    assert sorted(r["id"] for r in rows) == sorted(ModerationAction.objects.values_list("pk", flat=True))
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    assert {r["action"] for r in rows} == {"remove", "ban"}
    first = rows[-1]
    assert first["actor"]["username"] == cast.cohost.username and first["actor_role"] == "cohost"
    assert make_client(cast.cohost2).get(f"/api/v1/spaces/{cast.space.pk}/moderation-log").status_code == 200


@pytest.mark.parametrize("who", ["listener", "speaker", "outsider", "staff"])
def test_moderation_log_is_refused_outside_the_host_team(cast: Cast, make_client, who):
    response = make_client(getattr(cast, who)).get(f"/api/v1/spaces/{cast.space.pk}/moderation-log")
    assert (response.status_code, response.data["code"]) == (403, "not_host_team")


def test_moderation_log_of_a_missing_space(cast: Cast, make_client):
    response = make_client(cast.host).get("/api/v1/spaces/999999/moderation-log")
    assert (response.status_code, response.data["code"]) == (404, "space_not_found")


def test_moderation_log_bad_cursor(cast: Cast, make_client):
    response = make_client(cast.host).get(f"/api/v1/spaces/{cast.space.pk}/moderation-log?cursor=garbage")
    assert response.status_code == 404
    assert response.data["code"] == "not_found"


# --- ban lists -------------------------------------------------------------------------------------


def test_list_space_and_host_bans(cast: Cast, make_client):
    HostBan.objects.create(host=cast.host, user=cast.outsider, banned_by=cast.host, reason="spam")
    client = make_client(cast.cohost)
    space_bans = client.get(f"/api/v1/spaces/{cast.space.pk}/bans").data["results"]
    assert [(b["user"]["username"], b["scope"], b["reason"]) for b in space_bans] == [
        (cast.banned.username, "space", "spam")
    ]
    host_bans = client.get(f"/api/v1/spaces/{cast.space.pk}/bans?scope=host").data["results"]
    assert [(b["user"]["username"], b["scope"]) for b in host_bans] == [(cast.outsider.username, "host")]


def test_ban_from_the_api_ejects_and_lift_lets_back(cast: Cast, make_client):
    client = make_client(cast.host)
    response = client.post(f"/api/v1/spaces/{cast.space.pk}/bans", {"username": cast.listener.username, "reason": "x"})
    assert response.status_code == 201 and response.data["scope"] == "space"
    assert not Participant.objects.get(space=cast.space, user=cast.listener).is_connected
    again = client.post(f"/api/v1/spaces/{cast.space.pk}/bans", {"username": cast.listener.username})
    assert again.status_code == 200
    lifted = client.delete(f"/api/v1/spaces/{cast.space.pk}/bans/{cast.listener.username}")
    assert lifted.status_code == 204
    assert not SpaceBan.objects.filter(user=cast.listener).exists()
    missing = client.delete(f"/api/v1/spaces/{cast.space.pk}/bans/{cast.listener.username}")
    assert (missing.status_code, missing.data["code"]) == (404, "ban_not_found")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("post", "bans", {"username": "LISTENER", "scope": "galaxy"}, 400, "invalid_input"),
        ("post", "bans", {}, 400, "invalid_input"),
        ("post", "bans", {"username": "nobody-here"}, 404, "user_not_found"),
        ("post", "bans", {"username": "LISTENER", "reason": "x" * 201}, 400, "invalid_input"),
        ("post", "bans", {"username": "HOST"}, 403, "cannot_moderate_host"),
        ("get", "bans?scope=galaxy", None, 400, "invalid_input"),
        ("delete", "bans/LISTENER?scope=galaxy", None, 400, "invalid_input"),
        ("delete", "bans/nobody-here", None, 404, "user_not_found"),
    ],
)
def test_bad_ban_requests_change_nothing(cast: Cast, make_client, method, path, body, status, code):
    path = path.replace("LISTENER", cast.listener.username)
    if body:
        body = {
            k: cast.listener.username if v == "LISTENER" else cast.host.username if v == "HOST" else v
            for k, v in body.items()
        }
    before = (SpaceBan.objects.count(), HostBan.objects.count(), ModerationAction.objects.count())
    response = getattr(make_client(cast.cohost), method)(f"/api/v1/spaces/{cast.space.pk}/{path}", body, format="json")
    assert (response.status_code, response.data["code"]) == (status, code)
    assert (SpaceBan.objects.count(), HostBan.objects.count(), ModerationAction.objects.count()) == before
    assert Participant.objects.get(space=cast.space, user=cast.listener).is_connected


def test_bans_of_a_missing_space(cast: Cast, make_client):
    response = make_client(cast.host).post("/api/v1/spaces/999999/bans", {"username": cast.listener.username})
    assert (response.status_code, response.data["code"]) == (404, "space_not_found")


def test_my_ban_list(cast: Cast, make_client):
    client = make_client(cast.host)
    created = client.post("/api/v1/me/bans", {"username": cast.outsider.username, "reason": "troll"})
    assert created.status_code == 201 and created.data["scope"] == "host"
    assert [b["user"]["username"] for b in client.get("/api/v1/me/bans").data["results"]] == [cast.outsider.username]
    assert make_client(cast.listener).get("/api/v1/me/bans").data["results"] == []  # everyone sees only their own
    self_ban = client.post("/api/v1/me/bans", {"username": cast.host.username})
    assert (self_ban.status_code, self_ban.data["code"]) == (400, "cannot_target_self")
    assert client.delete(f"/api/v1/me/bans/{cast.outsider.username}").status_code == 204
    assert client.delete(f"/api/v1/me/bans/{cast.outsider.username}").data["code"] == "ban_not_found"
    assert not HostBan.objects.exists()


def test_my_ban_list_needs_login(api_client):
    assert api_client.get("/api/v1/me/bans").status_code == 401
    assert api_client.post("/api/v1/me/bans", {"username": "x"}).status_code == 401


def test_notices_need_login(api_client):
    assert api_client.get("/api/v1/me/notices").status_code == 401
    assert api_client.get("/api/v1/me/reports").status_code == 401
    assert not Notice.objects.exists()
