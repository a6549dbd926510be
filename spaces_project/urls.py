from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from spaces_project.common import health

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("rooms.api.urls")),
    path("", include("tickets.api.urls")),
    path("", include("moderation.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("rooms.webhook_urls")),
    path("", include("tickets.webhook_urls")),
    path("", include("spaces_project.web.urls")),
]

# Django-level errors (unknown path, bad Host, over-size body, crash): JSON under /api/ and /webhooks/.
handler400 = "spaces_project.common.errors.bad_request"
handler403 = "spaces_project.common.errors.permission_denied"
handler404 = "spaces_project.common.errors.page_not_found"
handler500 = "spaces_project.common.errors.server_error"
