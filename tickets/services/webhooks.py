"""Stripe webhook events: processed once each, in any order, dispatched from a dict.

The event id is the idempotency key: it is inserted in the same transaction as the event's effects,
so a duplicate delivery (even a concurrent one) finds the row and changes nothing, and a failed
handler leaves no row behind, so Stripe's redelivery is processed. Every handler is written against
the current state (never "the previous event"), so late and reordered events are harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from tickets.models import WebhookEvent
from tickets.services.accounts import payout_account_apply_stripe_state
from tickets.services.payouts import payout_mark_reversed, payout_mark_transferred
from tickets.services.purchases import ticket_payment_canceled, ticket_payment_confirm
from tickets.services.refunds import ticket_refund_confirm

logger = logging.getLogger(__name__)

Event = dict[str, Any]


def _object(event: Event) -> dict[str, Any]:
    obj = (event.get("data") or {}).get("object") or {}
    return obj if isinstance(obj, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _on_payment_intent_succeeded(event: Event) -> str:
    pi = _object(event)
    if not isinstance(pi.get("id"), str):
        return "malformed"
    return ticket_payment_confirm(
        payment_intent_id=pi["id"],
        ticket_id=_int(_metadata(pi).get("ticket_id")),
        amount_cents=_int(pi.get("amount_received")) or _int(pi.get("amount")) or 0,
        currency=str(pi.get("currency") or ""),
    )


def _on_payment_intent_canceled(event: Event) -> str:
    pi = _object(event)
    if not isinstance(pi.get("id"), str):
        return "malformed"
    return ticket_payment_canceled(payment_intent_id=pi["id"], ticket_id=_int(_metadata(pi).get("ticket_id")))


def _on_charge_refunded(event: Event) -> str:
    charge = _object(event)
    pi = charge.get("payment_intent")
    if not isinstance(pi, str) or not charge.get("refunded"):
        return "ignored_partial"  # only whole refunds exist in Spaces
    refunds = ((charge.get("refunds") or {}).get("data")) or [{}]
    refund_id = refunds[0].get("id") if isinstance(refunds[0], dict) else ""
    return ticket_refund_confirm(payment_intent_id=pi, refund_id=str(refund_id or ""))


def _on_account_updated(event: Event) -> str:
    account = _object(event)
    if not isinstance(account.get("id"), str):
        return "malformed"
    capabilities = account.get("capabilities") or {}
    return payout_account_apply_stripe_state(
        stripe_account_id=account["id"],
        state_at=_timestamp(event.get("created")) or datetime.fromtimestamp(0, tz=UTC),
        details_submitted=bool(account.get("details_submitted")),
        charges_enabled=bool(account.get("charges_enabled")),
        payouts_enabled=bool(account.get("payouts_enabled")),
        transfers_active=isinstance(capabilities, dict) and capabilities.get("transfers") == "active",
    )


def _on_transfer_created(event: Event) -> str:
    transfer = _object(event)
    payout_id = _int(_metadata(transfer).get("payout_id"))
    if payout_id is None or not isinstance(transfer.get("id"), str):
        return "not_ours"
    return payout_mark_transferred(payout_id=payout_id, transfer_id=transfer["id"])


def _on_transfer_reversed(event: Event) -> str:
    transfer = _object(event)
    if not isinstance(transfer.get("id"), str):
        return "malformed"
    return payout_mark_reversed(transfer_id=transfer["id"])


HANDLERS: dict[str, Callable[[Event], str]] = {
    "payment_intent.succeeded": _on_payment_intent_succeeded,
    "payment_intent.canceled": _on_payment_intent_canceled,
    "charge.refunded": _on_charge_refunded,
    "account.updated": _on_account_updated,
    "transfer.created": _on_transfer_created,
    "transfer.reversed": _on_transfer_reversed,
}


def webhook_event_process(*, event: Event) -> str:
    """Process a verified Stripe event once; returns the outcome (``duplicate`` if seen before)."""
    event_type = str(event["type"])
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(
                    event_id=str(event["id"])[:255],
                    type=event_type[:100],
                    stripe_created_at=_timestamp(event.get("created")),
                    outcome="processing",
                    payload=event,
                )
        except IntegrityError:
            return "duplicate"
        handler = HANDLERS.get(event_type)
        outcome = handler(event) if handler is not None else "ignored"
        WebhookEvent.objects.filter(pk=record.pk).update(outcome=outcome[:40])
    logger.info("stripe.event", extra={"event_id": event["id"], "type": event_type, "outcome": outcome})
    return outcome
