"""Thin API views for trust & safety: reports, notices, ban lists and a Space's moderation log."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.api.auth import request_user as _me
from accounts.selectors import user_get_by_username
from moderation import selectors, services
from moderation.api.serializers import (
    BanInputSerializer,
    BanOutputSerializer,
    BanScopeQuerySerializer,
    HostBanInputSerializer,
    ModerationActionOutputSerializer,
    NoticeOutputSerializer,
    ReportInputSerializer,
    ReportOutputSerializer,
)
from rooms.selectors import space_get
from spaces_project.common.pagination import CreatedCursorPagination

SCOPE_PARAM = OpenApiParameter("scope", str, enum=["space", "host"], description="space (default) or host")


class ReportCreateView(APIView):
    """File a report of a user or a Space; staff review it and the reporter is told the outcome."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "report"
    openapi_error_statuses = (404,)  # user_not_found, space_not_found: the body names them

    @extend_schema(request=ReportInputSerializer, responses={201: ReportOutputSerializer})
    def post(self, request: Request) -> Response:
        data = ReportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        target_user = user_get_by_username(username=v["username"]) if "username" in v else None
        target_space = space_get(space_id=v["space_id"]) if "space_id" in v else None
        report = services.report_create(
            reporter=_me(request),
            category=v["category"],
            text=v["text"],
            target_user=target_user,
            target_space=target_space,
        )
        return Response(ReportOutputSerializer(report).data, status=status.HTTP_201_CREATED)


class MyReportsView(APIView):
    """The reports I filed, newest first, with their status and outcome."""

    pagination_class = CreatedCursorPagination

    @extend_schema(responses=ReportOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(selectors.reports_of(reporter=_me(request)), request, view=self) or []
        return paginator.get_paginated_response(ReportOutputSerializer(page, many=True).data)


class MyNoticesView(APIView):
    """Warnings and report outcomes sent to me by staff, newest first."""

    pagination_class = CreatedCursorPagination

    @extend_schema(responses=NoticeOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(selectors.notices_of(user=_me(request)), request, view=self) or []
        return paginator.get_paginated_response(NoticeOutputSerializer(page, many=True).data)


class ModerationLogView(APIView):
    """The Space's moderation audit log (append-only), for its host and current co-hosts."""

    pagination_class = CreatedCursorPagination

    @extend_schema(responses=ModerationActionOutputSerializer(many=True))
    def get(self, request: Request, space_id: int) -> Response:
        space = space_get(space_id=space_id)
        selectors.access_space_for_moderation(space=space, user=_me(request))
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(selectors.moderation_log_of(space=space), request, view=self) or []
        return paginator.get_paginated_response(ModerationActionOutputSerializer(page, many=True).data)


class SpaceBansView(APIView):
    """The Space's ban list (``scope=space``) or its host's ban list (``scope=host``), for the host team."""

    pagination_class = CreatedCursorPagination

    @extend_schema(parameters=[SCOPE_PARAM], responses=BanOutputSerializer(many=True))
    def get(self, request: Request, space_id: int) -> Response:
        query = BanScopeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        space = space_get(space_id=space_id)
        selectors.access_space_for_moderation(space=space, user=_me(request))
        qs: QuerySet[Any]
        if query.validated_data["scope"] == "host":
            qs = selectors.host_bans_of(host_id=space.host_id)
        else:
            qs = selectors.space_bans_of(space=space)
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        return paginator.get_paginated_response(BanOutputSerializer(page, many=True).data)  # type: ignore[arg-type]

    @extend_schema(request=BanInputSerializer, responses={201: BanOutputSerializer, 200: BanOutputSerializer})
    def post(self, request: Request, space_id: int) -> Response:
        data = BanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space_get(space_id=space_id)
        target = user_get_by_username(username=data.validated_data["username"])
        ban, created = services.space_ban_create(
            space_id=space_id,
            actor=_me(request),
            target=target,
            scope=data.validated_data["scope"],
            reason=data.validated_data["reason"],
        )
        return Response(
            BanOutputSerializer(ban).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class SpaceBanDetailView(APIView):
    @extend_schema(parameters=[SCOPE_PARAM], request=None, responses={204: None})
    def delete(self, request: Request, space_id: int, username: str) -> Response:
        query = BanScopeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        space_get(space_id=space_id)
        target = user_get_by_username(username=username)
        services.space_ban_lift(
            space_id=space_id, actor=_me(request), target=target, scope=query.validated_data["scope"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyBansView(APIView):
    """My own ban list: people banned from all of my Spaces."""

    pagination_class = CreatedCursorPagination
    openapi_error_statuses = (404,)  # user_not_found: the body names the user

    @extend_schema(responses=BanOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(selectors.host_bans_of(host_id=_me(request).pk), request, view=self) or []
        return paginator.get_paginated_response(BanOutputSerializer(page, many=True).data)  # type: ignore[arg-type]

    @extend_schema(request=HostBanInputSerializer, responses={201: BanOutputSerializer, 200: BanOutputSerializer})
    def post(self, request: Request) -> Response:
        data = HostBanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = user_get_by_username(username=data.validated_data["username"])
        ban, created = services.host_ban_create(host=_me(request), target=target, reason=data.validated_data["reason"])
        return Response(
            BanOutputSerializer(ban).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class MyBanDetailView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, username: str) -> Response:
        target = user_get_by_username(username=username)
        services.host_ban_lift(host=_me(request), target=target)
        return Response(status=status.HTTP_204_NO_CONTENT)
