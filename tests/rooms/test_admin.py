import pytest

from moderation.models import ModerationAction
from rooms.models import Space, SpaceState
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_staff_ends_a_live_space_from_the_admin(client, live_space):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    assert client.get("/admin/rooms/space/").status_code == 200
    assert client.get(f"/admin/rooms/space/{live_space.pk}/change/").status_code == 200
    r = client.post("/admin/rooms/space/", {"action": "end_spaces", "_selected_action": [live_space.pk]})
    assert r.status_code == 302
    assert Space.objects.get(pk=live_space.pk).state == SpaceState.ENDED
    row = ModerationAction.objects.get(space=live_space)
    assert (row.actor, row.actor_role, row.action) == (staff, "staff", "end")


def test_non_staff_cannot_use_the_admin(client, live_space):
    client.force_login(UserFactory())
    assert client.get("/admin/rooms/space/").status_code == 302
    assert Space.objects.get(pk=live_space.pk).state == SpaceState.LIVE
