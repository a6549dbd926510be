"""Thin API views for ticketing, one per operation (the Stripe webhook: tickets/api/webhooks.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth import request_user as _me
from spaces_project.common.exceptions import NotFound
from tickets import selectors, services
from tickets.api.serializers import (
    OnboardingOutputSerializer,
    PayoutAccountSerializer,
    PayoutSerializer,
    PurchaseOutputSerializer,
    TicketingInputSerializer,
    TicketOfferSerializer,
    TicketSerializer,
)
from tickets.models import Payout, Ticket


class TicketingView(APIView):
    """The ticket offer of a Space (``PUT`` by its host while scheduled)."""

    @extend_schema(responses=TicketOfferSerializer)
    def get(self, request: Request, space_id: int) -> Response:
        return Response(TicketOfferSerializer(selectors.offer_get(space_id=space_id)).data)

    @extend_schema(request=TicketingInputSerializer, responses=TicketOfferSerializer)
    def put(self, request: Request, space_id: int) -> Response:
        data = TicketingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offer = services.ticketing_set(host=_me(request), space_id=space_id, **data.validated_data)
        return Response(TicketOfferSerializer(offer).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, space_id: int) -> Response:
        services.ticketing_remove(host=_me(request), space_id=space_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TicketPurchaseView(APIView):
    """Start buying a ticket: holds a seat and returns the PaymentIntent's client secret."""

    openapi_error_statuses = (503,)  # payment_provider_error

    @extend_schema(request=None, responses={201: PurchaseOutputSerializer, 200: PurchaseOutputSerializer})
    def post(self, request: Request, space_id: int) -> Response:
        purchase = services.ticket_purchase(buyer=_me(request), space_id=space_id)
        body = {
            "ticket": TicketSerializer(purchase.ticket).data,
            "payment": {
                "provider": "stripe",
                "payment_intent_id": purchase.ticket.payment_intent_id,
                "client_secret": purchase.client_secret,
            },
        }
        return Response(body, status=status.HTTP_201_CREATED if purchase.created else status.HTTP_200_OK)


class MyTicketsView(ListAPIView[Ticket]):
    serializer_class = TicketSerializer  # type: ignore[assignment]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.tickets_of_buyer(user=_me(self.request))


class MyPayoutsView(ListAPIView[Payout]):
    serializer_class = PayoutSerializer  # type: ignore[assignment]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.payouts_of_host(user=_me(self.request))


class PayoutAccountView(APIView):
    openapi_error_statuses = (404, 503)  # no_payout_account; payment_provider_error

    @extend_schema(responses=PayoutAccountSerializer)
    def get(self, request: Request) -> Response:
        account = selectors.payout_account_of(user=_me(request))
        if account is None:
            raise NotFound("No payout account yet.", code="no_payout_account")
        return Response(PayoutAccountSerializer(account).data)

    @extend_schema(request=None, responses=OnboardingOutputSerializer)
    def post(self, request: Request) -> Response:
        onboarding = services.payout_account_connect(user=_me(request))
        return Response(
            {"account": PayoutAccountSerializer(onboarding.account).data, "onboarding_url": onboarding.onboarding_url}
        )
