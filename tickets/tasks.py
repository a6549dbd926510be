"""Celery tasks of ticketing: take ids, re-fetch, call one service; idempotent, retried on Stripe outages.

Retries repeat the same Stripe request with the same idempotency key (derived from the row), so a
retried or redelivered task (``acks_late``: a killed worker's task runs again) never moves money twice.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tickets import services, stripe_client

RETRY: dict[str, Any] = {
    "autoretry_for": (stripe_client.StripeError,),
    "retry_backoff": 2,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 10,
}


@shared_task
def ticket_holds_expire() -> int:
    """Beat, every minute: free the seats of holds whose payment did not arrive in time."""
    return services.ticket_holds_expire()


@shared_task(**RETRY)
def payment_intent_cancel(payment_intent_id: str) -> str:
    return services.payment_intent_cancel(payment_intent_id=payment_intent_id)


@shared_task(**RETRY)
def ticket_refund(ticket_id: int) -> str:
    return services.ticket_refund_send(ticket_id=ticket_id)


@shared_task(**RETRY)
def space_refund_all(space_id: int) -> int:
    """After a ticketed Space is canceled: refund every paid ticket (one ``ticket_refund`` each)."""
    return services.space_refund_all(space_id=space_id)


@shared_task
def refunds_process_due() -> list[int]:
    """Beat: resume refunds whose hand-off was lost (canceled Spaces, stuck ``refund_pending`` tickets)."""
    ticket_ids = services.refunds_process_due()
    for ticket_id in ticket_ids:
        ticket_refund.delay(ticket_id)
    return ticket_ids


@shared_task
def payouts_process_due() -> list[int]:
    """Beat: create the payouts of ended Spaces past the refund window; send new and stuck ones."""
    payout_ids = services.payouts_process_due()
    for payout_id in payout_ids:
        payout_send.delay(payout_id)
    return payout_ids


@shared_task(**RETRY)
def payout_send(payout_id: int) -> str:
    return services.payout_send(payout_id=payout_id)
