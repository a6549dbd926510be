from django.urls import URLPattern, URLResolver, path

from tickets.api.webhooks import stripe_webhook

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/stripe", stripe_webhook, name="webhook-stripe"),
]
