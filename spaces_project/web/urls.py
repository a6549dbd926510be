from django.urls import path

from spaces_project.web import views

urlpatterns = [
    path("", views.home_page, name="web-home"),
    path("login", views.login_page, name="web-login"),
    path("signup", views.signup_page, name="web-signup"),
    path("logout", views.logout_page, name="web-logout"),
    path("spaces/new", views.create_page, name="web-create"),
    path("spaces/<int:space_id>", views.space_page, name="web-space"),
    path("u/<str:username>", views.profile_page, name="web-profile"),
    path("dashboard", views.dashboard_page, name="web-dashboard"),
    path("s/<int:space_id>", views.share_page, name="web-share"),
    path("c/<int:clip_id>", views.clip_page, name="web-clip"),
    path("spaces/<int:space_id>/summary", views.summary_page, name="web-summary"),
]
