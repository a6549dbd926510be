"""Thin API views for recordings: the host's switch, a participant's consent, the replay (info, audio
with byte ranges, delete)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth import request_user as _me
from rooms import selectors
from rooms.api.serializers import (
    ParticipantOutputSerializer,
    RecordingConsentInputSerializer,
    RecordingSwitchInputSerializer,
)
from rooms.audio import CONTENT_TYPE
from rooms.models import Recording
from rooms.services import recordings, replays


def recording_payload(recording: Recording) -> dict[str, Any]:
    space_id = recording.space_id
    return {
        "space_id": space_id,
        "state": recording.state,
        "started_at": recording.started_at,
        "ended_at": recording.ended_at,
        "duration_ms": recording.duration_ms,
        "size_bytes": recording.size_bytes,
        "content_type": CONTENT_TYPE,
        "audio_url": f"/api/v1/spaces/{space_id}/recording/audio" if recording.state == "ready" else None,
        "share_url": f"{settings.SPACES_PUBLIC_URL}/s/{space_id}",
        "timeline": selectors.recording_timeline(recording=recording),
    }


class RecordingSwitchView(APIView):
    """``POST /spaces/{id}/recording {"on": true|false}``: host only, before or during the Space.
    ``GET``: the recording (state, duration, timeline, audio URL) for whoever may hear it.
    ``DELETE``: the host deletes it (files included) once the Space has ended."""

    openapi_error_statuses = {"GET": (402,)}  # ticket_required (a ticketed Space's replay)

    @extend_schema(responses={200: None})
    def get(self, request: Request, space_id: int) -> Response:
        recording = selectors.recording_visible(space_id=space_id, user=_me(request))
        return Response(recording_payload(recording))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, space_id: int) -> Response:
        replays.recording_delete(space_id=space_id, actor=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

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
        return Response(ParticipantOutputSerializer(participant).data)


class RecordingAudioView(APIView):
    """``GET /spaces/{id}/recording/audio``: the replay (Ogg Opus), with ``Range`` requests (206)."""

    # ticket_required; recording_not_ready (still recording, failed); range_not_satisfiable
    openapi_error_statuses = (402, 409, 416)

    @extend_schema(responses={200: None, 206: None})
    def get(self, request: Request, space_id: int) -> StreamingHttpResponse:
        recording = selectors.recording_visible(space_id=space_id, user=_me(request))
        rng = replays.replay_open(recording=recording, range_header=request.headers.get("Range", ""))
        return ranged_response(name=recording.file, rng=rng)


def ranged_response(*, name: str, rng: replays.ByteRange) -> StreamingHttpResponse:
    """A stored audio file, whole (200) or one byte range (206), as mobile players and browsers ask."""
    response = StreamingHttpResponse(
        replays.file_stream(name=name, rng=rng),
        status=status.HTTP_206_PARTIAL_CONTENT if rng.partial else status.HTTP_200_OK,
        content_type=CONTENT_TYPE,
    )
    response["Accept-Ranges"] = "bytes"
    response["Content-Length"] = str(rng.length)
    response["Cache-Control"] = "private, max-age=3600"
    if rng.partial:
        response["Content-Range"] = f"bytes {rng.start}-{rng.end}/{rng.size}"
    return response


class SpaceSummaryView(APIView):
    """``GET /spaces/{id}/summary``: the host team's figures for a live or ended Space."""

    openapi_error_statuses = (409,)  # space_not_live: it never started

    @extend_schema(responses={200: None})
    def get(self, request: Request, space_id: int) -> Response:
        from rooms.summary import space_summary

        return Response(space_summary(space_id=space_id, user=_me(request)))
