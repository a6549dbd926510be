"""The only module that imports ``stripe``. Takes values from settings, returns plain values.

Every call that creates money movement carries an idempotency key chosen by the caller from the
database row it belongs to, so a retried task or a restarted worker repeats the same request and
Stripe answers with what it already did.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings

from spaces_project.common.text import loads_strict

logger = logging.getLogger(__name__)


class StripeError(Exception):
    """A Stripe call failed. ``retriable`` says whether repeating the same request may succeed."""

    def __init__(self, message: str, *, retriable: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.code = code


class SignatureError(Exception):
    """A webhook payload whose signature does not verify (or is dated outside the tolerance)."""


class PayloadError(Exception):
    """A correctly signed webhook payload that is not a Stripe event."""


@dataclass(frozen=True)
class PaymentIntent:
    id: str
    client_secret: str
    status: str
    amount: int
    currency: str


def _client() -> stripe.StripeClient:
    return _client_for(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


@functools.lru_cache(maxsize=4)
def _client_for(secret_key: str, api_base: str) -> stripe.StripeClient:
    # One client per configuration: its HTTP client keeps a connection pool per thread.
    # Retries are ours (Celery, same idempotency key), not the SDK's.
    if api_base:
        return stripe.StripeClient(secret_key, base_addresses={"api": api_base}, max_network_retries=0)
    return stripe.StripeClient(secret_key, max_network_retries=0)


def _wrap(exc: stripe.StripeError) -> StripeError:
    # Connection problems, rate limits, Stripe-side errors and idempotency races may succeed when
    # repeated with the same key; invalid requests and refusals will not.
    retriable = isinstance(
        exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError | stripe.IdempotencyError
    ) or (exc.http_status is not None and exc.http_status >= 500)
    return StripeError(str(exc.user_message or exc), retriable=retriable, code=exc.code)


def payment_intent_create(
    *, amount_cents: int, currency: str, ticket_id: int, space_id: int, buyer_id: int, idempotency_key: str
) -> PaymentIntent:
    try:
        pi = _client().v1.payment_intents.create(
            params={
                "amount": amount_cents,
                "currency": currency,
                "automatic_payment_methods": {"enabled": True},
                "description": f"Ticket for Space {space_id}",
                "transfer_group": f"space-{space_id}",  # ties the charge to the host's payout transfer
                "metadata": {"ticket_id": str(ticket_id), "space_id": str(space_id), "buyer_id": str(buyer_id)},
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _wrap(exc) from exc
    return PaymentIntent(
        id=pi.id, client_secret=pi.client_secret or "", status=pi.status, amount=pi.amount, currency=pi.currency
    )


def payment_intent_retrieve(*, payment_intent_id: str) -> PaymentIntent:
    try:
        pi = _client().v1.payment_intents.retrieve(payment_intent_id)
    except stripe.StripeError as exc:
        raise _wrap(exc) from exc
    return PaymentIntent(
        id=pi.id, client_secret=pi.client_secret or "", status=pi.status, amount=pi.amount, currency=pi.currency
    )


def payment_intent_cancel(*, payment_intent_id: str) -> str:
    """Cancel an unpaid PaymentIntent; returns its status."""
    try:
        pi = _client().v1.payment_intents.cancel(payment_intent_id, params={"cancellation_reason": "abandoned"})
    except stripe.StripeError as exc:
        raise _wrap(exc) from exc
    return pi.status


def refund_create(*, payment_intent_id: str, ticket_id: int, idempotency_key: str) -> tuple[str, str]:
    """Refund a paid ticket in full; returns ``(refund_id, status)``."""
    try:
        refund = _client().v1.refunds.create(
            params={
                "payment_intent": payment_intent_id,
                "reason": "requested_by_customer",
                "metadata": {"ticket_id": str(ticket_id)},
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _wrap(exc) from exc
    return refund.id, refund.status or ""


def transfer_create(
    *,
    amount_cents: int,
    currency: str,
    destination: str,
    payout_id: int,
    space_id: int,
    idempotency_key: str,
) -> str:
    """Send a host's net to their Connect account; returns the transfer id."""
    try:
        transfer = _client().v1.transfers.create(
            params={
                "amount": amount_cents,
                "currency": currency,
                "destination": destination,
                "transfer_group": f"space-{space_id}",
                "metadata": {"payout_id": str(payout_id), "space_id": str(space_id)},
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise _wrap(exc) from exc
    return transfer.id


def connect_account_create(*, user_id: int, email: str, idempotency_key: str) -> str:
    """Create an Express account that can receive transfers; returns its id."""
    params: stripe.params.AccountCreateParams = {
        "type": "express",
        "capabilities": {"transfers": {"requested": True}},
        "metadata": {"user_id": str(user_id)},
    }
    if email:
        params["email"] = email
    try:
        account = _client().v1.accounts.create(params=params, options={"idempotency_key": idempotency_key})
    except stripe.StripeError as exc:
        raise _wrap(exc) from exc
    return account.id


def connect_account_link_create(*, account_id: str, refresh_url: str, return_url: str) -> str:
    """An onboarding link for the host; returns its URL (single use, short-lived)."""
    try:
        link = _client().v1.account_links.create(
            params={
                "account": account_id,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            }
        )
    except stripe.StripeError as exc:
        raise _wrap(exc) from exc
    return link.url


def _signature_timestamp(header: str) -> int | None:
    """The ``t=`` of a ``Stripe-Signature`` header (the time Stripe signed at), if it is a plain number."""
    for item in header.split(","):
        name, _, value = item.partition("=")
        if name.strip() == "t":
            value = value.strip()
            return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None
    return None


def webhook_event_verify(*, payload: bytes, signature_header: str) -> dict[str, Any]:
    """Verify a webhook's ``Stripe-Signature`` and return the event as a plain dict.

    The signature must be dated within ``TICKETS_WEBHOOK_TOLERANCE_S`` of now, **both ways**: the SDK
    only refuses old ones, so a signature dated a month ahead stayed replayable for that month.
    Raises ``SignatureError`` for a bad signature, ``PayloadError`` for a signed body that is not an
    event (not JSON, not an object, no string ``id``/``type``).
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise SignatureError("STRIPE_WEBHOOK_SECRET is not configured")
    tolerance = settings.TICKETS_WEBHOOK_TOLERANCE_S
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature_header, secret, tolerance)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise SignatureError(str(exc)) from exc
    signed_at = _signature_timestamp(signature_header)
    if signed_at is None or abs(time.time() - signed_at) > tolerance:
        raise SignatureError("Timestamp outside the tolerance zone")
    try:
        event = loads_strict(payload)
    except ValueError as exc:
        raise PayloadError(str(exc)[:200]) from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise PayloadError("not a Stripe event")
    return event
