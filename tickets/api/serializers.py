"""Input and output shapes of the ticketing API."""

from __future__ import annotations

from rest_framework import serializers

from tickets.models import PRICE_MAX_CENTS, PRICE_MIN_CENTS, Payout, PayoutAccount, Ticket, TicketOffer


class TicketingInputSerializer(serializers.Serializer[dict[str, object]]):
    price_cents = serializers.IntegerField(min_value=PRICE_MIN_CENTS, max_value=PRICE_MAX_CENTS)
    capacity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    sales_end = serializers.DateTimeField(required=False, allow_null=True, default=None)


class TicketOfferSerializer(serializers.ModelSerializer[TicketOffer]):
    seats_left = serializers.IntegerField(read_only=True)

    class Meta:
        model = TicketOffer
        fields = ["space", "price_cents", "currency", "capacity", "seats_taken", "seats_left", "sales_end"]
        read_only_fields = fields


class TicketSerializer(serializers.ModelSerializer[Ticket]):
    space_title = serializers.CharField(source="space.title", read_only=True)
    space_state = serializers.CharField(source="space.state", read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "space",
            "space_title",
            "space_state",
            "status",
            "price_cents",
            "currency",
            "hold_expires_at",
            "paid_at",
            "refunded_at",
            "created_at",
        ]
        read_only_fields = fields


class PaymentSerializer(serializers.Serializer[dict[str, object]]):
    provider = serializers.CharField()
    payment_intent_id = serializers.CharField()
    client_secret = serializers.CharField()


class PurchaseOutputSerializer(serializers.Serializer[dict[str, object]]):
    ticket = TicketSerializer()
    payment = PaymentSerializer()


class PayoutSerializer(serializers.ModelSerializer[Payout]):
    space_title = serializers.CharField(source="space.title", read_only=True)

    class Meta:
        model = Payout
        fields = [
            "id",
            "space",
            "space_title",
            "ticket_count",
            "gross_cents",
            "platform_fee_cents",
            "host_net_cents",
            "currency",
            "status",
            "transferred_at",
            "created_at",
        ]
        read_only_fields = fields


class PayoutAccountSerializer(serializers.ModelSerializer[PayoutAccount]):
    can_receive_payouts = serializers.BooleanField(read_only=True)

    class Meta:
        model = PayoutAccount
        fields = [
            "stripe_account_id",
            "details_submitted",
            "charges_enabled",
            "payouts_enabled",
            "transfers_active",
            "can_receive_payouts",
        ]
        read_only_fields = fields


class OnboardingOutputSerializer(serializers.Serializer[dict[str, object]]):
    account = PayoutAccountSerializer()
    onboarding_url = serializers.URLField()
