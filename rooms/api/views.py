"""Thin API views for Spaces: one per operation; rules live in services and selectors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.api.auth import request_user as _me
from accounts.models import User
from accounts.selectors import user_get_by_username
from moderation.throttles import ClientAddressScopedRateThrottle
from rooms import selectors, services
from rooms.api.serializers import (
    GuestJoinOutputSerializer,
    HandOutputSerializer,
    HandQueueOutputSerializer,
    HandStateOutputSerializer,
    InvitationInputSerializer,
    InvitationOutputSerializer,
    JoinInputSerializer,
    JoinOutputSerializer,
    MuteAllOutputSerializer,
    ParticipantOutputSerializer,
    ParticipantsOutputSerializer,
    ReasonInputSerializer,
    RemoveInputSerializer,
    SpaceCreateInputSerializer,
    SpaceDetailOutputSerializer,
    SpaceOutputSerializer,
    SpaceUpdateInputSerializer,
)
from rooms.models import Invitation, Participant, Space
from spaces_project.common.pagination import CreatedCursorPagination
from spaces_project.common.throttling import AtomicScopedRateThrottle


def _space_payload(space: Space, user: User) -> dict[str, Any]:
    space = selectors.space_get(space_id=space.pk)
    data = dict(SpaceOutputSerializer(space).data)
    data["my_role"] = selectors.role_of(space=space, user_id=user.pk)
    return data


def _invitation_payload(invitation: Invitation) -> dict[str, Any]:
    return dict(
        InvitationOutputSerializer(
            {
                "id": invitation.pk,
                "space_id": invitation.space_id,
                "inviter_id": invitation.inviter_id,
                "invitee_id": invitation.invitee_id,
                "role": invitation.role,
                "state": invitation.state,
                "recorded": Space.objects.filter(pk=invitation.space_id, record=True).exists(),
            }
        ).data
    )


def _participant_payload(participant: Participant) -> dict[str, Any]:
    participant = Participant.objects.select_related("user").get(pk=participant.pk)
    return dict(ParticipantOutputSerializer(participant).data)


class SpaceCreateView(APIView):
    @extend_schema(request=SpaceCreateInputSerializer, responses={201: SpaceDetailOutputSerializer})
    def post(self, request: Request) -> Response:
        data = SpaceCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.space_create(host=_me(request), **data.validated_data)
        return Response(_space_payload(space, _me(request)), status=status.HTTP_201_CREATED)


class SpaceDetailView(APIView):
    @extend_schema(responses=SpaceDetailOutputSerializer)
    def get(self, request: Request, space_id: int) -> Response:
        return Response(_space_payload(selectors.space_get(space_id=space_id), _me(request)))

    @extend_schema(request=SpaceUpdateInputSerializer, responses=SpaceDetailOutputSerializer)
    def patch(self, request: Request, space_id: int) -> Response:
        data = SpaceUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        space = services.space_update(space_id=space_id, actor=_me(request), **data.validated_data)
        return Response(_space_payload(space, _me(request)))


class SpaceStartView(APIView):
    @extend_schema(request=None, responses=SpaceDetailOutputSerializer)
    def post(self, request: Request, space_id: int) -> Response:
        space = services.space_start(space_id=space_id, actor=_me(request))
        return Response(_space_payload(space, _me(request)))


class SpaceEndView(APIView):
    @extend_schema(request=ReasonInputSerializer, responses=SpaceDetailOutputSerializer)
    def post(self, request: Request, space_id: int) -> Response:
        data = ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.space_end(space_id=space_id, actor=_me(request), reason=data.validated_data["reason"])
        return Response(_space_payload(space, _me(request)))


class SpaceCancelView(APIView):
    @extend_schema(request=None, responses=SpaceDetailOutputSerializer)
    def post(self, request: Request, space_id: int) -> Response:
        space = services.space_cancel(space_id=space_id, actor=_me(request))
        return Response(_space_payload(space, _me(request)))


# Its fields are built once (a serializer deep-copies them per instance; a tenth of a join's CPU):
# ``to_representation`` is what ``.data`` runs, and reads nothing but its argument.
_JOIN_OUTPUT = JoinOutputSerializer()
_JOIN_OUTPUT.fields  # noqa: B018 (built now, not by the first join's threads)


class SpaceJoinView(APIView):
    openapi_error_statuses = (402, 503)  # ticket_required; audio_unavailable
    throttle_classes = [AtomicScopedRateThrottle]  # one Redis call per join (a crowd's hot path)
    throttle_scope = "join"

    @extend_schema(request=JoinInputSerializer, responses=JoinOutputSerializer)
    def post(self, request: Request, space_id: int) -> Response:
        data = JoinInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        asked = data.validated_data.get("transport")  # "webrtc" is no preference: the Space decides
        credentials = services.space_join_any(
            space_id=space_id, user=_me(request), transport="hls" if asked == "hls" else None
        )
        return Response(_JOIN_OUTPUT.to_representation(vars(credentials)))  # asdict(): deep copies of str


class SpaceGuestJoinView(APIView):
    """Listen without an account (docs/security.md, "Guest listeners"): anonymous, limited per client address."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientAddressScopedRateThrottle]
    throttle_scope = "guest_join"
    openapi_error_statuses = (402, 403, 409)  # ticket_required; guests_not_allowed, account_suspended; space_not_live

    @extend_schema(request=None, responses=GuestJoinOutputSerializer)
    def post(self, request: Request, space_id: int) -> Response:
        credentials = services.space_guest_join(space_id=space_id)
        return Response(GuestJoinOutputSerializer(asdict(credentials)).data)


class SpaceLeaveView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, space_id: int) -> Response:
        selectors.space_get(space_id=space_id)
        services.space_leave(space_id=space_id, user=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ParticipantsView(APIView):
    """The stage (every member) and the connected listeners (cursor-paginated)."""

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("page_size", int)],
        responses=ParticipantsOutputSerializer,
    )
    def get(self, request: Request, space_id: int) -> Response:
        space = selectors.space_get(space_id=space_id)
        stage = list(selectors.stage_of(space=space))
        paginator = CreatedCursorPagination()
        page = paginator.paginate_queryset(selectors.listeners_of(space=space), request, view=self) or []
        return Response(
            {
                "stage": ParticipantOutputSerializer(stage, many=True).data,
                "listener_count": space.listener_count,
                "listeners": {
                    "next": paginator.get_next_link(),
                    "previous": paginator.get_previous_link(),
                    "results": ParticipantOutputSerializer(page, many=True).data,
                },
            }
        )


class HandView(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "hand"

    @extend_schema(request=None, responses={201: HandStateOutputSerializer})
    def post(self, request: Request, space_id: int) -> Response:
        hand = services.hand_raise(space_id=space_id, user=_me(request))
        recorded = Space.objects.filter(pk=space_id, record=True).exists()
        return Response(
            {"state": hand.state, "raised_at": hand.raised_at, "recorded": recorded}, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, space_id: int) -> Response:
        services.hand_lower(space_id=space_id, user=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class HandQueueView(APIView):
    @extend_schema(responses=HandQueueOutputSerializer)
    def get(self, request: Request, space_id: int) -> Response:
        space = selectors.space_get(space_id=space_id)
        selectors.access_space_for_host_team(space=space, user=_me(request))
        queue = [asdict(h) | {"user": h.user} for h in selectors.hand_queue(space=space)]
        data = HandOutputSerializer(queue, many=True).data  # type: ignore[arg-type]
        return Response({"results": data})


class HandApproveView(APIView):
    @extend_schema(request=None, responses=ParticipantOutputSerializer)
    def post(self, request: Request, space_id: int, username: str) -> Response:
        target = user_get_by_username(username=username)
        participant = services.hand_approve(space_id=space_id, actor=_me(request), user_id=target.pk)
        return Response(_participant_payload(participant))


class HandDeclineView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, space_id: int, username: str) -> Response:
        target = user_get_by_username(username=username)
        services.hand_decline(space_id=space_id, actor=_me(request), user_id=target.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationCreateView(APIView):
    @extend_schema(request=InvitationInputSerializer, responses={201: InvitationOutputSerializer})
    def post(self, request: Request, space_id: int) -> Response:
        data = InvitationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitee = user_get_by_username(username=data.validated_data["username"])
        invitation = services.invitation_create(
            space_id=space_id, actor=_me(request), invitee=invitee, role=data.validated_data["role"]
        )
        return Response(_invitation_payload(invitation), status=status.HTTP_201_CREATED)


class InvitationAcceptView(APIView):
    @extend_schema(request=None, responses=ParticipantOutputSerializer)
    def post(self, request: Request, space_id: int, invitation_id: int) -> Response:
        participant = services.invitation_accept(space_id=space_id, invitation_id=invitation_id, user=_me(request))
        return Response(_participant_payload(participant))


class InvitationDeclineView(APIView):
    @extend_schema(request=None, responses=InvitationOutputSerializer)
    def post(self, request: Request, space_id: int, invitation_id: int) -> Response:
        invitation = services.invitation_decline(space_id=space_id, invitation_id=invitation_id, user=_me(request))
        return Response(_invitation_payload(invitation))


class MuteView(APIView):
    @extend_schema(request=ReasonInputSerializer, responses=ParticipantOutputSerializer)
    def post(self, request: Request, space_id: int, username: str) -> Response:
        data = ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = user_get_by_username(username=username)
        participant = services.participant_mute(
            space_id=space_id, actor=_me(request), user_id=target.pk, reason=data.validated_data["reason"]
        )
        return Response(_participant_payload(participant))


class MuteAllView(APIView):
    @extend_schema(request=ReasonInputSerializer, responses=MuteAllOutputSerializer)
    def post(self, request: Request, space_id: int) -> Response:
        data = ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        muted = services.speakers_mute_all(space_id=space_id, actor=_me(request), reason=data.validated_data["reason"])
        return Response({"muted_user_ids": muted})


class MoveToListenersView(APIView):
    @extend_schema(request=ReasonInputSerializer, responses=ParticipantOutputSerializer)
    def post(self, request: Request, space_id: int, username: str) -> Response:
        data = ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = user_get_by_username(username=username)
        participant = services.speaker_move_to_listeners(
            space_id=space_id, actor=_me(request), user_id=target.pk, reason=data.validated_data["reason"]
        )
        return Response(_participant_payload(participant))


class RemoveView(APIView):
    @extend_schema(request=RemoveInputSerializer, responses={204: None})
    def post(self, request: Request, space_id: int, username: str) -> Response:
        data = RemoveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = user_get_by_username(username=username)
        services.participant_remove(space_id=space_id, actor=_me(request), user_id=target.pk, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CohostView(APIView):
    @extend_schema(request=None, responses={200: ParticipantOutputSerializer, 202: InvitationOutputSerializer})
    def put(self, request: Request, space_id: int, username: str) -> Response:
        target = user_get_by_username(username=username)
        result = services.cohost_add(space_id=space_id, actor=_me(request), target=target)
        if isinstance(result, Invitation):
            return Response(_invitation_payload(result), status=status.HTTP_202_ACCEPTED)
        return Response(_participant_payload(result))

    @extend_schema(request=None, responses={200: ParticipantOutputSerializer})
    def delete(self, request: Request, space_id: int, username: str) -> Response:
        target = user_get_by_username(username=username)
        participant = services.cohost_remove(space_id=space_id, actor=_me(request), target=target)
        return Response(_participant_payload(participant))


class LeaveStageView(APIView):
    @extend_schema(request=None, responses=ParticipantOutputSerializer)
    def post(self, request: Request, space_id: int) -> Response:
        participant = services.stage_leave(space_id=space_id, user=_me(request))
        return Response(_participant_payload(participant))
