"""``POST /webhooks/stripe``: verify Stripe's signature, then process the event once (tickets.services.webhooks)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tickets import services, stripe_client

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """``POST /webhooks/stripe``: verify the signature, then process the event once.

    400 ``invalid_signature`` (bad or out-of-date signature) and 400 ``invalid_payload`` (signed, but
    not an event) change nothing; a signed event of any shape is otherwise acknowledged with 200.
    """
    try:
        event = stripe_client.webhook_event_verify(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature", "")
        )
        outcome = services.webhook_event_process(event=event)
    except stripe_client.SignatureError:
        logger.warning("stripe.bad_signature")
        return JsonResponse(
            {"code": "invalid_signature", "detail": "The Stripe signature does not verify.", "extra": {}}, status=400
        )
    except (stripe_client.PayloadError, services.MalformedEvent) as exc:
        logger.warning("stripe.bad_payload", extra={"reason": str(exc)[:200]})
        return JsonResponse(
            {"code": "invalid_payload", "detail": "The signed payload is not a Stripe event.", "extra": {}}, status=400
        )
    return JsonResponse({"received": True, "outcome": outcome})
