from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/token", views.TokenView.as_view(), name="auth-token"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("me", views.MeView.as_view(), name="me"),
    path("users/<str:username>", views.UserDetailView.as_view(), name="user-detail"),
    path("users/<str:username>/follow", views.FollowView.as_view(), name="user-follow"),
    path("users/<str:username>/block", views.BlockView.as_view(), name="user-block"),
    path("users/<str:username>/followers", views.FollowersListView.as_view(), name="user-followers"),
    path("users/<str:username>/following", views.FollowingListView.as_view(), name="user-following"),
]
