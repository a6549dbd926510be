"""Hosts' Stripe Connect payout accounts: onboarding and the state Stripe reports."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.exceptions import NotEligible
from accounts.models import User
from accounts.selectors import host_eligibility
from tickets import stripe_client
from tickets.exceptions import PaymentProviderError
from tickets.models import PayoutAccount

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Onboarding:
    account: PayoutAccount
    onboarding_url: str


def payout_account_connect(*, user: User) -> Onboarding:
    """Create the host's Express account once, and return a fresh onboarding link for it.

    The account is created with an idempotency key derived from the user, so two clicks (or a retry
    after a lost answer) never create two Stripe accounts.
    """
    eligibility = host_eligibility(user=user)
    if not eligibility["can_host"]:
        raise NotEligible(extra={k: v for k, v in eligibility.items() if k != "can_host"})
    account = PayoutAccount.objects.filter(user=user).first()
    try:
        if account is None:
            account_id = stripe_client.connect_account_create(
                user_id=user.pk, email=user.email, idempotency_key=f"spaces-connect-account-user-{user.pk}"
            )
            try:
                with transaction.atomic():
                    account = PayoutAccount.objects.create(user=user, stripe_account_id=account_id)
            except IntegrityError:
                account = PayoutAccount.objects.get(user=user)
            logger.info("payout_account.created", extra={"user_id": user.pk, "account": account.stripe_account_id})
        base = settings.SPACES_PUBLIC_URL.rstrip("/")
        url = stripe_client.connect_account_link_create(
            account_id=account.stripe_account_id,
            refresh_url=f"{base}/payout-account/refresh",
            return_url=f"{base}/payout-account/done",
        )
    except stripe_client.StripeError as exc:
        logger.warning("payout_account.stripe_failed", extra={"user_id": user.pk, "error": str(exc)})
        raise PaymentProviderError() from exc
    return Onboarding(account=account, onboarding_url=url)


@transaction.atomic
def payout_account_apply_stripe_state(
    *,
    stripe_account_id: str,
    state_at: datetime,
    details_submitted: bool,
    charges_enabled: bool,
    payouts_enabled: bool,
    transfers_active: bool,
) -> str:
    """Apply an ``account.updated`` event, unless a newer one was applied already (late delivery)."""
    account = PayoutAccount.objects.select_for_update().filter(stripe_account_id=stripe_account_id).first()
    if account is None:
        return "unknown_account"
    if account.stripe_state_at is not None and state_at < account.stripe_state_at:
        return "stale"
    account.details_submitted = details_submitted
    account.charges_enabled = charges_enabled
    account.payouts_enabled = payouts_enabled
    account.transfers_active = transfers_active
    account.stripe_state_at = state_at
    account.save(
        update_fields=[
            "details_submitted",
            "charges_enabled",
            "payouts_enabled",
            "transfers_active",
            "stripe_state_at",
            "updated_at",
        ]
    )
    return "applied"
