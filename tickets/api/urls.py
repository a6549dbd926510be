from django.urls import URLPattern, URLResolver, path

from tickets.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("spaces/<int:space_id>/ticketing", views.TicketingView.as_view(), name="space-ticketing"),
    path("spaces/<int:space_id>/tickets", views.TicketPurchaseView.as_view(), name="space-tickets"),
    path("me/tickets", views.MyTicketsView.as_view(), name="me-tickets"),
    path("me/payouts", views.MyPayoutsView.as_view(), name="me-payouts"),
    path("me/payout-account", views.PayoutAccountView.as_view(), name="me-payout-account"),
]
