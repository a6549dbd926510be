"""Staff console for ticketing: tickets and payouts with filters and actions, the Stripe event log.

Money fields are read-only here: they change only through services (refund, retry payout), so the
ledger's invariants hold for staff too.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from spaces_project.common.exceptions import ApplicationError
from tickets import services
from tickets.models import Payout, PayoutAccount, Ticket, TicketOffer, WebhookEvent


@admin.register(PayoutAccount)
class PayoutAccountAdmin(admin.ModelAdmin[PayoutAccount]):
    list_display = ["user", "stripe_account_id", "details_submitted", "payouts_enabled", "transfers_active"]
    list_filter = ["payouts_enabled", "transfers_active", "details_submitted"]
    search_fields = ["user__username", "stripe_account_id"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "stripe_account_id",
        "details_submitted",
        "charges_enabled",
        "payouts_enabled",
        "transfers_active",
        "stripe_state_at",
    ]


@admin.register(TicketOffer)
class TicketOfferAdmin(admin.ModelAdmin[TicketOffer]):
    list_display = ["space", "price_cents", "capacity", "seats_taken", "sales_end"]
    search_fields = ["space__title", "space__host__username"]
    raw_id_fields = ["space"]
    readonly_fields = ["seats_taken"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin[Ticket]):
    list_display = ["id", "space", "buyer", "status", "price_cents", "host_net_cents", "platform_fee_cents", "paid_at"]
    list_filter = ["status", "paid_at", "refunded_at"]
    search_fields = ["buyer__username", "space__title", "payment_intent_id", "refund_id"]
    raw_id_fields = ["space", "buyer"]
    list_select_related = ["space", "buyer"]
    readonly_fields = [
        "space",
        "buyer",
        "status",
        "price_cents",
        "currency",
        "payment_intent_id",
        "refund_id",
        "hold_expires_at",
        "paid_at",
        "refunded_at",
        "host_net_cents",
        "platform_fee_cents",
    ]
    actions = ["refund_tickets"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Refund selected paid tickets (through Stripe)")
    def refund_tickets(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        queued, refused = 0, []
        for ticket in queryset:
            try:
                if services.ticket_refund_request(ticket_id=ticket.pk):
                    queued += 1
            except ApplicationError as exc:
                refused.append(f"#{ticket.pk}: {exc.detail}")
        self.message_user(request, f"Queued {queued} refund(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, "Refused: " + "; ".join(refused), messages.WARNING)


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin[Payout]):
    list_display = [
        "id",
        "space",
        "host",
        "status",
        "attempt",
        "gross_cents",
        "platform_fee_cents",
        "host_net_cents",
        "transfer_id",
        "created_at",
    ]
    list_filter = ["status", "created_at", "transferred_at"]
    search_fields = ["host__username", "space__title", "transfer_id", "destination_account_id"]
    list_select_related = ["space", "host"]
    readonly_fields = [f.name for f in Payout._meta.fields]
    actions = ["retry_payouts"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry selected failed payouts (new attempt)")
    def retry_payouts(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        retried, refused = 0, []
        for payout in queryset:
            try:
                services.payout_retry(payout_id=payout.pk)
                retried += 1
            except ApplicationError as exc:
                refused.append(f"#{payout.pk}: {exc.detail}")
        self.message_user(request, f"Retrying {retried} payout(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, "Refused: " + "; ".join(refused), messages.WARNING)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin[WebhookEvent]):
    list_display = ["event_id", "type", "outcome", "stripe_created_at", "received_at"]
    list_filter = ["type", "outcome", "received_at"]
    search_fields = ["event_id"]
    readonly_fields = ["event_id", "type", "outcome", "stripe_created_at", "received_at", "payload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False
