"""Stripe webhook events: processed once each, in any order, dispatched from a dict.

The event id is the idempotency key: it is inserted in the same transaction as the event's effects,
so a duplicate delivery (even a concurrent one) finds the row and changes nothing, and a failed
handler leaves no row behind, so Stripe's redelivery is processed. Every handler is written against
the current state (never "the previous event"), so late and reordered events are harmless.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from spaces_project.common.text import TooDeep, scrub_json
from tickets.models import WebhookEvent
from tickets.services.accounts import payout_account_apply_stripe_state
from tickets.services.payouts import payout_mark_reversed, payout_mark_transferred
from tickets.services.purchases import ticket_payment_canceled, ticket_payment_confirm
from tickets.services.refunds import ticket_refund_confirm

logger = logging.getLogger(__name__)

Event = dict[str, Any]

MAX_EVENT_DEPTH = 64  # Stripe events nest about eight levels
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
_BIGINT_MAX = 2**63 - 1


class MalformedEvent(ValueError):
    """A signed event that cannot be stored (nested past ``MAX_EVENT_DEPTH``)."""


# Signed events are still input: every accessor checks the type it needs and answers None (the handler
# then says "malformed") rather than raising, because an event that raises is redelivered for days.
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _object(event: Event) -> dict[str, Any]:
    return _dict(_dict(event.get("data")).get("object"))


def _stripe_id(value: Any) -> str | None:
    """A Stripe object id (``pi_…``, ``acct_…``): ASCII letters, digits and ``_``; anything else is None."""
    return value if isinstance(value, str) and _STRIPE_ID.fullmatch(value) else None


def _int(value: Any) -> int | None:
    """A non-negative integer given as a JSON number or ASCII digits ("٣" is not 3 here), within bigint."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _BIGINT_MAX:
        return value
    return None


def _timestamp(value: Any) -> datetime | None:
    seconds = _int(value)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None
    except (ValueError, OverflowError, OSError):
        return None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return _dict(obj.get("metadata"))


def _on_payment_intent_succeeded(event: Event) -> str:
    pi = _object(event)
    pi_id = _stripe_id(pi.get("id"))
    if pi_id is None:
        return "malformed"
    currency = pi.get("currency")
    return ticket_payment_confirm(
        payment_intent_id=pi_id,
        ticket_id=_int(_metadata(pi).get("ticket_id")),
        amount_cents=_int(pi.get("amount_received")) or _int(pi.get("amount")) or 0,
        currency=currency if isinstance(currency, str) else "",
    )


def _on_payment_intent_canceled(event: Event) -> str:
    pi = _object(event)
    pi_id = _stripe_id(pi.get("id"))
    if pi_id is None:
        return "malformed"
    return ticket_payment_canceled(payment_intent_id=pi_id, ticket_id=_int(_metadata(pi).get("ticket_id")))


def _on_charge_refunded(event: Event) -> str:
    charge = _object(event)
    pi = _stripe_id(charge.get("payment_intent"))
    if pi is None:
        return "malformed"
    if charge.get("refunded") is not True:
        return "ignored_partial"  # only whole refunds exist in Spaces
    refunds = _dict(charge.get("refunds")).get("data")
    first = refunds[0] if isinstance(refunds, list) and refunds else None
    return ticket_refund_confirm(payment_intent_id=pi, refund_id=_stripe_id(_dict(first).get("id")) or "")


def _on_account_updated(event: Event) -> str:
    account = _object(event)
    account_id = _stripe_id(account.get("id"))
    if account_id is None:
        return "malformed"
    return payout_account_apply_stripe_state(
        stripe_account_id=account_id,
        state_at=_timestamp(event.get("created")) or datetime.fromtimestamp(0, tz=UTC),
        details_submitted=account.get("details_submitted") is True,
        charges_enabled=account.get("charges_enabled") is True,
        payouts_enabled=account.get("payouts_enabled") is True,
        transfers_active=_dict(account.get("capabilities")).get("transfers") == "active",
    )


def _on_transfer_created(event: Event) -> str:
    transfer = _object(event)
    payout_id = _int(_metadata(transfer).get("payout_id"))
    transfer_id = _stripe_id(transfer.get("id"))
    if payout_id is None or transfer_id is None:
        return "not_ours"
    return payout_mark_transferred(payout_id=payout_id, transfer_id=transfer_id)


def _on_transfer_reversed(event: Event) -> str:
    transfer_id = _stripe_id(_object(event).get("id"))
    if transfer_id is None:
        return "malformed"
    return payout_mark_reversed(transfer_id=transfer_id)


HANDLERS: dict[str, Callable[[Event], str]] = {
    "payment_intent.succeeded": _on_payment_intent_succeeded,
    "payment_intent.canceled": _on_payment_intent_canceled,
    "charge.refunded": _on_charge_refunded,
    "account.updated": _on_account_updated,
    "transfer.created": _on_transfer_created,
    "transfer.reversed": _on_transfer_reversed,
}


def webhook_event_process(*, event: Event) -> str:
    """Process a verified Stripe event once; returns the outcome (``duplicate`` if seen before).

    The event is first made storable: a NUL or a lone surrogate anywhere (PostgreSQL refuses both, so
    such an event used to fail on every redelivery) becomes U+FFFD, in what is stored and in what the
    handler reads. An id spoiled that way no longer names anything of ours, so it changes nothing.
    Raises ``MalformedEvent`` for an event nested past ``MAX_EVENT_DEPTH``.
    """
    try:
        event = scrub_json(event, max_depth=MAX_EVENT_DEPTH)
    except TooDeep as exc:
        raise MalformedEvent(str(exc)) from None
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
    level = logging.WARNING if outcome == "malformed" else logging.INFO
    logger.log(level, "stripe.event", extra={"event_id": event["id"], "type": event_type, "outcome": outcome})
    return outcome
