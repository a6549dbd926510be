"""Bans and the append-only moderation audit log. Data and constraints only."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# What a ban covers: one Space, or every Space of its host (the host's ban list).
BAN_SCOPES = ("space", "host")


class SpaceBan(models.Model):
    """A user banned from one Space."""

    space = models.ForeignKey("rooms.Space", on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_bans")
    banned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "user"], name="spaceban_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} banned from space {self.space_id}"


class HostBan(models.Model):
    """A user banned from every Space of a host (the host's ban list)."""

    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="host_bans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="banned_by_hosts")
    banned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "user"], name="hostban_unique"),
            models.CheckConstraint(condition=~models.Q(host=models.F("user")), name="hostban_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} banned by host {self.host_id}"


class ModerationAction(models.Model):
    """Append-only audit row: who did what to whom, when and why. Never updated or deleted."""

    space = models.ForeignKey(
        "rooms.Space", null=True, blank=True, on_delete=models.SET_NULL, related_name="moderation_actions"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_role = models.CharField(max_length=10, blank=True)  # host, cohost, staff, system
    action = models.CharField(max_length=40)  # e.g. mute, mute_all, move_to_listeners, remove, ban, end
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["space", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action} {self.target_id} @ {self.space_id}"


class ReportCategory(models.TextChoices):
    SPAM = "spam"
    HARASSMENT = "harassment"
    HATE = "hate"
    VIOLENCE = "violence"
    SEXUAL = "sexual"
    SELF_HARM = "self_harm"
    IMPERSONATION = "impersonation"
    OTHER = "other"


class ReportStatus(models.TextChoices):
    OPEN = "open"
    DISMISSED = "dismissed"
    ACTIONED = "actioned"


class ReportOutcome(models.TextChoices):
    NONE = "", "pending"
    DISMISSED = "dismissed"
    WARNED = "warned"
    SUSPENDED = "suspended"
    SPACE_ENDED = "space_ended"


class Report(models.Model):
    """A report of a user or of a Space, reviewed by staff in the admin queue."""

    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_made")
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="reports_received"
    )
    target_space = models.ForeignKey(
        "rooms.Space", null=True, blank=True, on_delete=models.CASCADE, related_name="reports"
    )
    category = models.CharField(max_length=20, choices=ReportCategory.choices)
    text = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=ReportStatus.choices, default=ReportStatus.OPEN)
    outcome = models.CharField(max_length=20, choices=ReportOutcome.choices, default=ReportOutcome.NONE, blank=True)
    staff_note = models.CharField(max_length=500, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(target_user__isnull=False, target_space__isnull=True)
                    | models.Q(target_user__isnull=True, target_space__isnull=False)
                ),
                name="report_one_target",
            ),
            models.CheckConstraint(condition=~models.Q(reporter=models.F("target_user")), name="report_not_self"),
            models.UniqueConstraint(
                fields=["reporter", "target_user"],
                condition=models.Q(status="open", target_user__isnull=False),
                name="report_one_open_per_user_target",
            ),
            models.UniqueConstraint(
                fields=["reporter", "target_space"],
                condition=models.Q(status="open", target_space__isnull=False),
                name="report_one_open_per_space_target",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        target = f"user {self.target_user_id}" if self.target_user_id else f"space {self.target_space_id}"
        return f"report {self.pk} by {self.reporter_id} of {target} ({self.status})"


class NoticeKind(models.TextChoices):
    WARNING = "warning"
    REPORT_OUTCOME = "report_outcome"


class Notice(models.Model):
    """A message from the trust & safety team to one user: a warning, or the outcome of their report."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderation_notices")
    kind = models.CharField(max_length=20, choices=NoticeKind.choices)
    text = models.CharField(max_length=500)
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="notices")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} to {self.user_id}"
