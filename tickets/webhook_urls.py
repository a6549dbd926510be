from django.urls import URLPattern, URLResolver, path

from tickets.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/stripe", views.stripe_webhook, name="webhook-stripe"),
]
