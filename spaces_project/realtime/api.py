"""``GET /api/v1/events/schema``: the websocket catalogue as JSON Schema, for clients that generate types."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from spaces_project.realtime.events import json_schema


class EventsSchemaView(APIView):
    """Every websocket frame the server sends, as one JSON Schema (2020-12) document (docs/protocol.md)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="events_schema",
        responses={200: OpenApiTypes.OBJECT},
        description="The websocket protocol's frames as JSON Schema: `oneOf` the frame classes in `$defs`, each "
        "with its audience (`x-audience`), `seq` rule (`x-seq`) and delivery rules (`x-close`, `x-coalesce`).",
    )
    def get(self, request: Request) -> Response:
        return Response(json_schema())
