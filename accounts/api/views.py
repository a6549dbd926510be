"""Thin API views for accounts: one per operation; logic lives in services and selectors."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.auth import request_user as _me
from accounts.api.serializers import (
    MeSerializer,
    MeUpdateInputSerializer,
    PublicUserSerializer,
    RegisterInputSerializer,
    TokenInputSerializer,
    TokenOutputSerializer,
    UserBriefSerializer,
    UserDetailOutputSerializer,
)
from accounts.exceptions import AccountSuspended, OriginNotAllowed
from accounts.models import Follow, User
from moderation.throttles import ClientAddressScopedRateThrottle
from spaces_project.common import security
from spaces_project.common.exceptions import ApplicationError
from spaces_project.common.parsers import JSONParser


def _session_wanted(request: Request) -> bool:
    """Whether a login should also start a web session: only for a browser on one of our own pages.

    A cross-site page cannot send JSON without a CORS preflight (these views parse nothing else), and a
    browser names the page it posts from in ``Origin``; a request from elsewhere is refused before any
    account is touched. A request with no ``Origin`` and no ``Referer`` is not from a browser (the mobile
    app, a script): it gets its token and no cookie.
    """
    verdict = security.request_origin(request._request)
    if verdict is security.BrowserOrigin.FOREIGN:
        raise OriginNotAllowed()
    return verdict is security.BrowserOrigin.OURS


class RegisterView(APIView):
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]  # a cross-site HTML form cannot post JSON (login CSRF)
    throttle_classes = [ClientAddressScopedRateThrottle]  # per address: sign-up logs the new account in
    throttle_scope = "register"
    openapi_error_statuses = (409,)  # username_taken

    @extend_schema(request=RegisterInputSerializer, responses={201: TokenOutputSerializer})
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)  # parsed first: a form body is a 415
        session = _session_wanted(request)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        if session and not request.auth:
            login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        token = services.user_token_get_or_create(user=user)
        return Response({"token": token, "user": MeSerializer(user).data}, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    """Log in: returns an API token; for the web client (a request from one of our pages) also a session."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    parser_classes = [JSONParser]  # a cross-site HTML form cannot post JSON (login CSRF)
    # Per client address, one bucket with the Django admin login (spaces_project/urls.py).
    throttle_classes = [ClientAddressScopedRateThrottle]
    throttle_scope = "login"
    openapi_error_statuses = (403,)  # account_suspended

    @extend_schema(request=TokenInputSerializer, responses={200: TokenOutputSerializer})
    def post(self, request: Request) -> Response:
        data = TokenInputSerializer(data=request.data)  # parsed first: a form body is a 415
        session = _session_wanted(request)
        data.is_valid(raise_exception=True)
        found = User.objects.filter(username__iexact=data.validated_data["username"]).first()
        user = authenticate(
            request._request,
            username=found.username if found else data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if not isinstance(user, User):
            raise ApplicationError("Wrong username or password.", code="invalid_credentials", status_code=400)
        if user.suspension_active:
            raise AccountSuspended()
        if session:
            login(request._request, user)
        token = services.user_token_get_or_create(user=user)
        return Response({"token": token, "user": MeSerializer(user).data})


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.user_logout(user=_me(request))
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(_me(request)).data)

    @extend_schema(request=MeUpdateInputSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        data = MeUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=_me(request), **data.validated_data)
        return Response(MeSerializer(user).data)


class UserDetailView(APIView):
    @extend_schema(responses=UserDetailOutputSerializer)
    def get(self, request: Request, username: str) -> Response:
        user = selectors.user_get_by_username(username=username)
        payload = dict(PublicUserSerializer(user).data)
        me = _me(request)
        payload["followed_by_me"] = Follow.objects.filter(follower=me, followee=user).exists()
        payload["follows_me"] = Follow.objects.filter(follower=user, followee=me).exists()
        payload["blocked_by_me"] = selectors.is_blocked(blocker_id=me.pk, blocked_id=user.pk)
        return Response(payload)


class FollowView(APIView):
    @extend_schema(request=None, responses={200: PublicUserSerializer})
    def put(self, request: Request, username: str) -> Response:
        target = selectors.user_get_by_username(username=username)
        services.follow_create(follower=_me(request), followee=target)
        target.refresh_from_db(fields=["follower_count", "following_count"])
        return Response(PublicUserSerializer(target).data)

    @extend_schema(request=None, responses={200: PublicUserSerializer})
    def delete(self, request: Request, username: str) -> Response:
        target = selectors.user_get_by_username(username=username)
        services.follow_delete(follower=_me(request), followee=target)
        target.refresh_from_db(fields=["follower_count", "following_count"])
        return Response(PublicUserSerializer(target).data)


class BlockView(APIView):
    @extend_schema(request=None, responses={204: None})
    def put(self, request: Request, username: str) -> Response:
        target = selectors.user_get_by_username(username=username)
        services.block_create(blocker=_me(request), blocked=target)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, username: str) -> Response:
        target = selectors.user_get_by_username(username=username)
        services.block_delete(blocker=_me(request), blocked=target)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FollowersListView(ListAPIView[Follow]):
    serializer_class = UserBriefSerializer  # type: ignore[assignment]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.followers_of(user=selectors.user_get_by_username(username=self.kwargs["username"]))

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response(UserBriefSerializer([f.follower for f in page], many=True).data)


class FollowingListView(FollowersListView):
    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.following_of(user=selectors.user_get_by_username(username=self.kwargs["username"]))

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response(UserBriefSerializer([f.followee for f in page], many=True).data)
