"""``POST /webhooks/livekit``: verify LiveKit's signature, then update presence."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from rooms import livekit_client
from rooms.services import livekit_event_apply

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def livekit_webhook(request: HttpRequest) -> HttpResponse:
    """401 (and nothing changed) unless the JWT in ``Authorization`` signs this exact body."""
    auth = request.headers.get("Authorization", "")
    try:
        body = request.body.decode("utf-8")
        event = livekit_client.webhook_receive(body=body, auth_header=auth)
    except (livekit_client.WebhookInvalid, UnicodeDecodeError):
        logger.warning("livekit.webhook_rejected")
        return JsonResponse(
            {"code": "invalid_signature", "detail": "Webhook signature did not verify.", "extra": {}}, status=401
        )
    result = livekit_event_apply(event=event)
    logger.info("livekit.webhook", extra={"event": event.event, "room": event.room, "result": result})
    return JsonResponse({"result": result})
