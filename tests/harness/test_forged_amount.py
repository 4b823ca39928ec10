"""The forged amount of ``Confirm(change="amount")``: different from the quote, and above
every currency's minimum charge, so that a provider would take it (Stripe refuses less)."""

from __future__ import annotations

import pytest

from fake_provider._params import MIN_AMOUNTS
from harness.interpreter import forged_amount


@pytest.mark.parametrize("quoted", [None, 1, 50, 1500, 1999, 2000, 10000, 99_999_999])
def test_a_forged_amount_differs_and_clears_every_minimum(quoted: int | None) -> None:
    forged = forged_amount(quoted)
    assert forged != quoted
    assert forged >= max(MIN_AMOUNTS.values())
    assert forged <= 99_999_999  # and below Stripe's maximum


def test_half_the_quote_when_it_clears_the_minimums() -> None:
    assert forged_amount(100_000) == 50_000
    assert forged_amount(1500) == 21_500
