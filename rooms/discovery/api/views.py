"""Thin API views for discovery and the room extras: feeds, browse, reminders, reactions, host inbox."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.api.auth import request_user as _me
from accounts.api.serializers import UserBriefSerializer
from rooms import selectors
from rooms.api.serializers import SpaceOutputSerializer
from rooms.api.views import SpaceCreateView
from rooms.discovery.selectors import feeds
from rooms.discovery.services import room_extras as discovery
from rooms.models import HostMessage, Notification
from spaces_project.common.pagination import CheckedCursorPagination, CreatedCursorPagination

# --- serializers ------------------------------------------------------------------------------------


class BrowseInputSerializer(serializers.Serializer[dict[str, Any]]):
    state = serializers.ChoiceField(choices=[s.value for s in feeds.BROWSE_STATES], required=False)
    topic = serializers.CharField(max_length=30, required=False, allow_blank=True)
    q = serializers.CharField(max_length=100, required=False, allow_blank=True)


class StageBriefSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()
    role = serializers.CharField()


class LiveNowOutputSerializer(SpaceOutputSerializer):
    """The shape of a live-now item (the view builds it directly: the home screen's hot path)."""

    followed_on_stage = StageBriefSerializer(many=True, read_only=True)
    followed_count = serializers.IntegerField(read_only=True)

    class Meta(SpaceOutputSerializer.Meta):
        fields = [*SpaceOutputSerializer.Meta.fields, "followed_on_stage", "followed_count"]
        read_only_fields = fields


def _live_now_item(space_data: dict[str, Any], item: feeds.LiveNowItem) -> dict[str, Any]:
    on_stage = [asdict(member) for member in item.followed_on_stage]
    return {**space_data, "followed_on_stage": on_stage, "followed_count": item.followed_count}


class UpcomingOutputSerializer(SpaceOutputSerializer):
    reminded = serializers.BooleanField(read_only=True)

    class Meta(SpaceOutputSerializer.Meta):
        fields = [*SpaceOutputSerializer.Meta.fields, "reminded"]
        read_only_fields = fields


class ReactionInputSerializer(serializers.Serializer[dict[str, Any]]):
    emoji = serializers.ChoiceField(choices=list(discovery.REACTION_EMOJI))


class MessageInputSerializer(serializers.Serializer[dict[str, Any]]):
    text = serializers.CharField(max_length=discovery.MESSAGE_MAX_LEN, trim_whitespace=True)


class MessageOutputSerializer(serializers.ModelSerializer[HostMessage]):
    sender = UserBriefSerializer(read_only=True)

    class Meta:
        model = HostMessage
        fields = ["id", "space_id", "sender", "text", "created_at"]
        read_only_fields = fields


class LiveNowListOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """The whole live-now row (not paginated: the feed caps it)."""

    results = LiveNowOutputSerializer(many=True)


class ReminderOutputSerializer(serializers.Serializer[dict[str, Any]]):
    space_id = serializers.IntegerField()
    reminded = serializers.BooleanField()


class ReactionOutputSerializer(serializers.Serializer[dict[str, Any]]):
    emoji = serializers.CharField()
    broadcast = serializers.BooleanField(help_text="False when the Space's reaction rate was past its cap.")


class NotificationOutputSerializer(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = ["id", "kind", "space_id", "data", "created_at", "read_at"]
        read_only_fields = fields


class UpcomingCursorPagination(CheckedCursorPagination):
    ordering = ("scheduled_start", "id")


# --- views ------------------------------------------------------------------------------------------


class SpaceCollectionView(SpaceCreateView):
    """``POST /spaces`` creates (see ``SpaceCreateView``); ``GET /spaces`` browses live and scheduled Spaces."""

    pagination_class = CreatedCursorPagination

    @extend_schema(
        parameters=[BrowseInputSerializer],
        responses=SpaceOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        data = BrowseInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        qs = feeds.spaces_browse(user=_me(request), **data.validated_data)
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response(SpaceOutputSerializer(page, many=True).data)


class LiveNowView(APIView):
    """The live-now row: live Spaces where people the user follows are on stage, best first."""

    @extend_schema(responses=LiveNowListOutputSerializer)
    def get(self, request: Request) -> Response:
        items = feeds.live_now_for(user=_me(request))
        spaces = SpaceOutputSerializer([item.space for item in items], many=True).data
        return Response({"results": [_live_now_item(d, item) for d, item in zip(spaces, items, strict=True)]})


class UpcomingView(APIView):
    pagination_class = UpcomingCursorPagination

    @extend_schema(responses=UpcomingOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = UpcomingCursorPagination()
        page = paginator.paginate_queryset(feeds.upcoming_for(user=_me(request)), request, view=self) or []
        return paginator.get_paginated_response(UpcomingOutputSerializer(page, many=True).data)


class ReminderView(APIView):
    @extend_schema(request=None, responses={201: ReminderOutputSerializer})
    def post(self, request: Request, space_id: int) -> Response:
        discovery.reminder_set(space_id=space_id, user=_me(request))
        return Response({"space_id": space_id, "reminded": True}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, space_id: int) -> Response:
        discovery.reminder_unset(space_id=space_id, user=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReactionView(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "reaction"

    @extend_schema(request=ReactionInputSerializer, responses={202: ReactionOutputSerializer})
    def post(self, request: Request, space_id: int) -> Response:
        data = ReactionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        emoji = data.validated_data["emoji"]
        sent = discovery.reaction_send(space_id=space_id, user=_me(request), emoji=emoji)
        return Response({"emoji": emoji, "broadcast": sent}, status=status.HTTP_202_ACCEPTED)


class MessagesView(APIView):
    """``POST``: a participant writes to the host team (rate-limited). ``GET``: the host team's inbox."""

    throttle_scope = "message"
    pagination_class = CreatedCursorPagination

    def get_throttles(self) -> list[Any]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else super().get_throttles()

    @extend_schema(request=MessageInputSerializer, responses={201: MessageOutputSerializer})
    def post(self, request: Request, space_id: int) -> Response:
        data = MessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        msg = discovery.host_message_send(space_id=space_id, user=_me(request), text=data.validated_data["text"])
        return Response(MessageOutputSerializer(msg).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
        responses=MessageOutputSerializer(many=True),
    )
    def get(self, request: Request, space_id: int) -> Response:
        space = selectors.space_get(space_id=space_id)
        selectors.access_space_for_host_team(space=space, user=_me(request))
        qs = HostMessage.objects.filter(space=space).select_related("sender")
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response(MessageOutputSerializer(page, many=True).data)


class NotificationsView(APIView):
    """The user's notifications, newest first (reminders: started, rescheduled, canceled)."""

    pagination_class = CreatedCursorPagination

    @extend_schema(responses=NotificationOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = Notification.objects.filter(user=_me(request))
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response(NotificationOutputSerializer(page, many=True).data)
