"""Trust decisions about the network: who the client is, and whether a browser request comes from us.

docs/security.md, "Proxies, TLS, sessions and origins", explains each decision:

- the client address is the TCP peer, unless the peer is one of ``SPACES_TRUSTED_PROXIES``; only then
  is ``X-Forwarded-For`` read, from the right, up to the first address that is not a trusted proxy.
  Every throttle keyed by address sees that one value (``REMOTE_ADDR`` after :class:`ClientAddressMiddleware`).
- ``X-Forwarded-Proto`` counts only from a trusted proxy too (``SECURE_PROXY_SSL_HEADER`` reads it).
- a browser request is from us when its ``Origin`` (or, without one, its ``Referer``) names an allowed host
  (``ALLOWED_HOSTS``) or a ``CSRF_TRUSTED_ORIGINS`` entry; the web login and the websocket use that check.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "127.0.0.1"]`` as networks; a bad entry is a configuration error, not a guess."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"SPACES_TRUSTED_PROXIES: {value!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)"
            ) from None
    return tuple(networks)


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(values)


def _address(value: str) -> Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: str) -> bool:
    networks = _networks(tuple(settings.SPACES_TRUSTED_PROXIES))
    parsed = _address(address) if networks else None
    return parsed is not None and any(parsed in network for network in networks)


def client_address(peer: str, forwarded_for: str | None) -> str:
    """The client's address: ``peer`` itself unless it is a trusted proxy.

    Behind trusted proxies each hop of ``X-Forwarded-For`` was appended by the proxy to its right, so the
    list is read from the right and the first address that is not a trusted proxy is the client. What a
    client wrote to the left of that is never read: rotating it changes nothing.
    """
    if not forwarded_for or not is_trusted_proxy(peer):
        return peer
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        if not hop.strip():
            continue
        address = _address(hop)
        if address is None:  # not an address a proxy of ours writes: stop at the last one we can vouch for
            return client
        client = str(address)
        if not is_trusted_proxy(client):
            return client
    return client


class ClientAddressMiddleware:
    """Sets ``REMOTE_ADDR`` to the client address for everything after it (throttles, admin, logs).

    It runs first. The forwarding headers are removed from ``META`` once used, and ``X-Forwarded-Proto``
    of a peer that is not a trusted proxy is dropped, so nothing later can trust what a client wrote.
    The TCP peer stays in ``META["SPACES_PEER_ADDR"]``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        peer = meta.get("REMOTE_ADDR", "") or ""
        meta["SPACES_PEER_ADDR"] = peer
        forwarded_for = meta.pop("HTTP_X_FORWARDED_FOR", None)
        if is_trusted_proxy(peer):
            meta["REMOTE_ADDR"] = client_address(peer, forwarded_for)
        else:
            meta.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)


# ---------------------------------------------------------------------------------------- origins
def origin_allowed(origin: str) -> bool:
    """Whether a browser ``Origin`` (``scheme://host[:port]``) belongs to this deployment."""
    parsed = urlsplit(origin.strip())
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return False
    normalized = f"{parsed.scheme}://{parsed.netloc}".lower()
    for trusted in settings.CSRF_TRUSTED_ORIGINS:  # Django's own semantics: exact, or https://*.example.com
        entry = urlsplit(trusted.lower())
        if "*" in entry.netloc:
            if entry.scheme == parsed.scheme and is_same_domain(parsed.netloc.lower(), entry.netloc.lstrip("*")):
                return True
        elif normalized == f"{entry.scheme}://{entry.netloc}":
            return True
    domain, _port = split_domain_port(parsed.netloc)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:  # what Django's get_host() allows in this case
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


class BrowserOrigin(enum.Enum):
    NONE = "none"  # no Origin and no Referer: not a browser (a mobile app, a script)
    OURS = "ours"
    FOREIGN = "foreign"


def request_origin(request: HttpRequest) -> BrowserOrigin:
    """Where a browser request comes from: its ``Origin``, else its ``Referer`` (https only on https).

    Browsers send ``Origin`` on every cross-site and every same-site POST; a request carrying neither
    header is not from a browser, so it cannot be a forged cross-site request.
    """
    origin = request.headers.get("Origin")
    if origin is not None:
        return BrowserOrigin.OURS if origin_allowed(origin) else BrowserOrigin.FOREIGN
    referer = request.headers.get("Referer")
    if not referer:
        return BrowserOrigin.NONE
    parsed = urlsplit(referer)
    if request.is_secure() and parsed.scheme != "https":
        return BrowserOrigin.FOREIGN
    return BrowserOrigin.OURS if origin_allowed(f"{parsed.scheme}://{parsed.netloc}") else BrowserOrigin.FOREIGN


def scope_origin(scope: dict[str, Any]) -> str | None:
    """The ``Origin`` header of an ASGI scope, or None."""
    for name, value in scope.get("headers", []):
        if name == b"origin":
            return bytes(value).decode("latin-1")
    return None


# ---------------------------------------------------------------------------------------- CSP
def _ws_and_http(url: str) -> list[str]:
    """The websocket and HTTP origins of a ws(s):// or http(s):// URL (LiveKit's client uses both)."""
    parsed = urlsplit(url)
    if not parsed.netloc:
        return []
    secure = parsed.scheme in {"wss", "https"}
    return [f"{'wss' if secure else 'ws'}://{parsed.netloc}", f"{'https' if secure else 'http'}://{parsed.netloc}"]


def content_security_policy() -> str:
    """The policy of every page: our own scripts and styles only, sockets to us and to LiveKit.

    The web client is bundled and served from ``static/`` (no inline script, no inline style attribute);
    Stripe.js is the one third-party script, allowed only where card entry is configured.
    """
    script = ["'self'"]
    frame = ["'none'"]
    connect = ["'self'", *_ws_and_http(settings.SPACES_PUBLIC_URL), *_ws_and_http(settings.LIVEKIT_URL)]
    hls = _ws_and_http(settings.SPACES_HLS_URL)[1:]  # the HLS origin or CDN: hls.js fetches, Safari plays
    connect += hls
    if settings.STRIPE_PUBLISHABLE_KEY:
        script.append("https://js.stripe.com")
        frame = ["https://js.stripe.com", "https://hooks.stripe.com"]
        connect.append("https://api.stripe.com")
    directives = {
        "default-src": ["'self'"],
        "script-src": script,
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": list(dict.fromkeys(connect)),
        "media-src": ["'self'", "blob:", *hls],
        "frame-src": frame,
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


# The API reference page (Swagger UI) is the one page that loads a CDN: its own policy, nothing wider.
API_DOCS_CSP = (
    "default-src 'self'; script-src 'self' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """Adds :func:`content_security_policy` to every response that does not carry its own policy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy()
        return response


def with_policy(policy: str, view: Callable[..., Any]) -> Callable[..., Any]:
    """``view`` answering with its own Content-Security-Policy."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = policy
        return response

    return wrapped
