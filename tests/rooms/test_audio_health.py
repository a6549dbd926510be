"""Audio health reports: a participant's "Can't hear?" and the client's self-heals are counted where the
operator (staff) and the host team can read them; nobody else can write or read them."""

from __future__ import annotations

import pytest

from rooms.models import Role
from rooms.services import audio_health
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def counts(make_client, staff, space_id=None):
    query = f"?space={space_id}" if space_id else ""
    response = make_client(staff).get(f"/api/v1/ops/audio-health{query}")
    assert response.status_code == 200, response.content
    return response.json()["counts"]


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)


def test_a_listener_report_is_counted_for_the_operator_and_the_host(live_space, joined, host, make_client, staff):
    listener = joined(Role.LISTENER)
    api = make_client(listener)
    for kind in ("cant_hear", "cant_hear", "resubscribe", "rejoin"):
        response = api.post(f"/api/v1/spaces/{live_space.pk}/audio-reports", {"kind": kind}, format="json")
        assert response.status_code == 202, response.content
        assert response.json() == {"kind": kind, "counted": True}

    assert counts(make_client, staff) == {"cant_hear": 2, "resubscribe": 1, "rejoin": 1}
    assert counts(make_client, staff, live_space.pk) == {"cant_hear": 2, "resubscribe": 1, "rejoin": 1}
    mine = make_client(host).get(f"/api/v1/spaces/{live_space.pk}/audio-reports")
    assert mine.status_code == 200
    assert mine.json()["counts"]["cant_hear"] == 2


def test_someone_who_never_joined_cannot_report(live_space, make_client, staff):
    response = make_client(UserFactory()).post(
        f"/api/v1/spaces/{live_space.pk}/audio-reports", {"kind": "cant_hear"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "not_in_space"
    assert counts(make_client, staff) == {"cant_hear": 0, "resubscribe": 0, "rejoin": 0}


@pytest.mark.parametrize("body", [{"kind": "loud"}, {}, {"kind": ["cant_hear"]}])
def test_an_unknown_kind_is_refused(live_space, joined, make_client, staff, body):
    response = make_client(joined()).post(f"/api/v1/spaces/{live_space.pk}/audio-reports", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert counts(make_client, staff) == {"cant_hear": 0, "resubscribe": 0, "rejoin": 0}


def test_reports_are_capped_per_user(live_space, joined, make_client, staff):
    api = make_client(joined())
    answers = [
        api.post(f"/api/v1/spaces/{live_space.pk}/audio-reports", {"kind": "cant_hear"}, format="json").json()[
            "counted"
        ]
        for _ in range(audio_health.PER_USER_CAP + 3)
    ]
    assert answers.count(True) == audio_health.PER_USER_CAP
    assert counts(make_client, staff)["cant_hear"] == audio_health.PER_USER_CAP


def test_only_staff_and_the_host_team_read_the_counters(live_space, joined, make_client):
    listener = joined()
    assert make_client(listener).get("/api/v1/ops/audio-health").status_code == 403
    response = make_client(listener).get(f"/api/v1/spaces/{live_space.pk}/audio-reports")
    assert response.status_code == 403
    assert make_client(UserFactory(is_staff=True)).get("/api/v1/ops/audio-health?space=abc").status_code == 400
    assert (
        make_client(listener).post("/api/v1/spaces/999999/audio-reports", {"kind": "rejoin"}, format="json").status_code
        == 404
    )
