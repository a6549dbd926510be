"""Accounts API: every endpoint's success, unauthenticated, forbidden and bad-input cases."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Block, Follow, User
from accounts.services import follow_create, user_set_suspension
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_register_returns_token_and_profile(api_client):
    response = api_client.post("/api/v1/auth/register", {"username": "New_User", "password": "a-long-pass-42"})
    assert response.status_code == 201
    assert response.data["user"]["username"] == "New_User"
    assert Token.objects.filter(key=response.data["token"], user__username="New_User").exists()


def test_register_rejects_username_taken_in_other_case(api_client):
    UserFactory(username="alice")
    response = api_client.post("/api/v1/auth/register", {"username": "ALICE", "password": "a-long-pass-42"})
    assert response.status_code == 409
    assert response.data["code"] == "username_taken"
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_register_bad_input_has_field_errors_and_creates_nothing(api_client):
    response = api_client.post("/api/v1/auth/register", {"username": "x!", "password": "short"})
    assert response.status_code == 400
    assert response.data["code"] == "invalid_input"
    assert set(response.data["extra"]["fields"]) == {"username", "password"}
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("alice_w", "password", "too common"),
        ("alice_wonder", "alice_wonder1", "too similar to the username"),
        ("alice_w", "12345678", "too common"),
    ],
)
def test_register_refuses_a_password_the_validators_reject(username, password, message):
    client = APIClient(raise_request_exception=False)
    response = client.post("/api/v1/auth/register", {"username": username, "password": password}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_input"
    assert list(response.json()["extra"]["fields"]) == ["password"]
    assert message in " ".join(response.json()["extra"]["fields"]["password"])
    assert not User.objects.exists()


def test_register_checks_the_password_against_email_and_display_name(api_client):
    body = {"username": "zed", "password": "marvellous-gardener", "display_name": "Marvellous Gardener"}
    response = api_client.post("/api/v1/auth/register", body)
    assert response.status_code == 400
    assert "too similar to the display name" in response.data["extra"]["fields"]["password"][0]
    assert not User.objects.exists()


def test_token_login_is_case_insensitive(api_client):
    UserFactory(username="Bob")
    response = api_client.post("/api/v1/auth/token", {"username": "bob", "password": "correct-horse-battery"})
    assert response.status_code == 200
    assert response.data["token"]


def test_token_login_wrong_password(api_client):
    UserFactory(username="bob")
    response = api_client.post("/api/v1/auth/token", {"username": "bob", "password": "nope-nope-nope"})
    assert response.status_code == 400
    assert response.data["code"] == "invalid_credentials"


def test_token_login_refused_for_suspended_account(api_client):
    user = UserFactory(username="bob")
    user_set_suspension(user=user, suspended=True, reason="spam")
    response = api_client.post("/api/v1/auth/token", {"username": "bob", "password": "correct-horse-battery"})
    assert response.status_code == 403
    assert response.data["code"] == "account_suspended"


def test_suspended_users_token_stops_working_and_works_again_when_lifted(make_client):
    user = UserFactory()
    client = make_client(user)
    user_set_suspension(user=user, suspended=True)
    refused = client.get("/api/v1/me")
    assert refused.status_code in (401, 403)
    assert refused.data["code"] == "account_suspended"
    user_set_suspension(user=user, suspended=False)
    assert client.get("/api/v1/me").status_code == 200


def test_logout_revokes_token(make_client):
    user = UserFactory()
    client = make_client(user)
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert not Token.objects.filter(user=user).exists()
    assert client.get("/api/v1/me").data["code"] == "invalid_token"


def test_me_requires_authentication(api_client):
    response = api_client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.data == {
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "extra": {},
    }


def test_me_explains_why_user_cannot_host(make_client):
    user = UserFactory(follower_count=12)
    data = make_client(user).get("/api/v1/me").data
    assert data["can_host"] is False
    assert data["host_eligibility"] == {
        "can_host": False,
        "reason": "not_eligible",
        "followers": 12,
        "threshold": 600,
        "override": False,
    }


def test_me_can_host_at_threshold_or_with_override(make_client):
    assert make_client(HostFactory()).get("/api/v1/me").data["can_host"] is True
    assert make_client(UserFactory(host_override=True)).get("/api/v1/me").data["can_host"] is True


@override_settings(SPACES_HOST_MIN_FOLLOWERS=3)
def test_host_threshold_is_a_setting(make_client):
    assert make_client(UserFactory(follower_count=3)).get("/api/v1/me").data["can_host"] is True


def test_me_patch_updates_profile(make_client):
    user = UserFactory()
    response = make_client(user).patch("/api/v1/me", {"display_name": "Dee", "bio": "hi"}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.display_name, user.bio) == ("Dee", "hi")


def test_me_patch_bad_input_changes_nothing(make_client):
    user = UserFactory(bio="before")
    response = make_client(user).patch("/api/v1/me", {"bio": "x" * 161, "avatar_url": "not a url"}, format="json")
    assert response.status_code == 400
    assert set(response.data["extra"]["fields"]) == {"bio", "avatar_url"}
    user.refresh_from_db()
    assert user.bio == "before"


def test_public_profile_with_counts_and_relationship(make_client):
    me, other = UserFactory(), UserFactory(username="Carol")
    follow_create(follower=me, followee=other)
    data = make_client(me).get("/api/v1/users/carol").data
    assert data["username"] == "Carol"
    assert data["follower_count"] == 1
    assert data["followed_by_me"] is True


def test_public_profile_unknown_user_is_404(make_client):
    response = make_client(UserFactory()).get("/api/v1/users/nobody")
    assert response.status_code == 404
    assert response.data["code"] == "user_not_found"


def test_follow_is_idempotent_and_counts_once(make_client):
    me, _other = UserFactory(), UserFactory(username="dave")
    client = make_client(me)
    assert client.put("/api/v1/users/dave/follow").data["follower_count"] == 1
    assert client.put("/api/v1/users/dave/follow").data["follower_count"] == 1
    me.refresh_from_db()
    assert me.following_count == 1
    assert client.delete("/api/v1/users/dave/follow").data["follower_count"] == 0
    assert client.delete("/api/v1/users/dave/follow").data["follower_count"] == 0
    assert not Follow.objects.exists()


def test_follow_self_is_refused(make_client):
    me = UserFactory(username="me")
    response = make_client(me).put("/api/v1/users/me/follow")
    assert response.status_code == 400
    assert response.data["code"] == "cannot_follow_self"
    assert not Follow.objects.exists()


def test_follow_refused_when_blocked(make_client):
    me, other = UserFactory(), UserFactory(username="erin")
    Block.objects.create(blocker=other, blocked=me)
    response = make_client(me).put("/api/v1/users/erin/follow")
    assert response.status_code == 403
    assert response.data["code"] == "blocked"
    assert not Follow.objects.exists()


def test_follow_requires_authentication(api_client):
    UserFactory(username="frank")
    assert api_client.put("/api/v1/users/frank/follow").status_code == 401


def test_block_removes_follows_both_ways_and_unblock(make_client):
    me, other = UserFactory(), UserFactory(username="gina")
    follow_create(follower=me, followee=other)
    follow_create(follower=other, followee=me)
    client = make_client(me)
    assert client.put("/api/v1/users/gina/block").status_code == 204
    assert not Follow.objects.exists()
    me.refresh_from_db()
    other.refresh_from_db()
    assert (me.follower_count, me.following_count, other.follower_count, other.following_count) == (0, 0, 0, 0)
    assert client.put("/api/v1/users/gina/block").status_code == 204  # idempotent
    assert client.delete("/api/v1/users/gina/block").status_code == 204
    assert not Block.objects.exists()


def test_block_self_is_refused(make_client):
    UserFactory(username="me")
    response = make_client(User.objects.get(username="me")).put("/api/v1/users/me/block")
    assert response.data["code"] == "cannot_block_self"


def test_followers_and_following_are_cursor_paginated(make_client):
    star = UserFactory(username="star")
    fans = UserFactory.create_batch(5)
    for fan in fans:
        follow_create(follower=fan, followee=star)
    client = make_client(fans[0])
    page = client.get("/api/v1/users/star/followers?page_size=2").data
    assert len(page["results"]) == 2
    assert page["next"]
    seen = [u["username"] for u in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).data
        seen += [u["username"] for u in page["results"]]
    assert sorted(seen) == sorted(f.username for f in fans)
    following = client.get(f"/api/v1/users/{fans[0].username}/following").data
    assert [u["username"] for u in following["results"]] == ["star"]


def test_unknown_method_has_error_shape(make_client):
    response = make_client(UserFactory()).delete("/api/v1/me")
    assert response.status_code == 405
    assert response.data["code"] == "method_not_allowed"


def test_malformed_json_is_parse_error(make_client):
    response = make_client(UserFactory()).generic("PATCH", "/api/v1/me", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.data["code"] == "parse_error"


@override_settings(
    REST_FRAMEWORK={
        **__import__("django.conf").conf.settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **__import__("django.conf").conf.settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "2/min",
        },
    }
)
def test_login_is_throttled_with_retry_after(api_client):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        for _ in range(2):
            api_client.post("/api/v1/auth/token", {"username": "x", "password": "y"})
        response = api_client.post("/api/v1/auth/token", {"username": "x", "password": "y"})
    finally:
        api_settings.reload()
        SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert response.status_code == 429
    assert response.data["code"] == "throttled"
    assert response.data["extra"]["retry_after"] >= 1
