"""Settings: defaults, environment, one-line errors naming the variable."""

from __future__ import annotations

import pytest

from reference_app.config import ConfigError, Settings


def test_defaults_and_environment() -> None:
    settings = Settings.from_env({"NODOUBLE_SESSION_SECRET": "s", "NODOUBLE_LEASE_SECONDS": "5"})
    assert settings.database_url == "sqlite:///./nodouble.sqlite3"
    assert settings.provider_url == "http://127.0.0.1:12111"
    assert settings.provider_api_key == "sk_test_nodouble"
    assert settings.webhook_secret == "whsec_nodouble_dev"
    assert settings.lease_seconds == 5
    assert settings.key_ttl_seconds == 86400


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("NODOUBLE_DATABASE_URL", "oracle://x"),
        ("NODOUBLE_PROVIDER_URL", "ftp://x"),
        ("NODOUBLE_PROVIDER_API_KEY", "pk_test_x"),
        ("NODOUBLE_LEASE_SECONDS", "-1"),
        ("NODOUBLE_KEY_TTL_SECONDS", "soon"),
        ("NODOUBLE_FLAW", "skip_everything"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({var: value, "NODOUBLE_SESSION_SECRET": "s"})
    message = str(caught.value)
    assert message.startswith(f"{var}=")
    assert "\n" not in message
