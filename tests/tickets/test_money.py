"""The revenue split, table-driven: 97 % / 80 %, the USD 50,000 threshold crossing, cent rounding."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tickets.money import Split, SplitRules, host_share_exact, split_tickets, total

RULES = SplitRules(threshold_cents=5_000_000, rate_before_bps=9700, rate_after_bps=8000)

CASES = [
    # (name, earned before, prices, expected host nets)
    ("97 % below the threshold", 0, [1000], [970]),
    ("USD 1 ticket rounds up for the host", 0, [100], [97]),
    ("a cent of rounding goes to the host", 0, [999], [970]),  # exact 969.03
    ("cumulative rounding: total is ceil of exact", 0, [999, 999, 999], [970, 969, 969]),  # 2907.09 -> 2908
    ("80 % at the threshold", 5_000_000, [1000], [800]),
    ("80 % above the threshold", 7_000_000, [99_900], [79_920]),
    ("80 % rounding favours the host", 5_000_000, [999], [800]),  # exact 799.2
    # 485 cents of room = 500 cents of gross at 97 %; the other 500 cents at 80 %: 485 + 400.
    ("a ticket crossing the threshold is split exactly at it", 4_999_515, [1000], [885]),
    ("reaching the threshold exactly", 4_999_030, [1000], [970]),
    ("the ticket after the crossing is at 80 %", 4_999_515, [1000, 1000], [885, 800]),
    # 2 cents of room: 200/97 cents of gross at 97 %, the rest (99_900 - 2.0618...) at 80 %.
    ("crossing by a hair", 4_999_998, [99_900], [79_921]),
    (
        "a big Space crossing the threshold",
        4_950_000,
        [50_000] * 3,
        [48_500, 40_263, 40_000],
    ),  # 1_500 + 48_453.61 * 0.8
]


@pytest.mark.parametrize(("name", "earned", "prices", "nets"), CASES, ids=[c[0] for c in CASES])
def test_split(name: str, earned: int, prices: list[int], nets: list[int]) -> None:
    splits = split_tickets(prices_cents=prices, earned_before_cents=earned, rules=RULES)
    assert [s.host_net_cents for s in splits] == nets


@pytest.mark.parametrize(("name", "earned", "prices", "nets"), CASES, ids=[c[0] for c in CASES])
def test_every_ticket_balances_and_platform_never_gains_a_cent(
    name: str, earned: int, prices: list[int], nets: list[int]
) -> None:
    splits = split_tickets(prices_cents=prices, earned_before_cents=earned, rules=RULES)
    exact = Fraction(earned)
    for split in splits:
        share = host_share_exact(price_cents=split.gross_cents, earned_before=exact, rules=RULES)
        exact += share
        assert split.gross_cents == split.host_net_cents + split.platform_fee_cents
        assert split.host_net_cents > share - 1  # the platform is favoured by less than a cent
    summed = total(splits)
    assert summed.host_net_cents >= exact - earned  # in total the host never loses a fraction of a cent
    assert summed.host_net_cents < exact - earned + 1


def test_total_sums_the_ledger() -> None:
    splits = [Split(1000, 970, 30), Split(999, 969, 30)]
    assert total(splits) == Split(1999, 1939, 60)


def test_rates_come_from_settings(settings) -> None:
    settings.TICKETS_HOST_SHARE_BPS = 9000
    settings.TICKETS_HOST_SHARE_AFTER_THRESHOLD_BPS = 7000
    settings.TICKETS_HOST_THRESHOLD_CENTS = 100
    splits = split_tickets(prices_cents=[100, 100], earned_before_cents=50, rules=SplitRules.from_settings())
    # 50 cents of room = 55.5... cents of gross at 90 %, the rest at 70 %: 50 + 31.11 -> 82, then 70.
    assert [s.host_net_cents for s in splits] == [82, 70]
