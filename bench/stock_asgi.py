"""The ASGI application of a bench server on the stock Channels path (bench/fanout.py ``--transports group``).

The production stack (``spaces_project.asgi``) with the Space socket served by ``bench.stock``'s consumer
and this process publishing through Channels groups. Run from the repository root:
``uvicorn bench.stock_asgi:application`` (bench/_common.py's ``start_server`` does).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from accounts.ws_auth import TokenOrSessionAuthMiddlewareStack  # noqa: E402
from bench import stock  # noqa: E402
from spaces_project.routing import no_route_app  # noqa: E402

stock.install()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": TokenOrSessionAuthMiddlewareStack(
            URLRouter(
                [
                    path("ws/spaces/<int:space_id>/", stock.StockSpaceConsumer.as_asgi()),
                    re_path(r"", no_route_app()),  # keep last
                ]
            )
        ),
    }
)
