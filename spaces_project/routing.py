"""Websocket URL routes; each app adds its consumers here."""

from django.urls import URLPattern, URLResolver, path

from rooms.consumers import space_consumer_app

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/spaces/<int:space_id>/", space_consumer_app()),
]
