"""Reads for trust & safety: ban lists, the audit log of a Space, a user's reports and notices."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from moderation.models import HostBan, ModerationAction, Notice, Report, SpaceBan
from rooms.models import Space
from rooms.selectors import access_space_for_host_team


def access_space_for_moderation(*, space: Space, user: User) -> str:
    """Raise ``not_host_team`` unless ``user`` is the host or a current co-host; returns their role.

    Staff are not exempt here: they work in the admin, where they see everything.
    """
    return access_space_for_host_team(space=space, user=user)


def moderation_log_of(*, space: Space) -> QuerySet[ModerationAction]:
    return ModerationAction.objects.filter(space=space).select_related("actor", "target")


def space_bans_of(*, space: Space) -> QuerySet[SpaceBan]:
    return SpaceBan.objects.filter(space=space).select_related("user", "banned_by")


def host_bans_of(*, host_id: int) -> QuerySet[HostBan]:
    return HostBan.objects.filter(host_id=host_id).select_related("user", "banned_by")


def reports_of(*, reporter: User) -> QuerySet[Report]:
    return Report.objects.filter(reporter=reporter).select_related("target_user", "target_space")


def notices_of(*, user: User) -> QuerySet[Notice]:
    return Notice.objects.filter(user=user)
