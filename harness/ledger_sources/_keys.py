"""The Stripe key a ledger source reads with: from the environment, test mode only."""

from __future__ import annotations

import os

from harness.profile import ProfileError, ProviderSection

TEST_PREFIXES = ("sk_test_", "rk_test_")
LIVE_PREFIXES = ("sk_live_", "rk_live_")


def read_test_key(section: ProviderSection) -> str:
    """The test key in the environment variable ``[provider] api_key_env`` names; a
    missing variable, a live key or anything but a test key is a :class:`ProfileError`."""
    name = section.api_key_env
    field = "provider.api_key_env"
    if not name:
        raise ProfileError(f"{field}: required with ledger = 'stripe' (the variable's name)")
    key = os.environ.get(name, "").strip()
    if not key:
        raise ProfileError(
            f"{field}: environment variable {name} is not set; export the account's test "
            "key (sk_test_... or a restricted rk_test_... with read access)"
        )
    if key.startswith(LIVE_PREFIXES):
        raise ProfileError(
            f"{field}: {name} holds a live key ({key[:8]}...); nodouble reads test mode "
            "only: give a test key (sk_test_... or rk_test_...)"
        )
    if not key.startswith(TEST_PREFIXES):
        raise ProfileError(
            f"{field}: {name} does not hold a Stripe test key (it must start with sk_test_ "
            "or rk_test_)"
        )
    return key
