"""The test harness every test folder shares: servers, LiveKit, the Stripe proxy, Celery workers, the
cluster, the browser, and builders of Spaces, participants and tickets. Its fixtures are registered once,
from tests/conftest.py (``pytest_plugins``); test modules import its helpers from here.

- ``services``: the real services' guards (``require``, ``IN_CI``) and their URL fixtures
- ``servers``: Spaces' ASGI server as subprocesses (``bin/web``): ``servers``, ``server_env``, ``start_server``
- ``sockets``: websocket clients for those servers
- ``livekit``: a private livekit-server, the app on a real port for its webhooks, realtime-client peers
- ``stripe``: a recording proxy in front of stripe-mock, signed Stripe webhook events
- ``workers``: a real Celery worker subprocess on a private queue
- ``cluster``: the production-shaped ``bin/cluster`` for the session
- ``browser``: headless Chromium and its page helpers
- ``builders``: Spaces, participants, tickets (``tests.factories`` makes users)
"""

import pytest

# Plain asserts in the harness report like the tests' own (this runs before any of its modules loads).
MODULES = ("browser", "builders", "cluster", "livekit", "servers", "services", "sockets", "stripe", "workers")
pytest.register_assert_rewrite(*(f"tests.support.{name}" for name in MODULES))
