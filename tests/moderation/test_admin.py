"""Staff review in the admin: the report queue with filters and actions, suspensions, the read-only log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from moderation import services
from moderation.models import ModerationAction, Notice, Report, ReportOutcome, ReportStatus
from rooms.models import Participant, Space, SpaceState
from tests.support.builders import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(cast: Cast) -> Client:
    client = Client()
    client.force_login(cast.staff)
    return client


def _report(cast: Cast, reporter: User, **target: object) -> Report:
    return services.report_create(reporter=reporter, category="spam", **target)  # type: ignore[arg-type]


def test_queue_and_filters_render(cast: Cast, staff_client: Client):
    _report(cast, cast.listener, target_user=cast.speaker)
    _report(cast, cast.listener2, target_space=cast.space)
    services.user_warn(user_id=cast.speaker.pk, staff=cast.staff, text="be nice")
    for url in [
        "/admin/moderation/report/",
        "/admin/moderation/report/?status__exact=open",
        "/admin/moderation/report/?category__exact=spam",
        "/admin/moderation/report/?target=user",
        "/admin/moderation/report/?target=space",
        f"/admin/moderation/report/?q={cast.speaker.username}",
        "/admin/moderation/moderationaction/?action=warn",
        "/admin/moderation/spaceban/",
        "/admin/moderation/hostban/",
        "/admin/moderation/notice/",
    ]:
        assert staff_client.get(url).status_code == 200, url
    listing = staff_client.get("/admin/moderation/report/?target=space").content.decode()
    assert "Space Live talk" in listing and f"user {cast.speaker.username}" not in listing


def test_non_staff_cannot_open_the_queue(cast: Cast):
    client = Client()
    client.force_login(cast.host)
    response = client.get("/admin/moderation/report/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_dismiss_and_warn_actions(cast: Cast, staff_client: Client):
    a = _report(cast, cast.listener, target_user=cast.speaker)
    b = _report(cast, cast.listener, target_user=cast.speaker2)
    staff_client.post("/admin/moderation/report/", {"action": "dismiss_reports", "_selected_action": [a.pk]})
    staff_client.post("/admin/moderation/report/", {"action": "warn_targets", "_selected_action": [b.pk]})
    assert Report.objects.get(pk=a.pk).outcome == ReportOutcome.DISMISSED
    assert Report.objects.get(pk=b.pk).outcome == ReportOutcome.WARNED
    assert Notice.objects.filter(user=cast.speaker2, kind="warning").exists()
    assert Notice.objects.filter(user=cast.listener, kind="report_outcome").count() == 2
    assert [(r.action, r.actor) for r in ModerationAction.objects.order_by("pk")] == [
        ("report_dismiss", cast.staff),
        ("warn", cast.staff),
    ]


def test_suspend_action_asks_for_an_end_date_then_suspends(cast: Cast, staff_client: Client):
    report = _report(cast, cast.listener, target_space=cast.space)
    form = staff_client.post(
        "/admin/moderation/report/", {"action": "suspend_targets", "_selected_action": [report.pk]}
    )
    assert form.status_code == 200 and b'name="until"' in form.content
    assert not User.objects.get(pk=cast.host.pk).is_suspended  # nothing happens until confirmed
    past = staff_client.post(
        "/admin/moderation/report/",
        {"action": "suspend_targets", "_selected_action": [report.pk], "apply": "1", "until": "2001-01-01 00:00"},
    )
    assert past.status_code == 200 and b"must be in the future" in past.content
    assert not User.objects.get(pk=cast.host.pk).is_suspended
    until = (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)
    done = staff_client.post(
        "/admin/moderation/report/",
        {
            "action": "suspend_targets",
            "_selected_action": [report.pk],
            "apply": "1",
            "until": until.strftime("%Y-%m-%d %H:%M"),
            "reason": "hate speech",
        },
    )
    assert done.status_code == 302
    host = User.objects.get(pk=cast.host.pk)
    assert (host.is_suspended, host.suspended_until, host.suspension_reason) == (True, until, "hate speech")
    assert Space.objects.get(pk=cast.space.pk).state == SpaceState.ENDED
    assert Report.objects.get(pk=report.pk).outcome == ReportOutcome.SUSPENDED


def test_end_space_action(cast: Cast, staff_client: Client):
    report = _report(cast, cast.listener, target_space=cast.space)
    staff_client.post("/admin/moderation/report/", {"action": "end_spaces", "_selected_action": [report.pk]})
    assert Space.objects.get(pk=cast.space.pk).state == SpaceState.ENDED
    assert not User.objects.get(pk=cast.host.pk).is_suspended
    # a second attempt on an ended Space says why and changes nothing
    again = _report(cast, cast.listener2, target_space=cast.space)
    response = staff_client.post(
        "/admin/moderation/report/", {"action": "end_spaces", "_selected_action": [again.pk]}, follow=True
    )
    assert b"no live Space" in response.content
    assert Report.objects.get(pk=again.pk).status == ReportStatus.OPEN


def test_user_admin_suspend_goes_through_the_service(cast: Cast, staff_client: Client):
    response = staff_client.post(
        "/admin/accounts/user/", {"action": "suspend_users", "_selected_action": [cast.speaker.pk], "apply": "1"}
    )
    assert response.status_code == 302
    assert User.objects.get(pk=cast.speaker.pk).suspension_active
    assert not Participant.objects.get(space=cast.space, user=cast.speaker).is_connected
    assert ModerationAction.objects.get(action="suspend").actor == cast.staff
    staff_client.post("/admin/accounts/user/", {"action": "unsuspend_users", "_selected_action": [cast.speaker.pk]})
    assert not User.objects.get(pk=cast.speaker.pk).is_suspended
    assert ModerationAction.objects.filter(action="unsuspend").count() == 1


def test_audit_log_is_read_only_for_staff(cast: Cast, staff_client: Client):
    services.user_warn(user_id=cast.speaker.pk, staff=cast.staff, text="be nice")
    row = ModerationAction.objects.get()
    assert staff_client.get(f"/admin/moderation/moderationaction/{row.pk}/change/").status_code == 200
    staff_client.post(f"/admin/moderation/moderationaction/{row.pk}/change/", {"reason": "edited", "action": "x"})
    assert staff_client.post(f"/admin/moderation/moderationaction/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff_client.get("/admin/moderation/moderationaction/add/").status_code == 403
    row.refresh_from_db()
    assert (row.action, row.reason) == ("warn", "be nice")
    assert ModerationAction.objects.count() == 1


def test_user_change_form_cannot_flip_suspension_around_the_service(cast: Cast, staff_client: Client):
    page = staff_client.get(f"/admin/accounts/user/{cast.speaker.pk}/change/")
    assert page.status_code == 200
    assert b'name="is_suspended"' not in page.content
