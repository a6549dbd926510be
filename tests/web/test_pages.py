"""Server-rendered pages: who sees what, and the public share page."""

from __future__ import annotations

import pytest

from rooms.models import Space, SpaceState
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_home_redirects_anonymous_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login")


@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_auth_pages_render_with_csrf_cookie(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "csrftoken" in response.cookies


@pytest.mark.parametrize("path", ["/", "/spaces/new", "/dashboard"])
def test_pages_render_for_logged_in_user(client, path):
    client.force_login(UserFactory())
    response = client.get(path)
    assert response.status_code == 200
    assert b"build/app.js" in response.content


def test_space_page_and_profile_render(client):
    host = HostFactory(username="hosty")
    space = Space.objects.create(host=host, title="Morning show", state=SpaceState.LIVE)
    client.force_login(UserFactory())
    assert b"Morning show" in client.get(f"/spaces/{space.pk}").content
    assert b"@hosty" in client.get("/u/hosty").content
    assert client.get("/spaces/999999").status_code == 404


def test_share_page_is_public_with_opengraph_tags(client):
    host = HostFactory(username="hosty", display_name="Hosty")
    space = Space.objects.create(host=host, title="Jazz <night>", state=SpaceState.LIVE, listener_count=42)
    html = client.get(f"/s/{space.pk}").content.decode()
    assert '<meta property="og:title" content="Jazz &lt;night&gt;">' in html
    assert "42" in html and "listening" in html
    assert f'href="/spaces/{space.pk}"' in html


def test_share_page_of_ended_space_has_no_join_link(client):
    space = Space.objects.create(host=HostFactory(), title="Done", state=SpaceState.ENDED)
    html = client.get(f"/s/{space.pk}").content.decode()
    assert "Ended" in html
    assert f'href="/spaces/{space.pk}"' not in html
