from django.urls import URLPattern, URLResolver, path

from moderation.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("reports", views.ReportCreateView.as_view(), name="report-create"),
    path("me/reports", views.MyReportsView.as_view(), name="me-reports"),
    path("me/notices", views.MyNoticesView.as_view(), name="me-notices"),
    path("me/bans", views.MyBansView.as_view(), name="me-bans"),
    path("me/bans/<str:username>", views.MyBanDetailView.as_view(), name="me-ban-detail"),
    path("spaces/<int:space_id>/moderation-log", views.ModerationLogView.as_view(), name="space-moderation-log"),
    path("spaces/<int:space_id>/bans", views.SpaceBansView.as_view(), name="space-bans"),
    path("spaces/<int:space_id>/bans/<str:username>", views.SpaceBanDetailView.as_view(), name="space-ban-detail"),
]
