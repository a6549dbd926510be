"""Server-rendered pages of the web client. Data comes from the REST API and the websocket;
these views only render shells (and the public share page, which must work without JavaScript)."""

from __future__ import annotations

from typing import Any

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
from rooms import selectors
from rooms.models import Recording, Space, SpaceState
from spaces_project.common.exceptions import ApplicationError


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


def _start_s(value: str | None) -> float:
    try:
        t = float(value or 0)
    except ValueError:
        return 0.0
    return t if 0 <= t < 10**7 else 0.0


def _replay_context(request: HttpRequest, space: Space) -> dict[str, Any]:
    """The replay player for whoever may hear it (same rules as the API), or why not."""
    if not Recording.objects.filter(space=space).exists():
        return {}
    if not isinstance(request.user, User):
        return {"replay_refusal": "Log in to play the replay."}
    try:
        recording = selectors.recording_visible(space_id=space.pk, user=request.user)
    except ApplicationError as exc:
        if exc.code == "recording_not_found":
            return {}
        return {"replay_refusal": str(exc.detail)}
    timeline = [
        dict(s, start_s=int(s["start_ms"]) / 1000)  # type: ignore[call-overload]
        for s in selectors.recording_timeline(recording=recording)
    ]
    return {"recording": recording, "timeline": timeline, "start_s": _start_s(request.GET.get("t"))}


@ensure_csrf_cookie
def share_page(request: HttpRequest, space_id: int) -> HttpResponse:
    """Public share page with OpenGraph tags (title, host, state, listener count), and the replay
    (``?t=`` seconds to start at) once the Space has one."""
    space = get_object_or_404(Space.objects.select_related("host"), pk=space_id)
    url = request.build_absolute_uri()
    context = {"page": "share", "space": space, "share_url": url, **_replay_context(request, space)}
    return render(request, "web/share.html", context)


def clip_page(request: HttpRequest, clip_id: int) -> HttpResponse:
    """A clip's own page: OpenGraph audio tags and a player (for whoever may hear it)."""
    from django.http import Http404
    from rest_framework.exceptions import APIException

    from rooms.services import clips

    viewer = request.user if isinstance(request.user, User) else None
    try:
        clip = clips.clip_visible(clip_id=clip_id, user=viewer)
    except (ApplicationError, APIException) as exc:
        if exc.status_code == 404:
            raise Http404() from None
        refusal = "Log in to play this clip." if viewer is None else str(exc.detail)
        return render(request, "web/clip.html", {"page": "clip", "refusal": refusal}, status=exc.status_code)
    base = f"{request.scheme}://{request.get_host()}"
    context = {
        "page": "clip",
        "clip": clip,
        "seconds": (clip.end_ms - clip.start_ms) / 1000,
        "start_s": clip.start_ms // 1000,
        "audio_url": f"{base}/api/v1/clips/{clip.pk}/audio",
        "page_url": request.build_absolute_uri(),
    }
    return render(request, "web/clip.html", context)


@login_required
def summary_page(request: HttpRequest, space_id: int) -> HttpResponse:
    """The host's summary of a Space (the same figures as ``GET /api/v1/spaces/{id}/summary``)."""
    from django.http import Http404

    from rooms.summary import space_summary

    assert isinstance(request.user, User)
    space = get_object_or_404(Space, pk=space_id)
    try:
        summary = space_summary(space_id=space_id, user=request.user)
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise Http404() from None
        return render(
            request, "web/summary.html", {"page": "summary", "space": space, "refusal": exc.detail}, status=403
        )
    return render(request, "web/summary.html", {"page": "summary", "space": space, "summary": summary})
