from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from moderation.throttles import login_attempt_allowed
from spaces_project.common import health, security
from spaces_project.realtime.api import EventsSchemaView


def admin_login(request: HttpRequest, **kwargs: object) -> HttpResponse:
    """Django admin's login, each password attempt counted against the API's login limit."""
    if request.method == "POST":
        wait = login_attempt_allowed(request)
        if wait is not None:
            response = HttpResponse(
                f"Too many login attempts from your address; try again in {wait} seconds.\n",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(wait)
            return response
    return admin.site.login(request, **kwargs)  # type: ignore[arg-type]


api_v1: list[URLPattern | URLResolver] = [
    path("", include("accounts.api.urls")),
    path("", include("rooms.api.urls")),
    path("", include("tickets.api.urls")),
    path("", include("moderation.api.urls")),
    path("events/schema", EventsSchemaView.as_view(), name="events-schema"),
]

urlpatterns = [
    # Ahead of admin.site.urls, which would otherwise answer the same path (name kept for reverse()).
    path(f"{settings.SPACES_ADMIN_PATH}login/", admin_login, name="admin-login-throttled"),
    path(settings.SPACES_ADMIN_PATH, admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's script is served from here (not inline); its bundle comes from a CDN: a policy of its own.
    path(
        "api/docs/",
        security.with_policy(security.API_DOCS_CSP, SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("rooms.api.webhook_urls")),
    path("", include("tickets.api.webhook_urls")),
    path("", include("spaces_project.web.urls")),
]

# Django-level errors (unknown path, bad Host, over-size body, crash): JSON under /api/ and /webhooks/.
handler400 = "spaces_project.common.errors.bad_request"
handler403 = "spaces_project.common.errors.permission_denied"
handler404 = "spaces_project.common.errors.page_not_found"
handler500 = "spaces_project.common.errors.server_error"
