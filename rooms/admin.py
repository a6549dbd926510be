"""Staff console for Spaces: search, filters, the stage of each Space, and "end" as an action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from rooms import services
from rooms.models import (
    AgentLease,
    AgentWorker,
    HandRaise,
    HostMessage,
    Invitation,
    Notification,
    Participant,
    Recording,
    Reminder,
    Space,
    SpaceState,
)
from spaces_project.common.exceptions import ApplicationError


class ParticipantInline(admin.TabularInline[Participant, Space]):
    model = Participant
    extra = 0
    can_delete = False
    fields = ("user", "role", "is_connected", "is_muted", "is_speaking", "livekit_dirty", "joined_at", "left_at")
    readonly_fields = (
        "user",
        "role",
        "is_connected",
        "is_muted",
        "is_speaking",
        "livekit_dirty",
        "joined_at",
        "left_at",
    )
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Space | None = None) -> bool:
        return False


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin[Space]):
    list_display = ["id", "title", "host", "state", "listener_count", "scheduled_start", "started_at", "ended_at"]
    list_filter = ["state", "hls_forced"]
    search_fields = ["title", "host__username"]
    raw_id_fields = ["host"]
    # HLS overflow: the operator may force HLS for every listener, or set the Space's own threshold
    # (editable fields ``hls_forced``, ``hls_threshold``; docs/operations.md, "HLS and a CDN").
    readonly_fields = ["state", "started_at", "ended_at", "listener_count", "seq", "host_team_absent_since"]
    inlines = [ParticipantInline]
    actions = ["end_spaces"]

    @admin.action(description="End selected live Spaces (disconnects everyone)")
    def end_spaces(self, request: HttpRequest, queryset: QuerySet[Space]) -> None:
        staff = request.user
        assert isinstance(staff, User)
        ended = 0
        for space in queryset.filter(state=SpaceState.LIVE):
            try:
                services.space_end(space_id=space.pk, actor=staff, reason="ended by staff", actor_role="staff")
                ended += 1
            except ApplicationError as exc:
                self.message_user(request, f"{space}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"Ended {ended} Space(s).", messages.SUCCESS)


@admin.register(HandRaise)
class HandRaiseAdmin(admin.ModelAdmin[HandRaise]):
    list_display = ["space", "user", "state", "raised_at", "resolved_at"]
    list_filter = ["state"]
    raw_id_fields = ["space", "user", "resolved_by"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ["space", "inviter", "invitee", "role", "state", "created_at"]
    list_filter = ["state", "role"]
    raw_id_fields = ["space", "inviter", "invitee"]


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin[Reminder]):
    list_display = ["id", "space", "user", "created_at"]
    search_fields = ["space__title", "user__username"]
    raw_id_fields = ["space", "user"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin[Notification]):
    list_display = ["id", "user", "kind", "space", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["user__username", "space__title"]
    raw_id_fields = ["user", "space"]
    readonly_fields = ["user", "kind", "space", "key", "data", "created_at"]


@admin.register(HostMessage)
class HostMessageAdmin(admin.ModelAdmin[HostMessage]):
    """Messages to host teams, readable by staff reviewing a report."""

    list_display = ["id", "space", "sender", "text", "created_at"]
    search_fields = ["text", "sender__username", "space__title"]
    raw_id_fields = ["space", "sender"]
    readonly_fields = ["space", "sender", "text", "created_at"]


@admin.register(AgentWorker)
class AgentWorkerAdmin(admin.ModelAdmin[AgentWorker]):
    """Running audio agents: heartbeat, LiveKit health, how many Spaces each serves."""

    list_display = ["agent_id", "hostname", "pid", "livekit_ok", "spaces", "heartbeat_at", "last_error"]
    readonly_fields = [
        "agent_id",
        "hostname",
        "pid",
        "livekit_ok",
        "spaces",
        "heartbeat_at",
        "last_error",
        "started_at",
    ]


@admin.register(AgentLease)
class AgentLeaseAdmin(admin.ModelAdmin[AgentLease]):
    """Which agent holds which Space (until ``expires_at``)."""

    list_display = ["space", "agent_id", "epoch", "acquired_at", "expires_at"]
    readonly_fields = ["space", "agent_id", "epoch", "acquired_at", "expires_at"]


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin[Recording]):
    list_display = ["id", "space", "state", "started_at", "ended_at", "duration_ms", "size_bytes"]
    list_filter = ["state"]
    readonly_fields = ["space", "state", "started_at", "ended_at", "duration_ms", "file", "size_bytes", "ready_at"]
