"""OpenAPI descriptions of the accounts authentication classes (drf-spectacular finds them at start-up)."""

from drf_spectacular.authentication import SessionScheme


class ActiveSessionScheme(SessionScheme):
    """The session cookie of the web client, as described for DRF's own SessionAuthentication."""

    target_class = "accounts.authentication.ActiveSessionAuthentication"
