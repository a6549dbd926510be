"""``GET /discover``: what a first visit shows when the viewer's follows give nothing.

The read is ``rooms/discovery/selectors/first_visit.py``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import UserBriefSerializer
from accounts.models import User
from rooms.api.serializers import SpaceOutputSerializer
from rooms.discovery.selectors.first_visit import first_visit_for


class HostSuggestionSerializer(UserBriefSerializer):
    class Meta(UserBriefSerializer.Meta):
        fields = [*UserBriefSerializer.Meta.fields, "follower_count"]
        read_only_fields = fields


class DiscoverOutputSerializer(serializers.Serializer[dict[str, Any]]):
    live = SpaceOutputSerializer(many=True)
    upcoming = SpaceOutputSerializer(many=True)
    hosts = HostSuggestionSerializer(many=True)


class DiscoverView(APIView):
    @extend_schema(responses=DiscoverOutputSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        found = first_visit_for(user=user)
        return Response(
            {
                "live": SpaceOutputSerializer(found.live, many=True).data,
                "upcoming": SpaceOutputSerializer(found.upcoming, many=True).data,
                "hosts": HostSuggestionSerializer(found.hosts, many=True).data,
            }
        )
