"""Host-team power follows the Space's state and the caller's current role (issue 14, item 1).

A co-host's power lasts while the Space is live and they co-host it. A Space that has ended leaves
co-host rows behind as history; they grant nothing. A host-wide ban of a co-host ends every power they
hold over the host's Spaces, and the host can always take the co-host role away.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from moderation.models import HostBan, ModerationAction, SpaceBan
from rooms.models import HostMessage, Participant, Role, Space, SpaceState
from tests.factories import UserFactory
from tests.support.builders import Cast
from tests.support.builders import live_space as make_live_space
from tests.support.builders import member as add_member

pytestmark = pytest.mark.django_db


def _end(make_client, cast: Cast) -> None:
    response = make_client(cast.host).post(f"/api/v1/spaces/{cast.space.pk}/end", {"reason": "done"}, format="json")
    assert response.status_code == 200, response.data
    assert Space.objects.get(pk=cast.space.pk).state == SpaceState.ENDED


def test_the_reported_attack_is_refused(cast: Cast, make_client):
    """Former co-host B, banned host-wide after X ended, cannot ban V through X from the host's next Space."""
    x, b = cast.space, cast.cohost
    HostMessage.objects.create(space=x, sender=cast.listener, text="hello hosts")
    _end(make_client, cast)
    host = make_client(cast.host)
    assert host.post("/api/v1/me/bans", {"username": b.username}, format="json").status_code == 201
    y = make_live_space(cast.host)
    victim = add_member(y)
    audit_before = ModerationAction.objects.count()

    attacker = make_client(b)
    response = attacker.post(
        f"/api/v1/spaces/{x.pk}/bans", {"username": victim.username, "scope": "host"}, format="json"
    )

    assert (response.status_code, response.data["code"]) == (403, "not_host_team")
    assert not HostBan.objects.filter(user=victim).exists()
    assert Participant.objects.get(space=y, user=victim).is_connected
    assert ModerationAction.objects.count() == audit_before
    for path in ("bans?scope=host", "bans", "moderation-log", "messages", "hands"):
        read = attacker.get(f"/api/v1/spaces/{x.pk}/{path}")
        assert (read.status_code, read.data["code"]) == (403, "not_host_team"), path


def test_former_cohost_of_an_ended_space_has_no_power_even_unbanned(cast: Cast, make_client):
    x = cast.space
    _end(make_client, cast)
    attacker = make_client(cast.cohost)
    for body in ({"username": cast.outsider.username}, {"username": cast.outsider.username, "scope": "host"}):
        response = attacker.post(f"/api/v1/spaces/{x.pk}/bans", body, format="json")
        assert (response.status_code, response.data["code"]) == (403, "not_host_team")
    lift = attacker.delete(f"/api/v1/spaces/{x.pk}/bans/{cast.banned.username}")
    assert (lift.status_code, lift.data["code"]) == (403, "not_host_team")
    assert SpaceBan.objects.filter(space=x, user=cast.banned).exists()
    assert not HostBan.objects.exists()


def test_the_host_keeps_the_reads_of_an_ended_space(cast: Cast, make_client):
    x = cast.space
    HostMessage.objects.create(space=x, sender=cast.listener, text="thanks")
    HostBan.objects.create(host=cast.host, user=cast.outsider, banned_by=cast.host)
    _end(make_client, cast)
    host = make_client(cast.host)
    assert [m["text"] for m in host.get(f"/api/v1/spaces/{x.pk}/messages").data["results"]] == ["thanks"]
    assert [b["user"]["username"] for b in host.get(f"/api/v1/spaces/{x.pk}/bans").data["results"]] == [
        cast.banned.username
    ]
    assert [b["user"]["username"] for b in host.get(f"/api/v1/spaces/{x.pk}/bans?scope=host").data["results"]] == [
        cast.outsider.username
    ]
    assert "end" in {r["action"] for r in host.get(f"/api/v1/spaces/{x.pk}/moderation-log").data["results"]}


def test_the_host_can_remove_a_cohost_of_an_ended_space(cast: Cast, make_client):
    x = cast.space
    _end(make_client, cast)
    response = make_client(cast.host).delete(f"/api/v1/spaces/{x.pk}/participants/{cast.cohost.username}/cohost")
    assert response.status_code == 200, response.data
    assert response.data["role"] != Role.COHOST
    assert Participant.objects.get(space=x, user=cast.cohost).role != Role.COHOST
    assert ModerationAction.objects.filter(space=x, action="cohost_remove", target=cast.cohost).exists()
    again = make_client(cast.host).delete(f"/api/v1/spaces/{x.pk}/participants/{cast.cohost.username}/cohost")
    assert (again.status_code, again.data["code"]) == (409, "not_cohost")
    refused = make_client(cast.cohost2).delete(f"/api/v1/spaces/{x.pk}/participants/{cast.cohost.username}/cohost")
    assert (refused.status_code, refused.data["code"]) == (403, "not_host")


def test_a_host_wide_ban_demotes_the_cohost_in_every_space_of_the_host(cast: Cast, make_client):
    """The live Space ejects them (the one removal path); the ended ones lose the co-host row too."""
    old = Space.objects.create(
        host=cast.host, title="Last week", state=SpaceState.ENDED, started_at=timezone.now(), ended_at=timezone.now()
    )
    Participant.objects.create(space=old, user=cast.cohost, role=Role.COHOST)
    other_host_space = make_live_space()
    Participant.objects.create(space=other_host_space, user=cast.cohost, role=Role.COHOST, is_connected=True)

    response = make_client(cast.host).post("/api/v1/me/bans", {"username": cast.cohost.username}, format="json")

    assert response.status_code == 201
    live_row = Participant.objects.get(space=cast.space, user=cast.cohost)
    assert (live_row.role, live_row.is_connected) == (Role.LISTENER, False)
    assert Participant.objects.get(space=old, user=cast.cohost).role == Role.LISTENER
    # Another host's Space is not this host's to touch.
    assert Participant.objects.get(space=other_host_space, user=cast.cohost).role == Role.COHOST


@pytest.mark.parametrize("how", ["me-bans", "space-bans", "remove"])
def test_every_host_wide_ban_path_demotes_in_ended_spaces(cast: Cast, make_client, how):
    old = Space.objects.create(
        host=cast.host, title="Last week", state=SpaceState.ENDED, started_at=timezone.now(), ended_at=timezone.now()
    )
    Participant.objects.create(space=old, user=cast.speaker, role=Role.COHOST)
    host = make_client(cast.host)
    if how == "me-bans":
        response = host.post("/api/v1/me/bans", {"username": cast.speaker.username}, format="json")
    elif how == "space-bans":
        response = host.post(
            f"/api/v1/spaces/{cast.space.pk}/bans", {"username": cast.speaker.username, "scope": "host"}, format="json"
        )
    else:
        response = host.post(
            f"/api/v1/spaces/{cast.space.pk}/participants/{cast.speaker.username}/remove",
            {"ban": "host"},
            format="json",
        )
    assert response.status_code in (201, 204), response.data
    assert Participant.objects.get(space=old, user=cast.speaker).role == Role.LISTENER


def test_a_cohost_banned_host_wide_without_demotion_still_has_no_power(cast: Cast, make_client):
    """Defence in depth: a ban row alone (however it got there) takes the power away."""
    HostBan.objects.create(host=cast.host, user=cast.cohost, banned_by=cast.host)
    attacker = make_client(cast.cohost)
    response = attacker.post(f"/api/v1/spaces/{cast.space.pk}/mute-all", {}, format="json")
    assert (response.status_code, response.data["code"]) == (403, "not_host_team")
    read = attacker.get(f"/api/v1/spaces/{cast.space.pk}/bans?scope=host")
    assert (read.status_code, read.data["code"]) == (403, "not_host_team")


def test_a_demoted_cohost_has_no_power(cast: Cast, make_client):
    x = cast.space
    response = make_client(cast.host).delete(f"/api/v1/spaces/{x.pk}/participants/{cast.cohost.username}/cohost")
    assert response.status_code == 200
    attacker = make_client(cast.cohost)
    ban = attacker.post(f"/api/v1/spaces/{x.pk}/bans", {"username": cast.listener.username}, format="json")
    assert (ban.status_code, ban.data["code"]) == (403, "not_host_team")
    log = attacker.get(f"/api/v1/spaces/{x.pk}/moderation-log")
    assert (log.status_code, log.data["code"]) == (403, "not_host_team")


def test_space_ban_lift_of_an_unknown_user_on_an_ended_space_by_the_host(cast: Cast, make_client):
    """The host keeps their own lists after the Space ends: lifting works, and a missing ban is a 404."""
    x = cast.space
    _end(make_client, cast)
    host = make_client(cast.host)
    assert host.delete(f"/api/v1/spaces/{x.pk}/bans/{cast.banned.username}").status_code == 204
    missing = host.delete(f"/api/v1/spaces/{x.pk}/bans/{UserFactory().username}")
    assert (missing.status_code, missing.data["code"]) == (404, "ban_not_found")
