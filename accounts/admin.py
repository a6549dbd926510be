from __future__ import annotations

from datetime import datetime

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.models import Block, Follow, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = [
        "username",
        "display_name",
        "follower_count",
        "following_count",
        "host_override",
        "is_suspended",
        "suspended_until",
        "is_staff",
        "date_joined",
    ]
    list_filter = ["is_suspended", "host_override", "is_staff", "is_active"]
    search_fields = ["username", "display_name", "email"]
    # Suspension changes only through the actions (the service ends Spaces and writes the audit log).
    readonly_fields = ["follower_count", "following_count", "is_suspended", "suspended_until", "suspension_reason"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Profile", {"fields": ("display_name", "bio", "avatar_url", "follower_count", "following_count")}),
        ("Hosting and trust", {"fields": ("host_override", "is_suspended", "suspended_until", "suspension_reason")}),
    )
    actions = ["suspend_users", "unsuspend_users", "grant_host_override"]

    @admin.action(description="Suspend selected users (until a date, or permanently)…")
    def suspend_users(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        # Through the moderation service: ends their live Spaces, ejects them, writes the audit row.
        from moderation.admin import suspend_form_view
        from moderation.services import user_suspend

        staff = request.user if isinstance(request.user, User) else None

        def apply(until: datetime | None, reason: str) -> int:
            for user in queryset:
                user_suspend(user_id=user.pk, staff=staff, until=until, reason=reason or f"suspended by {staff}")
            return queryset.count()

        labels = [u.username for u in queryset]
        return suspend_form_view(self, request, queryset, action="suspend_users", labels=labels, apply=apply)

    @admin.action(description="Lift suspension of selected users")
    def unsuspend_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        from moderation.services import user_unsuspend

        staff = request.user if isinstance(request.user, User) else None
        for user in queryset:
            user_unsuspend(user_id=user.pk, staff=staff)
        self.message_user(request, f"Lifted suspension of {queryset.count()} user(s).", messages.SUCCESS)

    @admin.action(description="Grant host override (may host below the follower threshold)")
    def grant_host_override(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        updated = queryset.update(host_override=True)
        self.message_user(request, f"Granted host override to {updated} user(s).", messages.SUCCESS)


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin[Follow]):
    list_display = ["follower", "followee", "created_at"]
    search_fields = ["follower__username", "followee__username"]
    raw_id_fields = ["follower", "followee"]


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin[Block]):
    list_display = ["blocker", "blocked", "created_at"]
    search_fields = ["blocker__username", "blocked__username"]
    raw_id_fields = ["blocker", "blocked"]
