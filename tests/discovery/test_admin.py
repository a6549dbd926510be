"""The staff console lists reminders, notifications and messages to host teams."""

from __future__ import annotations

import pytest

from rooms.models import HostMessage, Notification, Reminder
from tests.factories import UserFactory
from tests.support.builders import scheduled_space
from tests.support.builders import started_space as live_space

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Reminder, Notification, HostMessage])
def test_staff_find_the_discovery_records(client, model):
    user = UserFactory(username="findable")
    scheduled = scheduled_space()
    rows = {
        Reminder: Reminder.objects.create(space=scheduled, user=user),
        Notification: Notification.objects.create(user=user, space=scheduled, kind="space_canceled"),
        HostMessage: HostMessage.objects.create(space=live_space(), sender=user, text="hello"),
    }
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    name = model._meta.model_name

    response = client.get(f"/admin/rooms/{name}/?q=findable")
    detail = client.get(f"/admin/rooms/{name}/{rows[model].pk}/change/")

    assert response.status_code == 200
    assert f"/admin/rooms/{name}/{rows[model].pk}/change/" in response.content.decode()
    assert detail.status_code == 200


def test_non_staff_are_sent_to_the_admin_login(client):
    client.force_login(UserFactory())

    response = client.get("/admin/rooms/hostmessage/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
