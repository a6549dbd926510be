"""Server-rendered pages of the web client. Data comes from the REST API and the websocket;
these views only render shells (and the public share page, which must work without JavaScript)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST

from accounts.models import User
from rooms.models import Space, SpaceState


@ensure_csrf_cookie
def login_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web-home")
    return render(request, "web/login.html", {"page": "login", "next": safe_next(request)})


def safe_next(request: HttpRequest) -> str:
    """``?next=`` if it stays on this site (``//evil.example``, ``/\\evil.example``, ``https://evil`` do not)."""
    target = request.GET.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    # Only a path: the client adds it to its own origin.
    return target if allowed and target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@ensure_csrf_cookie
def signup_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web-home")
    return render(request, "web/signup.html", {"page": "signup"})


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web-login")


@login_required
@ensure_csrf_cookie
def home_page(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", {"page": "home"})


@login_required
@ensure_csrf_cookie
def create_page(request: HttpRequest) -> HttpResponse:
    return render(request, "web/create.html", {"page": "create"})


@ensure_csrf_cookie
def space_page(request: HttpRequest, space_id: int) -> HttpResponse:
    """The Space page; without an account only as a guest listener (``?guest=1``, a live Space that allows it)."""
    if not request.user.is_authenticated:
        live = Space.objects.select_related("host").filter(state=SpaceState.LIVE, guests_allowed=True)
        space = live.filter(pk=space_id).first()
        if request.GET.get("guest") != "1" or space is None:
            return redirect_to_login(request.get_full_path())
        return render(request, "web/space.html", {"page": "space", "space": space, "guest": True})
    space = get_object_or_404(Space.objects.select_related("host"), pk=space_id)
    context = {"page": "space", "space": space, "stripe_key": settings.STRIPE_PUBLISHABLE_KEY}
    return render(request, "web/space.html", context)


@login_required
@ensure_csrf_cookie
def profile_page(request: HttpRequest, username: str) -> HttpResponse:
    profile = get_object_or_404(User, username__iexact=username, is_active=True)
    return render(request, "web/profile.html", {"page": "profile", "profile": profile})


@login_required
@ensure_csrf_cookie
def dashboard_page(request: HttpRequest) -> HttpResponse:
    return render(request, "web/dashboard.html", {"page": "dashboard"})


def share_page(request: HttpRequest, space_id: int) -> HttpResponse:
    """Public share page with OpenGraph tags: title, host, state, listener count."""
    space = get_object_or_404(Space.objects.select_related("host"), pk=space_id)
    url = request.build_absolute_uri()
    return render(request, "web/share.html", {"page": "share", "space": space, "share_url": url})
