"""Ticketing errors: stable codes and HTTP statuses."""

from spaces_project.common.exceptions import ApplicationError


class TicketRequired(ApplicationError):
    code = "ticket_required"
    status_code = 402
    default_detail = "This Space is ticketed: buy a ticket to join."


class SoldOut(ApplicationError):
    code = "sold_out"
    status_code = 409
    default_detail = "All tickets for this Space are taken."


class SalesClosed(ApplicationError):
    code = "sales_closed"
    status_code = 409
    default_detail = "Ticket sales for this Space are closed."


class NotTicketed(ApplicationError):
    code = "not_ticketed"
    status_code = 404
    default_detail = "This Space does not sell tickets."


class AlreadyHasTicket(ApplicationError):
    code = "already_has_ticket"
    status_code = 409
    default_detail = "You already have a ticket for this Space."


class HostCannotBuy(ApplicationError):
    code = "host_cannot_buy"
    status_code = 409
    default_detail = "Hosts do not need a ticket for their own Space."


class PayoutAccountRequired(ApplicationError):
    code = "payout_account_required"
    status_code = 409
    default_detail = "Connect a payout account that can receive payouts before selling tickets."


class TicketingLocked(ApplicationError):
    code = "ticketing_locked"
    status_code = 409
    default_detail = "The ticketing of this Space can no longer be changed this way."


class PaymentProviderError(ApplicationError):
    code = "payment_provider_error"
    status_code = 503
    default_detail = "The payment provider could not be reached. Please try again."


class RefundNotAllowed(ApplicationError):
    code = "refund_not_allowed"
    status_code = 409
    default_detail = "This ticket cannot be refunded."


class PayoutNotRetriable(ApplicationError):
    code = "payout_not_retriable"
    status_code = 409
    default_detail = "Only a failed payout can be retried."
