"""Bans and the append-only moderation audit log. Data and constraints only."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
