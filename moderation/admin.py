"""Staff console for trust & safety: the report queue with its actions, the read-only audit log,
ban lists and notices. Every action calls a service, so admin and API follow the same rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.models import User
from moderation import services
from moderation.exceptions import ReportActionNotApplicable, ReportNotOpen
from moderation.models import HostBan, ModerationAction, Notice, Report, ReportStatus, SpaceBan


class SuspendForm(forms.Form):
    until = forms.DateTimeField(
        required=False,
        help_text="End of the suspension (UTC, e.g. 2026-12-31 18:00). Leave empty for a permanent suspension.",
    )
    reason = forms.CharField(max_length=200, required=False)

    def clean_until(self) -> datetime | None:
        until: datetime | None = self.cleaned_data.get("until")
        if until is not None and until <= timezone.now():
            raise forms.ValidationError("The end of a suspension must be in the future.")
        return until


def _staff(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


def suspend_form_view(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action: str,
    labels: list[str],
    apply: Callable[[datetime | None, str], int],
) -> HttpResponse | None:
    """The intermediate page of a suspend action: ask for an end date (or none) and a reason, then apply."""
    form = SuspendForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        done = apply(form.cleaned_data["until"], form.cleaned_data["reason"])
        until = form.cleaned_data["until"]
        modeladmin.message_user(
            request,
            f"Suspended {done} user(s) {'until ' + until.isoformat() if until else 'permanently'}.",
            messages.SUCCESS,
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Suspend user(s)",
        "form": form,
        "queryset": queryset,
        "targets": labels,
        "action": action,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/moderation/suspend.html", context)


class TargetTypeFilter(admin.SimpleListFilter):
    title = "target"
    parameter_name = "target"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("user", "a user"), ("space", "a Space")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "user":
            return queryset.filter(target_user__isnull=False)
        if self.value() == "space":
            return queryset.filter(target_space__isnull=False)
        return queryset


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin[Report]):
    list_display = ["id", "created_at", "category", "target", "reporter", "status", "outcome", "resolved_by"]
    list_filter = ["status", "category", "outcome", TargetTypeFilter, "created_at"]
    search_fields = ["reporter__username", "target_user__username", "target_space__title", "text"]
    raw_id_fields = ["reporter", "target_user", "target_space", "resolved_by"]
    readonly_fields = [f.name for f in Report._meta.fields]
    ordering = ["-created_at"]
    actions = ["dismiss_reports", "warn_targets", "suspend_targets", "end_spaces"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Report]:
        return super().get_queryset(request).select_related("reporter", "target_user", "target_space", "resolved_by")

    @admin.display(description="target")
    def target(self, report: Report) -> str:
        if report.target_user is not None:
            return f"user {report.target_user.username}"
        return f"Space {report.target_space}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False

    def _decide(self, request: HttpRequest, queryset: QuerySet[Report], decision: services.ReportDecision) -> int:
        done = 0
        for report_id in queryset.filter(status=ReportStatus.OPEN).order_by("pk").values_list("pk", flat=True):
            try:
                services.report_resolve(report_id=report_id, staff=_staff(request), decision=decision)
                done += 1
            except (ReportNotOpen, ReportActionNotApplicable) as exc:
                self.message_user(request, f"Report {report_id}: {exc.detail}", messages.WARNING)
        return done

    @admin.action(description="Dismiss selected reports (no violation)")
    def dismiss_reports(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        done = self._decide(request, queryset, services.ReportDecision(action="dismiss"))
        self.message_user(request, f"Dismissed {done} report(s).", messages.SUCCESS)

    @admin.action(description="Warn the reported user (or the reported Space's host)")
    def warn_targets(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        done = self._decide(request, queryset, services.ReportDecision(action="warn"))
        self.message_user(request, f"Warned for {done} report(s).", messages.SUCCESS)

    @admin.action(description="Suspend the reported user (or the reported Space's host)…")
    def suspend_targets(self, request: HttpRequest, queryset: QuerySet[Report]) -> HttpResponse | None:
        open_reports = queryset.filter(status=ReportStatus.OPEN)
        labels = [self.target(r) for r in open_reports]

        def apply(until: datetime | None, reason: str) -> int:
            decision = services.ReportDecision(action="suspend", until=until, note=reason)
            return self._decide(request, open_reports, decision)

        return suspend_form_view(self, request, open_reports, action="suspend_targets", labels=labels, apply=apply)

    @admin.action(description="End the reported Space (or the reported user's live Space)")
    def end_spaces(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        done = self._decide(request, queryset, services.ReportDecision(action="end_space"))
        self.message_user(request, f"Ended Spaces for {done} report(s).", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Staff see everything and change nothing here: these rows are written by services only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "actor", "actor_role", "target", "space", "reason"]
    list_filter = ["action", "actor_role", "created_at"]
    search_fields = ["actor__username", "target__username", "space__title", "reason"]
    ordering = ["-created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModerationAction]:
        return super().get_queryset(request).select_related("actor", "target", "space")


@admin.register(SpaceBan)
class SpaceBanAdmin(ReadOnlyAdmin):
    list_display = ["user", "space", "banned_by", "reason", "created_at"]
    search_fields = ["user__username", "space__title"]
    list_filter = ["created_at"]


@admin.register(HostBan)
class HostBanAdmin(ReadOnlyAdmin):
    list_display = ["user", "host", "banned_by", "reason", "created_at"]
    search_fields = ["user__username", "host__username"]
    list_filter = ["created_at"]


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ["user", "kind", "text", "report", "created_at", "read_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["user__username", "text"]
