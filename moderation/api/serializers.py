"""Input and output shapes of the trust & safety API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.api.serializers import UserBriefSerializer
from moderation.models import BAN_SCOPES, HostBan, ModerationAction, Notice, Report, ReportCategory, SpaceBan


class ReportInputSerializer(serializers.Serializer[dict[str, Any]]):
    """Exactly one of ``username`` (report a user) and ``space_id`` (report a Space)."""

    username = serializers.CharField(max_length=150, required=False)
    space_id = serializers.IntegerField(min_value=1, required=False)
    category = serializers.ChoiceField(choices=ReportCategory.choices)
    text = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("username" in attrs) == ("space_id" in attrs):
            raise serializers.ValidationError("Give exactly one of username (a user) or space_id (a Space).")
        return attrs


class ReportOutputSerializer(serializers.ModelSerializer[Report]):
    target_user = UserBriefSerializer(read_only=True, allow_null=True)
    target_space_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "target_user",
            "target_space_id",
            "category",
            "text",
            "status",
            "outcome",
            "created_at",
            "resolved_at",
        ]
        read_only_fields = fields


class NoticeOutputSerializer(serializers.ModelSerializer[Notice]):
    report_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Notice
        fields = ["id", "kind", "text", "report_id", "created_at", "read_at"]
        read_only_fields = fields


class ModerationActionOutputSerializer(serializers.ModelSerializer[ModerationAction]):
    actor = UserBriefSerializer(read_only=True, allow_null=True)
    target = UserBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ModerationAction
        fields = ["id", "action", "actor", "actor_role", "target", "reason", "details", "created_at"]
        read_only_fields = fields


class BanInputSerializer(serializers.Serializer[dict[str, Any]]):
    username = serializers.CharField(max_length=150)
    scope = serializers.ChoiceField(choices=list(BAN_SCOPES), default="space")
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class HostBanInputSerializer(serializers.Serializer[dict[str, Any]]):
    username = serializers.CharField(max_length=150)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class BanScopeQuerySerializer(serializers.Serializer[dict[str, Any]]):
    scope = serializers.ChoiceField(choices=list(BAN_SCOPES), default="space")


class BanOutputSerializer(serializers.Serializer[SpaceBan | HostBan]):
    user = UserBriefSerializer(read_only=True)
    banned_by = UserBriefSerializer(read_only=True, allow_null=True)
    reason = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    scope = serializers.SerializerMethodField()

    def get_scope(self, ban: SpaceBan | HostBan) -> str:
        return "host" if isinstance(ban, HostBan) else "space"
