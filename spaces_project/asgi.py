"""ASGI entry point: HTTP through Django, websockets through Channels with session or token auth."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.ws_auth import TokenOrSessionAuthMiddlewareStack  # noqa: E402
from spaces_project.common.pooled_http import LEAN_ROUTES, PooledRoutes  # noqa: E402
from spaces_project.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # the REST join on a bounded pool, the storm's shape without the middleware chain (issue 16)
        "http": PooledRoutes(django_asgi_app, lean=LEAN_ROUTES),
        "websocket": TokenOrSessionAuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
