"""Thin API views for clips: cut one (live or from the replay), read it, play it (byte ranges)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.models import User
from rooms.api.recording_views import ranged_response
from rooms.models import Clip
from rooms.services import clips, replays


class ClipInputSerializer(serializers.Serializer[dict[str, Any]]):
    start_ms = serializers.IntegerField(min_value=0, required=False)
    end_ms = serializers.IntegerField(min_value=1, required=False)
    last_s = serializers.IntegerField(min_value=1, max_value=60, required=False)
    title = serializers.CharField(max_length=100, allow_blank=True, required=False, default="")


def clip_payload(clip: Clip) -> dict[str, Any]:
    return {
        "id": clip.pk,
        "space_id": clip.space_id,
        "title": clip.title,
        "creator": clip.creator.username,
        "start_ms": clip.start_ms,
        "end_ms": clip.end_ms,
        "duration_ms": clip.end_ms - clip.start_ms,
        "audio_url": f"/api/v1/clips/{clip.pk}/audio",
        "page_url": f"{settings.SPACES_PUBLIC_URL}/c/{clip.pk}",
        "created_at": clip.created_at,
    }


def _viewer(request: Request) -> User | None:
    return request.user if isinstance(request.user, User) else None


class ClipCreateView(APIView):
    """``POST /spaces/{id}/clips``: ``{"last_s": 30}`` while live, or ``{"start_ms", "end_ms"}`` (≤ 60 s)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "clip"
    openapi_error_statuses = (402,)  # ticket_required: a clip is cut from a replay the caller may hear

    @extend_schema(request=ClipInputSerializer, responses={201: None})
    def post(self, request: Request, space_id: int) -> Response:
        data = ClipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _viewer(request)
        assert user is not None
        clip = clips.clip_create(space_id=space_id, user=user, **data.validated_data)
        return Response(clip_payload(clip), status=status.HTTP_201_CREATED)


class ClipDetailView(APIView):
    permission_classes = [AllowAny]
    openapi_error_statuses = (402,)  # ticket_required: a ticketed Space's clip needs what its replay needs

    @extend_schema(responses={200: None})
    def get(self, request: Request, clip_id: int) -> Response:
        return Response(clip_payload(clips.clip_visible(clip_id=clip_id, user=_viewer(request))))


class ClipAudioView(APIView):
    permission_classes = [AllowAny]
    openapi_error_statuses = (402, 416)  # ticket_required; range_not_satisfiable

    @extend_schema(responses={200: None, 206: None})
    def get(self, request: Request, clip_id: int) -> StreamingHttpResponse:
        clip = clips.clip_visible(clip_id=clip_id, user=_viewer(request))
        rng = replays.byte_range(request.headers.get("Range", ""), clip.size_bytes)
        return ranged_response(name=clip.file, rng=rng)
