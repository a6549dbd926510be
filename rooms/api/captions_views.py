"""Thin API views for live captions and transcripts: the host's switch, a participant's consent, the
transcript (JSON, WebVTT, edit, delete) and search by what was said (rooms/services/captions.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth import request_user as _me
from rooms import selectors
from rooms.api.serializers import ParticipantOutputSerializer
from rooms.services import captions


class CaptionsSwitchInputSerializer(serializers.Serializer[dict[str, Any]]):
    on = serializers.BooleanField()


class CaptionsConsentInputSerializer(serializers.Serializer[dict[str, Any]]):
    captions = serializers.BooleanField()


class TranscriptLineInputSerializer(serializers.Serializer[dict[str, Any]]):
    text = serializers.CharField(max_length=2000, trim_whitespace=True)


class CaptionsSwitchView(APIView):
    """``POST /spaces/{id}/captions {"on": true|false}``: host only, before or during the Space."""

    @extend_schema(request=CaptionsSwitchInputSerializer, responses={200: None})
    def post(self, request: Request, space_id: int) -> Response:
        data = CaptionsSwitchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = captions.captions_set(space_id=space_id, actor=_me(request), on=data.validated_data["on"])
        return Response({"space_id": space.pk, "captions": space.captions})


class CaptionsConsentView(APIView):
    """``PUT /spaces/{id}/captions/consent {"captions": false}``: never caption my voice."""

    @extend_schema(request=CaptionsConsentInputSerializer, responses=ParticipantOutputSerializer)
    def put(self, request: Request, space_id: int) -> Response:
        data = CaptionsConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = captions.captions_consent_set(
            space_id=space_id, user=_me(request), captions=data.validated_data["captions"]
        )
        return Response(
            {**ParticipantOutputSerializer(participant).data, "captions_declined": participant.captions_declined}
        )


class TranscriptView(APIView):
    """``GET /spaces/{id}/recording/transcript``: the lines (same access as the replay).
    ``DELETE``: the host deletes the whole transcript."""

    openapi_error_statuses = {"GET": (402,)}  # ticket_required (the replay's access)

    @extend_schema(responses={200: None})
    def get(self, request: Request, space_id: int) -> Response:
        recording = selectors.recording_visible(space_id=space_id, user=_me(request))
        lines = captions.transcript(recording=recording)
        return Response(
            {"space_id": space_id, "vtt_url": f"/api/v1/spaces/{space_id}/recording/captions.vtt", "lines": lines}
        )

    @extend_schema(responses={204: None})
    def delete(self, request: Request, space_id: int) -> Response:
        captions.transcript_delete(space_id=space_id, actor=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TranscriptLineView(APIView):
    """``PATCH /spaces/{id}/recording/transcript/{line_id} {"text": ...}`` / ``DELETE``: host only."""

    @extend_schema(
        request=TranscriptLineInputSerializer,
        responses={200: None},
        operation_id="v1_spaces_recording_transcript_line_update",
    )
    def patch(self, request: Request, space_id: int, line_id: int) -> Response:
        data = TranscriptLineInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        line = captions.line_edit(
            space_id=space_id, actor=_me(request), line_id=line_id, text=data.validated_data["text"]
        )
        return Response(line)

    @extend_schema(responses={204: None}, operation_id="v1_spaces_recording_transcript_line_destroy")
    def delete(self, request: Request, space_id: int, line_id: int) -> Response:
        captions.line_delete(space_id=space_id, actor=_me(request), line_id=line_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaptionsVttView(APIView):
    """``GET /spaces/{id}/recording/captions.vtt``: the transcript as WebVTT, for the replay's ``<track>``."""

    openapi_error_statuses = (402,)  # ticket_required (the replay's access)

    @extend_schema(responses={200: None})
    def get(self, request: Request, space_id: int) -> HttpResponse:
        recording = selectors.recording_visible(space_id=space_id, user=_me(request))
        response = HttpResponse(captions.webvtt(recording=recording), content_type="text/vtt; charset=utf-8")
        response["Cache-Control"] = "private, no-cache"
        return response


class TranscriptSearchView(APIView):
    """``GET /search/transcripts?q=...``: Spaces by what was said, each linking to the moment."""

    @extend_schema(responses={200: None})
    def get(self, request: Request) -> Response:
        results = captions.search(query=request.query_params.get("q", ""), user=_me(request))
        return Response({"results": results})
