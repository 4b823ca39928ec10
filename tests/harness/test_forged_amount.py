"""The amount a tampered confirm names (``api.tampered_amount``).

With per-currency minimums (Stripe's, and the fake's by default) a forged amount of 1 is
refused by the provider even when the checkout trusts it: the flaw ``trust_client_amount``
then went uncaught. The forged amount must differ from the order's and stay payable.
"""

from __future__ import annotations

import pytest

from fake_provider._params import MIN_AMOUNTS
from harness.interpreter import forged_amount


@pytest.mark.parametrize("quoted", [min(MIN_AMOUNTS.values()), 50, 7500, 17500])
def test_a_forged_amount_differs_and_stays_above_the_minimum(quoted: int) -> None:
    forged = forged_amount(quoted)
    assert forged != quoted
    for currency, least in MIN_AMOUNTS.items():
        if quoted >= least:  # an order the provider would take in this currency
            assert forged >= least, currency


def test_without_a_quoted_amount_the_forged_amount_is_1() -> None:
    assert forged_amount(None) == 1
