"""A ``notification`` on the socket of an open Space page shows the line the server wrote (``data.text``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from rooms.models import Reminder, Space, SpaceState
from rooms.services import space_create
from tests.factories import HostFactory, UserFactory
from tests.support.browser import log_in, off_loop, wait_text
from tests.support.servers import Server
from tests.web.test_browser import join_space

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reminded_listener_sees_the_notification_text_in_the_space_they_are_in(
    web_server: Server, browser: Any
) -> None:
    elsewhere = off_loop(lambda: space_create(host=HostFactory(username="elsa"), title="Morning show"))
    listener = off_loop(lambda: UserFactory(username="remy", display_name="Remy"))
    host = off_loop(lambda: HostFactory(username="ada"))

    def scheduled() -> Space:
        space = Space.objects.create(
            host=host,
            title="Launch day",
            state=SpaceState.SCHEDULED,
            scheduled_start=timezone.now() + timedelta(hours=1),
        )
        Reminder.objects.create(space=space, user=listener)
        return space

    later = off_loop(scheduled)
    token = off_loop(lambda: Token.objects.get_or_create(user=host)[0].key)
    page = log_in(browser, web_server, "remy")
    join_space(page, web_server, elsewhere)
    response = httpx.post(
        f"{web_server.http}/api/v1/spaces/{later.pk}/start", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    wait_text(page, "#toast", "ada is live: Launch day", exact=True, timeout=15000)
