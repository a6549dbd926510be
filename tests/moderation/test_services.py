"""Trust & safety services: ban lists enforced at once, suspension, reports and their outcomes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from moderation import services
from moderation.exceptions import (
    BanNotFound,
    CannotReportSelf,
    ReportActionNotApplicable,
    ReportAlreadyOpen,
    ReportNotOpen,
)
from moderation.models import HostBan, ModerationAction, Notice, Report, ReportOutcome, ReportStatus, SpaceBan
from rooms.exceptions import Banned, CannotModerateCohost, CannotModerateHost, NotHost, NotHostTeam
from rooms.models import HandRaise, HandState, Participant, Role, Space, SpaceState
from rooms.selectors import access_space_for_join
from tests.factories import HostFactory
from tests.support.builders import Cast
from tests.support.builders import live_space as make_live_space
from tests.support.builders import member as add_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record what is handed to sockets and LiveKit after commit (the transports have their own tests)."""
    from rooms import tasks
    from spaces_project.realtime import publish as realtime

    record: dict[str, list[Any]] = {"events": [], "livekit_remove": []}
    monkeypatch.setattr(
        realtime, "_publish", lambda event, audience, ids: record["events"].append((event, audience, ids))
    )
    monkeypatch.setattr(
        tasks.livekit_participant_remove, "delay", lambda sid, uid: record["livekit_remove"].append((sid, uid))
    )
    monkeypatch.setattr(
        tasks.livekit_room_delete, "delay", lambda sid: record.setdefault("room_delete", []).append(sid)
    )
    monkeypatch.setattr(tasks.livekit_participant_apply, "delay", lambda *a: None)
    return record


def _removed_events(sent: dict[str, list[Any]], user: User) -> list[Any]:
    return [e for e, _a, _ids in sent["events"] if e.type == "participant.removed" and e.data["user_id"] == user.pk]


# --- ban lists -------------------------------------------------------------------------------------


def test_space_ban_of_a_connected_listener_ejects_them_at_once(cast: Cast, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ban, created = services.space_ban_create(
            space_id=cast.space.pk, actor=cast.cohost, target=cast.listener, reason="trolling"
        )
    assert created and isinstance(ban, SpaceBan)
    p = Participant.objects.get(space=cast.space, user=cast.listener)
    assert (p.is_connected, p.role) == (False, Role.LISTENER)
    assert sent["livekit_remove"] == [(cast.space.pk, cast.listener.pk)]
    assert len(_removed_events(sent, cast.listener)) == 2  # the room (closes their sockets) and their own channel
    assert [r.action for r in ModerationAction.objects.order_by("pk")] == ["remove", "ban"]
    with pytest.raises(Banned):
        access_space_for_join(space=cast.space, user=cast.listener)


def test_ban_of_someone_not_in_the_space_only_records_it(cast: Cast, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.space_ban_create(space_id=cast.space.pk, actor=cast.host, target=cast.outsider)
    assert sent["livekit_remove"] == []
    row = ModerationAction.objects.get()
    assert (row.action, row.details, row.target, row.actor_role) == ("ban", {"scope": "space"}, cast.outsider, "host")


def test_ban_is_idempotent(cast: Cast):
    _, first = services.space_ban_create(space_id=cast.space.pk, actor=cast.host, target=cast.outsider)
    _, second = services.space_ban_create(space_id=cast.space.pk, actor=cast.host, target=cast.outsider)
    assert (first, second) == (True, False)
    assert SpaceBan.objects.filter(user=cast.outsider).count() == 1
    assert ModerationAction.objects.count() == 1


def test_host_wide_ban_by_a_cohost_applies_to_all_the_hosts_spaces(cast: Cast):
    services.space_ban_create(space_id=cast.space.pk, actor=cast.cohost, target=cast.speaker, scope="host")
    assert HostBan.objects.filter(host=cast.host, user=cast.speaker, banned_by=cast.cohost).exists()
    assert Participant.objects.get(space=cast.space, user=cast.speaker).role == Role.LISTENER
    Space.objects.filter(pk=cast.space.pk).update(state=SpaceState.ENDED)
    later = Space.objects.create(host=cast.host, title="Next one", state=SpaceState.LIVE, started_at=timezone.now())
    with pytest.raises(Banned) as exc:
        access_space_for_join(space=later, user=cast.speaker)
    assert exc.value.extra == {"scope": "host"}


def test_cohost_cannot_ban_the_host_or_another_cohost(cast: Cast):
    with pytest.raises(CannotModerateHost):
        services.space_ban_create(space_id=cast.space.pk, actor=cast.cohost, target=cast.host)
    with pytest.raises(CannotModerateCohost):
        services.space_ban_create(space_id=cast.space.pk, actor=cast.cohost, target=cast.cohost2)
    assert Participant.objects.get(space=cast.space, user=cast.cohost2).role == Role.COHOST
    assert not ModerationAction.objects.exists()


def test_speaker_cannot_ban(cast: Cast):
    with pytest.raises(NotHostTeam):
        services.space_ban_create(space_id=cast.space.pk, actor=cast.speaker, target=cast.listener)
    assert SpaceBan.objects.filter(user=cast.listener).count() == 0


def test_former_cohost_loses_the_hosts_ban_list(cast: Cast):
    Participant.objects.filter(space=cast.space, user=cast.cohost).update(role=Role.LISTENER)
    with pytest.raises(NotHostTeam):
        services.space_ban_create(space_id=cast.space.pk, actor=cast.cohost, target=cast.outsider, scope="host")
    assert not HostBan.objects.exists()


def test_lifting_a_space_ban_lets_them_back_in(cast: Cast):
    services.space_ban_lift(space_id=cast.space.pk, actor=cast.cohost, target=cast.banned)
    access_space_for_join(space=cast.space, user=cast.banned)
    row = ModerationAction.objects.get()
    assert (row.action, row.details, row.actor) == ("unban", {"scope": "space"}, cast.cohost)
    with pytest.raises(BanNotFound):
        services.space_ban_lift(space_id=cast.space.pk, actor=cast.cohost, target=cast.banned)


def test_only_the_host_lifts_a_host_wide_ban(cast: Cast):
    HostBan.objects.create(host=cast.host, user=cast.outsider)
    with pytest.raises(NotHost):
        services.space_ban_lift(space_id=cast.space.pk, actor=cast.cohost, target=cast.outsider, scope="host")
    assert HostBan.objects.filter(user=cast.outsider).exists()
    services.space_ban_lift(space_id=cast.space.pk, actor=cast.host, target=cast.outsider, scope="host")
    assert not HostBan.objects.exists()


def test_own_ban_list_ejects_from_the_live_space(cast: Cast, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _, created = services.host_ban_create(host=cast.host, target=cast.speaker2, reason="abuse")
    assert created
    assert sent["livekit_remove"] == [(cast.space.pk, cast.speaker2.pk)]
    assert Participant.objects.get(space=cast.space, user=cast.speaker2).is_connected is False
    assert sorted(ModerationAction.objects.values_list("action", flat=True)) == ["ban", "ban", "remove"]
    services.host_ban_lift(host=cast.host, target=cast.speaker2)
    assert not HostBan.objects.exists()
    with pytest.raises(BanNotFound):
        services.host_ban_lift(host=cast.host, target=cast.speaker2)


# --- suspension ------------------------------------------------------------------------------------


def test_suspending_a_host_ends_their_live_space(cast: Cast, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.user_suspend(user_id=cast.host.pk, staff=cast.staff, reason="scam")
    space = Space.objects.get(pk=cast.space.pk)
    assert space.state == SpaceState.ENDED
    assert not Participant.objects.filter(space=space, is_connected=True).exists()
    assert sent["room_delete"] == [space.pk]
    assert [(r.action, r.actor_role) for r in ModerationAction.objects.order_by("pk")] == [
        ("suspend", "staff"),
        ("end", "staff"),
    ]
    host = User.objects.get(pk=cast.host.pk)
    assert host.suspension_active and host.suspended_until is None


def test_suspending_a_speaker_ejects_them_from_every_space(cast: Cast, sent, django_capture_on_commit_callbacks):
    other = make_live_space()
    add_member(other, Role.LISTENER, user=cast.speaker)
    until = timezone.now() + timedelta(days=7)
    with django_capture_on_commit_callbacks(execute=True):
        services.user_suspend(user_id=cast.speaker.pk, staff=cast.staff, until=until, reason="spam")
    assert not Participant.objects.filter(user=cast.speaker, is_connected=True).exists()
    assert Participant.objects.get(space=cast.space, user=cast.speaker).role == Role.LISTENER
    assert sorted(sent["livekit_remove"]) == sorted([(cast.space.pk, cast.speaker.pk), (other.pk, cast.speaker.pk)])
    assert Space.objects.get(pk=cast.space.pk).state == SpaceState.LIVE
    assert not SpaceBan.objects.filter(user=cast.speaker).exists()  # suspension is not a ban
    assert User.objects.get(pk=cast.speaker.pk).suspended_until == until


def test_temporary_suspension_expires_and_lifting_restores_access(cast: Cast):
    services.user_suspend(user_id=cast.outsider.pk, staff=cast.staff, until=timezone.now() + timedelta(hours=1))
    from accounts.exceptions import AccountSuspended

    with pytest.raises(AccountSuspended):
        access_space_for_join(space=cast.space, user=User.objects.get(pk=cast.outsider.pk))
    User.objects.filter(pk=cast.outsider.pk).update(suspended_until=timezone.now() - timedelta(seconds=1))
    access_space_for_join(space=cast.space, user=User.objects.get(pk=cast.outsider.pk))
    services.user_unsuspend(user_id=cast.suspended.pk, staff=cast.staff)
    assert not User.objects.get(pk=cast.suspended.pk).is_suspended
    assert list(ModerationAction.objects.order_by("pk").values_list("action", flat=True)) == ["suspend", "unsuspend"]


# --- reports ---------------------------------------------------------------------------------------


def test_one_open_report_per_reporter_and_target(cast: Cast):
    first = services.report_create(reporter=cast.listener, category="spam", target_user=cast.speaker)
    with pytest.raises(ReportAlreadyOpen) as exc:
        services.report_create(reporter=cast.listener, category="hate", target_user=cast.speaker)
    assert exc.value.extra == {"report_id": first.pk}
    # another reporter, or the same reporter about a Space, is a different report
    services.report_create(reporter=cast.listener2, category="spam", target_user=cast.speaker)
    services.report_create(reporter=cast.listener, category="spam", target_space=cast.space)
    with pytest.raises(ReportAlreadyOpen):
        services.report_create(reporter=cast.listener, category="spam", target_space=cast.space)
    # once resolved, a new report may be filed
    services.report_resolve(report_id=first.pk, staff=cast.staff, decision=services.ReportDecision(action="dismiss"))
    services.report_create(reporter=cast.listener, category="hate", target_user=cast.speaker)
    assert Report.objects.count() == 4


def test_cannot_report_yourself(cast: Cast):
    with pytest.raises(CannotReportSelf):
        services.report_create(reporter=cast.listener, category="spam", target_user=cast.listener)
    with pytest.raises(CannotReportSelf):
        services.report_create(reporter=cast.host, category="spam", target_space=cast.space)
    assert not Report.objects.exists()


def test_dismiss_tells_the_reporter(cast: Cast, sent, django_capture_on_commit_callbacks):
    report = services.report_create(reporter=cast.listener, category="spam", target_user=cast.speaker)
    other = services.report_create(reporter=cast.listener2, category="spam", target_user=cast.speaker)
    with django_capture_on_commit_callbacks(execute=True):
        services.report_resolve(
            report_id=report.pk, staff=cast.staff, decision=services.ReportDecision(action="dismiss", note="ok")
        )
    report.refresh_from_db()
    assert (report.status, report.outcome, report.resolved_by) == (ReportStatus.DISMISSED, "dismissed", cast.staff)
    assert Report.objects.get(pk=other.pk).status == ReportStatus.OPEN  # a dismissal is per report
    notice = Notice.objects.get(user=cast.listener)
    assert (notice.kind, notice.report) == ("report_outcome", report)
    pushes = [(e.type, ids) for e, _a, ids in sent["events"]]
    assert ("notification", [cast.listener.pk]) in pushes
    with pytest.raises(ReportNotOpen):
        services.report_resolve(report_id=report.pk, staff=cast.staff, decision=services.ReportDecision("warn"))


def test_warn_closes_every_open_report_of_the_target(cast: Cast):
    a = services.report_create(reporter=cast.listener, category="spam", target_user=cast.speaker)
    b = services.report_create(reporter=cast.listener2, category="harassment", target_user=cast.speaker)
    services.report_resolve(report_id=a.pk, staff=cast.staff, decision=services.ReportDecision(action="warn"))
    assert set(Report.objects.values_list("status", "outcome")) == {(ReportStatus.ACTIONED, ReportOutcome.WARNED)}
    assert Notice.objects.filter(user=cast.speaker, kind="warning").count() == 1
    assert sorted(Notice.objects.filter(kind="report_outcome").values_list("report_id", flat=True)) == [a.pk, b.pk]
    assert ModerationAction.objects.get().action == "warn"


def test_suspend_from_a_space_report_suspends_its_host(cast: Cast):
    report = services.report_create(reporter=cast.listener, category="hate", target_space=cast.space)
    until = timezone.now() + timedelta(days=3)
    services.report_resolve(
        report_id=report.pk, staff=cast.staff, decision=services.ReportDecision(action="suspend", until=until)
    )
    host = User.objects.get(pk=cast.host.pk)
    assert host.suspension_active and host.suspended_until == until
    assert Space.objects.get(pk=cast.space.pk).state == SpaceState.ENDED
    assert Report.objects.get(pk=report.pk).outcome == ReportOutcome.SUSPENDED


def test_end_space_from_a_user_report_ends_their_live_space(cast: Cast):
    report = services.report_create(reporter=cast.listener, category="violence", target_user=cast.host)
    services.report_resolve(report_id=report.pk, staff=cast.staff, decision=services.ReportDecision("end_space"))
    assert Space.objects.get(pk=cast.space.pk).state == SpaceState.ENDED
    assert not User.objects.get(pk=cast.host.pk).is_suspended
    row = ModerationAction.objects.get()
    assert (row.action, row.actor, row.actor_role, row.space_id) == ("end", cast.staff, "staff", cast.space.pk)


def test_end_space_without_a_live_space_is_refused_and_keeps_the_report_open(cast: Cast):
    report = services.report_create(reporter=cast.listener, category="spam", target_user=cast.speaker)
    with pytest.raises(ReportActionNotApplicable):
        services.report_resolve(report_id=report.pk, staff=cast.staff, decision=services.ReportDecision("end_space"))
    assert Report.objects.get(pk=report.pk).status == ReportStatus.OPEN
    assert not Notice.objects.exists() and not ModerationAction.objects.exists()


def test_hand_and_invitation_are_cleared_on_ejection(cast: Cast):
    services.space_ban_create(space_id=cast.space.pk, actor=cast.host, target=cast.listener2)
    assert HandRaise.objects.get(space=cast.space, user=cast.listener2).state == HandState.LOWERED


def test_suspension_of_a_host_does_not_touch_other_hosts_spaces():
    a, b = make_live_space(), make_live_space(HostFactory())
    add_member(b, Role.COHOST, user=a.host)
    services.user_suspend(user_id=a.host.pk, staff=None)
    assert Space.objects.get(pk=a.pk).state == SpaceState.ENDED
    assert Space.objects.get(pk=b.pk).state == SpaceState.LIVE
    assert Participant.objects.get(space=b, user=a.host).is_connected is False


# --- the audit log is append-only in the database ---------------------------------------------------


def test_audit_rows_cannot_be_changed_or_deleted_in_postgres(cast: Cast, postgres_url: str):
    from django.db import DatabaseError, transaction

    services.user_warn(user_id=cast.speaker.pk, staff=cast.staff, text="be nice")
    row = ModerationAction.objects.get()
    for attempt in (
        lambda: ModerationAction.objects.filter(pk=row.pk).update(reason="rewritten"),
        lambda: ModerationAction.objects.filter(pk=row.pk).update(actor=cast.host),
        lambda: ModerationAction.objects.filter(pk=row.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    assert ModerationAction.objects.get(pk=row.pk).reason == "be nice"
    # deleting the people it names keeps the row, with the reference cleared (SET NULL)
    User.objects.filter(pk=cast.staff.pk).delete()
    row.refresh_from_db()
    assert (row.actor_id, row.reason, row.target_id) == (None, "be nice", cast.speaker.pk)
