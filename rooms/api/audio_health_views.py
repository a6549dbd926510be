"""Audio health: clients report "Can't hear?" and their self-heals; the operator and the host team read
the counters (rooms/services/audio_health.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth import request_user as _me
from rooms import selectors
from rooms.services import audio_health


class AudioReportInputSerializer(serializers.Serializer[dict[str, Any]]):
    kind = serializers.ChoiceField(choices=list(audio_health.KINDS))


class AudioHealthQuerySerializer(serializers.Serializer[dict[str, Any]]):
    space = serializers.IntegerField(min_value=1, required=False)


class AudioReportView(APIView):
    """``POST``: a participant reports a listening problem (``cant_hear``) or a self-heal the client did
    (``resubscribe``, ``rejoin``). ``GET``: the host team reads its Space's counters."""

    @extend_schema(request=AudioReportInputSerializer, responses={202: None})
    def post(self, request: Request, space_id: int) -> Response:
        data = AudioReportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kind = data.validated_data["kind"]
        counted = audio_health.audio_report(space_id=space_id, user=_me(request), kind=kind)
        return Response({"kind": kind, "counted": counted}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: None})
    def get(self, request: Request, space_id: int) -> Response:
        space = selectors.space_get(space_id=space_id)
        selectors.access_space_for_host_team(space=space, user=_me(request))
        return Response({"space_id": space.pk, "counts": audio_health.audio_health_counts(space_id=space.pk)})


class OpsAudioHealthView(APIView):
    """Staff only: the counters across all Spaces, or one Space's with ``?space=<id>``."""

    permission_classes = [IsAdminUser]

    @extend_schema(parameters=[OpenApiParameter("space", int)], responses={200: None})
    def get(self, request: Request) -> Response:
        query = AudioHealthQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        space_id = query.validated_data.get("space")
        return Response({"space_id": space_id, "counts": audio_health.audio_health_counts(space_id=space_id)})
