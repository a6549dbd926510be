"""Writes for ticketing. One module per flow; everything callers need is re-exported here."""

from tickets.services.accounts import Onboarding, payout_account_apply_stripe_state, payout_account_connect
from tickets.services.offers import ticketing_remove, ticketing_set
from tickets.services.payouts import (
    payout_create_for_space,
    payout_mark_reversed,
    payout_mark_transferred,
    payout_retry,
    payout_send,
    payouts_process_due,
)
from tickets.services.purchases import (
    Purchase,
    payment_intent_cancel,
    ticket_holds_expire,
    ticket_payment_canceled,
    ticket_payment_confirm,
    ticket_purchase,
)
from tickets.services.refunds import (
    refunds_process_due,
    space_canceled_refund_all,
    space_refund_all,
    space_rescheduled_notify_holders,
    ticket_refund_confirm,
    ticket_refund_request,
    ticket_refund_send,
)
from tickets.services.webhooks import MalformedEvent, webhook_event_process

__all__ = [
    "MalformedEvent",
    "Onboarding",
    "Purchase",
    "payment_intent_cancel",
    "payout_account_apply_stripe_state",
    "payout_account_connect",
    "payout_create_for_space",
    "payout_mark_reversed",
    "payout_mark_transferred",
    "payout_retry",
    "payout_send",
    "payouts_process_due",
    "refunds_process_due",
    "space_canceled_refund_all",
    "space_refund_all",
    "space_rescheduled_notify_holders",
    "ticket_holds_expire",
    "ticket_payment_canceled",
    "ticket_payment_confirm",
    "ticket_purchase",
    "ticket_refund_confirm",
    "ticket_refund_request",
    "ticket_refund_send",
    "ticketing_remove",
    "ticketing_set",
    "webhook_event_process",
]
