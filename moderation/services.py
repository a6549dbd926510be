"""Writes for trust & safety: ban lists, reports, staff review (dismiss, warn, suspend, end Space).

Every action writes one append-only :class:`~moderation.models.ModerationAction` row through
``rooms.services._common.audit``. Taking someone out of a live Space always goes through
``rooms.services.moderation.participant_eject`` (LiveKit disconnect and socket close on commit).
Notices to users (warnings, report outcomes) are records plus a ``notification`` push on the user's
personal channel, sent on commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.services import user_set_suspension
from moderation.exceptions import (
    BanNotFound,
    CannotReportSelf,
    ReportActionNotApplicable,
    ReportAlreadyOpen,
    ReportNotOpen,
)
from moderation.models import (
    HostBan,
    Notice,
    NoticeKind,
    Report,
    ReportOutcome,
    ReportStatus,
    SpaceBan,
)
from rooms.exceptions import CannotModerateCohost, CannotModerateHost, CannotTargetSelf, NotHost
from rooms.models import STAGE_ROLES, Participant, Role, Space, SpaceState
from rooms.selectors import access_space_for_host_team
from rooms.services._common import audit, lock_participant, lock_space
from rooms.services.lifecycle import space_end
from rooms.services.moderation import cohost_rows_revoke, participant_eject
from spaces_project.realtime.publish import Audience, publish_on_commit

logger = logging.getLogger(__name__)

STAFF = "staff"
NOTIFICATION = "notification"  # personal-channel event type shared with reminders (docs/protocol.md)
BAN_SCOPES = ("space", "host")

OUTCOME_TEXT = {
    ReportOutcome.DISMISSED: "We reviewed your report and found no violation of the rules.",
    ReportOutcome.WARNED: "We reviewed your report and warned the account.",
    ReportOutcome.SUSPENDED: "We reviewed your report and suspended the account.",
    ReportOutcome.SPACE_ENDED: "We reviewed your report and ended the Space.",
}


# --- ban lists --------------------------------------------------------------------------------------


def _check_ban_target(*, space: Space, actor: User, actor_role: str, target: User) -> None:
    if target.pk == actor.pk:
        raise CannotTargetSelf()
    if target.pk == space.host_id:
        raise CannotModerateHost()
    if actor_role != Role.HOST and Participant.objects.filter(space=space, user=target, role=Role.COHOST).exists():
        raise CannotModerateCohost()


def _eject_if_present(
    *, space_id: int, actor: User | None, actor_role: str, user_id: int, ban: str | None, reason: str
) -> bool:
    """Take ``user_id`` out of a live Space if they are in it (connected or on stage); True if they were."""
    space = lock_space(space_id=space_id)
    if space.state != SpaceState.LIVE:
        return False
    participant = lock_participant(space=space, user_id=user_id)
    if participant is None or not (participant.is_connected or participant.role in STAGE_ROLES):
        return False
    if participant.role == Role.HOST:
        return False  # a host is never ejected from their own Space; suspension ends it instead
    participant_eject(space=space, participant=participant, actor=actor, actor_role=actor_role, ban=ban, reason=reason)
    return True


def _host_ban_enforce(*, host_id: int, actor: User, actor_role: str, user_id: int, reason: str) -> None:
    """Eject a newly host-banned user from the host's live Space (at most one), if they are in it."""
    for live_id in Space.objects.filter(host_id=host_id, state=SpaceState.LIVE).values_list("pk", flat=True):
        _eject_if_present(
            space_id=live_id, actor=actor, actor_role=actor_role, user_id=user_id, ban="host", reason=reason
        )


@transaction.atomic
def space_ban_create(
    *, space_id: int, actor: User, target: User, scope: str = "space", reason: str = ""
) -> tuple[SpaceBan | HostBan, bool]:
    """Ban ``target`` from this Space (``scope="space"``) or from all of its host's Spaces (``"host"``).

    Host team only: the host in any state, a co-host while the Space is live (they use the host's list
    while they co-host; ``rooms.selectors.host_team_role``). Idempotent: returns the ban and whether it
    is new. A target who is in the live Space is ejected at once (LiveKit and sockets); a target's co-host
    rows in Spaces that are not live become a listener's (``cohost_rows_revoke``). Writes a ``ban``
    audit row. Locks the Space row.
    """
    space = lock_space(space_id=space_id)
    actor_role = access_space_for_host_team(space=space, user=actor)
    _check_ban_target(space=space, actor=actor, actor_role=actor_role, target=target)
    ban: SpaceBan | HostBan
    if scope == "host":
        ban, created = HostBan.objects.get_or_create(
            host_id=space.host_id, user=target, defaults={"banned_by": actor, "reason": reason}
        )
    else:
        ban, created = SpaceBan.objects.get_or_create(
            space=space, user=target, defaults={"banned_by": actor, "reason": reason}
        )
    if not created:
        return ban, False
    ejected = _eject_if_present(
        space_id=space.pk, actor=actor, actor_role=actor_role, user_id=target.pk, ban=scope, reason=reason
    )
    revoke_where = {"host_id": space.host_id} if scope == "host" else {"space_id": space.pk}
    cohost_rows_revoke(user_id=target.pk, actor=actor, actor_role=actor_role, cause=f"{scope}_ban", **revoke_where)
    if not ejected:
        audit(
            space=space,
            actor=actor,
            actor_role=actor_role,
            action="ban",
            target=target,
            reason=reason,
            details={"scope": scope},
        )
    if scope == "host":
        _host_ban_enforce(host_id=space.host_id, actor=actor, actor_role=actor_role, user_id=target.pk, reason=reason)
    logger.info("ban.created", extra={"space_id": space.pk, "user_id": target.pk, "scope": scope})
    return ban, True


@transaction.atomic
def space_ban_lift(*, space_id: int, actor: User, target: User, scope: str = "space") -> None:
    """Lift a Space ban (host team, as in ``space_ban_create``) or a host-wide ban (the host only).

    Writes an ``unban`` audit row."""
    space = lock_space(space_id=space_id)
    actor_role = access_space_for_host_team(space=space, user=actor)
    if scope == "host":
        if actor_role != Role.HOST:
            raise NotHost("Only the host can lift a ban from their ban list.")
        deleted, _ = HostBan.objects.filter(host_id=space.host_id, user=target).delete()
    else:
        deleted, _ = SpaceBan.objects.filter(space=space, user=target).delete()
    if not deleted:
        raise BanNotFound()
    audit(space=space, actor=actor, actor_role=actor_role, action="unban", target=target, details={"scope": scope})


@transaction.atomic
def host_ban_create(*, host: User, target: User, reason: str = "") -> tuple[HostBan, bool]:
    """Add ``target`` to ``host``'s own ban list (all their Spaces); ejects them from a live one at once."""
    if target.pk == host.pk:
        raise CannotTargetSelf()
    ban, created = HostBan.objects.get_or_create(host=host, user=target, defaults={"banned_by": host, "reason": reason})
    if created:
        audit(
            space=None,
            actor=host,
            actor_role=Role.HOST,
            action="ban",
            target=target,
            reason=reason,
            details={"scope": "host"},
        )
        _host_ban_enforce(host_id=host.pk, actor=host, actor_role=Role.HOST, user_id=target.pk, reason=reason)
        cohost_rows_revoke(user_id=target.pk, actor=host, actor_role=Role.HOST, host_id=host.pk, cause="host_ban")
    return ban, created


@transaction.atomic
def host_ban_lift(*, host: User, target: User) -> None:
    """Remove ``target`` from ``host``'s ban list. Writes an ``unban`` audit row."""
    deleted, _ = HostBan.objects.filter(host=host, user=target).delete()
    if not deleted:
        raise BanNotFound()
    audit(space=None, actor=host, actor_role=Role.HOST, action="unban", target=target, details={"scope": "host"})


# --- notices ----------------------------------------------------------------------------------------


def notice_send(*, user_id: int, kind: str, text: str, report: Report | None = None) -> Notice:
    """Record a notice to one user and push it to their personal channel on commit."""
    notice = Notice.objects.create(user_id=user_id, kind=kind, text=text, report=report)
    publish_on_commit(
        type=NOTIFICATION,
        data={"kind": kind, "notice_id": notice.pk, "text": text, "report_id": report.pk if report else None},
        audience=Audience.USER,
        user_ids=[user_id],
    )
    return notice


# --- staff actions on users -------------------------------------------------------------------------


@transaction.atomic
def user_warn(*, user_id: int, staff: User | None, text: str, report: Report | None = None) -> Notice:
    """Send a warning to a user (a notice they see in the app). Writes a ``warn`` audit row."""
    target = User.objects.get(pk=user_id)
    notice = notice_send(user_id=target.pk, kind=NoticeKind.WARNING, text=text, report=None)
    audit(
        space=None,
        actor=staff,
        actor_role=STAFF,
        action="warn",
        target=target,
        reason=text,
        details={"report_id": report.pk} if report else {},
    )
    return notice


@transaction.atomic
def user_suspend(
    *, user_id: int, staff: User | None, until: datetime | None = None, reason: str = "", report: Report | None = None
) -> User:
    """Suspend a user until ``until`` (``None`` = until lifted).

    Their live Spaces end, they are ejected from every Space they are in (LiveKit and sockets, on
    commit), and their login, tokens, sessions, joins and websockets are refused while it lasts
    (accounts.authentication, rooms.selectors.access_space_for_join). Writes a ``suspend`` audit row.
    Locks the user row, then each Space row.
    """
    target = User.objects.select_for_update().get(pk=user_id)
    user_set_suspension(user=target, suspended=True, until=until, reason=reason)
    details: dict[str, object] = {"until": until.isoformat() if until else None}
    if report is not None:
        details["report_id"] = report.pk
    audit(space=None, actor=staff, actor_role=STAFF, action="suspend", target=target, reason=reason, details=details)
    for space_id in Space.objects.filter(host=target, state=SpaceState.LIVE).values_list("pk", flat=True):
        space_end(space_id=space_id, actor=staff, reason="host_suspended", actor_role=STAFF)
    in_spaces = (
        Participant.objects.filter(user=target, space__state=SpaceState.LIVE)
        .filter(Q(is_connected=True) | Q(role__in=STAGE_ROLES))
        .exclude(space__host=target)
        .values_list("space_id", flat=True)
    )
    for space_id in sorted(in_spaces):
        _eject_if_present(
            space_id=space_id, actor=staff, actor_role=STAFF, user_id=target.pk, ban=None, reason="account_suspended"
        )
    logger.info("moderation.user_suspended", extra={"user_id": target.pk, "until": details["until"]})
    return target


@transaction.atomic
def user_unsuspend(*, user_id: int, staff: User | None, reason: str = "") -> User:
    """Lift a suspension: tokens work again without a new login. Writes an ``unsuspend`` audit row."""
    target = User.objects.select_for_update().get(pk=user_id)
    user_set_suspension(user=target, suspended=False)
    audit(space=None, actor=staff, actor_role=STAFF, action="unsuspend", target=target, reason=reason)
    return target


# --- reports ----------------------------------------------------------------------------------------


def report_create(
    *, reporter: User, category: str, text: str = "", target_user: User | None = None, target_space: Space | None = None
) -> Report:
    """File a report of a user or a Space. One open report per reporter and target.

    Raises ``cannot_report_self`` and ``report_already_open`` (with the open report's id).
    """
    if target_user is not None and target_user.pk == reporter.pk:
        raise CannotReportSelf()
    if target_space is not None and target_space.host_id == reporter.pk:
        raise CannotReportSelf("You cannot report your own Space.")
    open_reports = Report.objects.filter(reporter=reporter, status=ReportStatus.OPEN)
    if target_user is not None:
        existing = open_reports.filter(target_user=target_user).first()
    else:
        existing = open_reports.filter(target_space=target_space).first()
    if existing is not None:
        raise ReportAlreadyOpen(extra={"report_id": existing.pk})
    try:
        with transaction.atomic():
            report = Report.objects.create(
                reporter=reporter, category=category, text=text, target_user=target_user, target_space=target_space
            )
    except IntegrityError:  # a concurrent twin won the partial unique constraint
        raise ReportAlreadyOpen() from None
    logger.info("report.created", extra={"report_id": report.pk, "category": category})
    return report


@dataclass(frozen=True)
class ReportDecision:
    action: str  # dismiss, warn, suspend, end_space
    note: str = ""
    until: datetime | None = None
    warning_text: str = ""


REPORT_ACTIONS = ("dismiss", "warn", "suspend", "end_space")


def _accountable_user_id(report: Report) -> int:
    """The user a warning or suspension applies to: the reported user, or the reported Space's host."""
    if report.target_user_id is not None:
        return report.target_user_id
    assert report.target_space is not None
    return report.target_space.host_id


def _live_space_of(report: Report) -> int | None:
    if report.target_space_id is not None:
        return report.target_space_id if report.target_space and report.target_space.state == SpaceState.LIVE else None
    return (
        Space.objects.filter(host_id=report.target_user_id, state=SpaceState.LIVE).values_list("pk", flat=True).first()
    )


def _same_target_open(report: Report) -> list[Report]:
    qs = Report.objects.select_for_update().filter(status=ReportStatus.OPEN)
    if report.target_user_id is not None:
        qs = qs.filter(target_user_id=report.target_user_id)
    else:
        qs = qs.filter(target_space_id=report.target_space_id)
    return list(qs.order_by("pk"))


def _close_reports(*, reports: list[Report], staff: User | None, status: str, outcome: str, note: str) -> None:
    now = timezone.now()
    for r in reports:
        r.status, r.outcome, r.staff_note, r.resolved_by, r.resolved_at = status, outcome, note, staff, now
        r.save(update_fields=["status", "outcome", "staff_note", "resolved_by", "resolved_at"])
        notice_send(
            user_id=r.reporter_id, kind=NoticeKind.REPORT_OUTCOME, text=OUTCOME_TEXT[ReportOutcome(outcome)], report=r
        )


@transaction.atomic
def report_resolve(*, report_id: int, staff: User | None, decision: ReportDecision) -> Report:
    """Staff decide a report: dismiss it, warn, suspend (until a date or for good), or end the Space.

    A dismissal closes this report only; an action closes every open report of the same target with
    the same outcome. Every reporter gets a ``report_outcome`` notice. Raises ``report_not_open`` and
    ``action_not_applicable``. Writes audit rows for the action (and ``report_dismiss``).
    """
    report = Report.objects.select_for_update(of=("self",)).select_related("target_space").filter(pk=report_id).first()
    if report is None or report.status != ReportStatus.OPEN:
        raise ReportNotOpen()
    details = {"report_id": report.pk}
    if decision.action == "dismiss":
        audit(
            space=report.target_space,
            actor=staff,
            actor_role=STAFF,
            action="report_dismiss",
            target=report.target_user,
            reason=decision.note,
            details=details,
        )
        _close_reports(
            reports=[report],
            staff=staff,
            status=ReportStatus.DISMISSED,
            outcome=ReportOutcome.DISMISSED,
            note=decision.note,
        )
        return report
    if decision.action == "warn":
        text = decision.warning_text or "Staff reviewed a report about you. Please follow the community rules."
        user_warn(user_id=_accountable_user_id(report), staff=staff, text=text, report=report)
        outcome = ReportOutcome.WARNED
    elif decision.action == "suspend":
        user_suspend(
            user_id=_accountable_user_id(report),
            staff=staff,
            until=decision.until,
            reason=decision.note or f"report {report.pk}",
            report=report,
        )
        outcome = ReportOutcome.SUSPENDED
    elif decision.action == "end_space":
        space_id = _live_space_of(report)
        if space_id is None:
            raise ReportActionNotApplicable("There is no live Space to end for this report.")
        space_end(space_id=space_id, actor=staff, reason=decision.note or f"report {report.pk}", actor_role=STAFF)
        outcome = ReportOutcome.SPACE_ENDED
    else:
        raise ReportActionNotApplicable(extra={"actions": list(REPORT_ACTIONS)})
    _close_reports(
        reports=_same_target_open(report),
        staff=staff,
        status=ReportStatus.ACTIONED,
        outcome=outcome,
        note=decision.note,
    )
    report.refresh_from_db()
    return report
