from django.urls import URLPattern, URLResolver, path

from rooms.api.webhooks import livekit_webhook

urlpatterns: list[URLPattern | URLResolver] = [path("webhooks/livekit", livekit_webhook, name="webhook-livekit")]
