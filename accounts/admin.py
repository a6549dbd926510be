from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
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
    readonly_fields = ["follower_count", "following_count"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Profile", {"fields": ("display_name", "bio", "avatar_url", "follower_count", "following_count")}),
        ("Hosting and trust", {"fields": ("host_override", "is_suspended", "suspended_until", "suspension_reason")}),
    )
    actions = ["suspend_users", "unsuspend_users", "grant_host_override"]

    @admin.action(description="Suspend selected users (permanent until lifted)")
    def suspend_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.user_set_suspension(user=user, suspended=True, reason=f"suspended by {request.user}")
        self.message_user(request, f"Suspended {queryset.count()} user(s).", messages.SUCCESS)

    @admin.action(description="Lift suspension of selected users")
    def unsuspend_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.user_set_suspension(user=user, suspended=False)
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
