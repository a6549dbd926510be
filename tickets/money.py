"""The revenue split between a host and the platform, in integer cents. Pure functions.

The host earns ``rate_before_bps`` of ticket revenue until their lifetime earnings reach
``threshold_cents``, then ``rate_after_bps``. A ticket that crosses the threshold is split exactly
at it: the part of its price that brings the host to the threshold is shared at the first rate, the
rest at the second.

Rounding: the exact (rational) running total of the host's earnings is rounded **up** once, and
each ticket's net is the difference of consecutive rounded totals. So the host's total for a Space
is never below the exact amount, the platform is never favoured by a cent or more on any ticket,
and ``price == host_net + platform_fee`` holds for every ticket by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

BPS = 10_000


@dataclass(frozen=True)
class Split:
    gross_cents: int
    host_net_cents: int
    platform_fee_cents: int


@dataclass(frozen=True)
class SplitRules:
    threshold_cents: int
    rate_before_bps: int
    rate_after_bps: int

    @classmethod
    def from_settings(cls) -> SplitRules:
        from django.conf import settings

        return cls(
            threshold_cents=settings.TICKETS_HOST_THRESHOLD_CENTS,
            rate_before_bps=settings.TICKETS_HOST_SHARE_BPS,
            rate_after_bps=settings.TICKETS_HOST_SHARE_AFTER_THRESHOLD_BPS,
        )


def host_share_exact(*, price_cents: int, earned_before: Fraction, rules: SplitRules) -> Fraction:
    """The host's exact share of one ticket, given exact lifetime earnings before it."""
    before = Fraction(rules.rate_before_bps, BPS)
    after = Fraction(rules.rate_after_bps, BPS)
    room = Fraction(rules.threshold_cents) - earned_before  # earnings left at the first rate
    if room <= 0:
        return price_cents * after
    if price_cents * before <= room:
        return price_cents * before
    gross_at_first_rate = room / before
    return room + (price_cents - gross_at_first_rate) * after


def split_tickets(*, prices_cents: Iterable[int], earned_before_cents: int, rules: SplitRules) -> list[Split]:
    """Split each ticket of a Space, in sale order, continuing from the host's lifetime earnings."""
    exact = Fraction(earned_before_cents)
    rounded = earned_before_cents
    splits: list[Split] = []
    for price in prices_cents:
        exact += host_share_exact(price_cents=price, earned_before=exact, rules=rules)
        new_rounded = min(math.ceil(exact), rounded + price)
        net = new_rounded - rounded
        rounded = new_rounded
        splits.append(Split(gross_cents=price, host_net_cents=net, platform_fee_cents=price - net))
    return splits


def total(splits: Iterable[Split]) -> Split:
    gross = net = fee = 0
    for split in splits:
        gross += split.gross_cents
        net += split.host_net_cents
        fee += split.platform_fee_cents
    return Split(gross_cents=gross, host_net_cents=net, platform_fee_cents=fee)
