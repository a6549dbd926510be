"""Thin API views for recordings: the host's switch, a participant's consent."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from rooms.api.serializers import (
    ParticipantOutputSerializer,
    RecordingConsentInputSerializer,
    RecordingSwitchInputSerializer,
)
from rooms.models import Participant
from rooms.services import recordings


def _me(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


class RecordingSwitchView(APIView):
    """``POST /spaces/{id}/recording {"on": true|false}``: host only, before or during the Space."""

    @extend_schema(request=RecordingSwitchInputSerializer, responses={200: None})
    def post(self, request: Request, space_id: int) -> Response:
        data = RecordingSwitchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = recordings.recording_set(space_id=space_id, actor=_me(request), on=data.validated_data["on"])
        return Response({"space_id": space.pk, "recording": space.record})


class RecordingConsentView(APIView):
    """``PUT /spaces/{id}/recording/consent {"record": false}``: leave my voice out of the recording."""

    @extend_schema(request=RecordingConsentInputSerializer, responses=ParticipantOutputSerializer)
    def put(self, request: Request, space_id: int) -> Response:
        data = RecordingConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = recordings.recording_consent_set(
            space_id=space_id, user=_me(request), record=data.validated_data["record"]
        )
        participant = Participant.objects.select_related("user").get(pk=participant.pk)
        return Response(ParticipantOutputSerializer(participant).data)
