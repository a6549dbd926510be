"""The database session store, refusing session keys Django never issues before looking them up.

Django's own check is only "at least 8 characters". A cookie value may be quoted with octal escapes
(``sessionid="\\000\\000…"``), which Django unquotes into NUL characters; PostgreSQL refuses NUL in a
query, so looking such a key up raised (HTTP 500, or a failed websocket handshake). Django issues keys
of lowercase letters and digits: anything else is no session at all.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        return bool(key) and key is not None and key.isascii() and key.isalnum() and 8 <= len(key) <= 40
