"""Reading typed values out of decoded form parameters, failing the Stripe way."""

from __future__ import annotations

from fake_provider._errors import StripeError, invalid, missing_param, unknown_param
from fake_provider.types import FormValue

_CURRENCY_CODES = "usd eur gbp jpy cad aud chf sek nok dkk pln czk huf nzd sgd hkd mxn brl inr krw"
CURRENCIES = frozenset([*_CURRENCY_CODES.split(" "), "zar", "ils", "aed", "thb", "myr", "php"])
MAX_AMOUNT = 99_999_999
# Stripe's documented minimum charge per currency, in the smallest unit ("Minimum and maximum
# charge amounts", docs.stripe.com/currencies); currencies not listed only need 1.
MIN_AMOUNTS = {
    "usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "aud": 50, "cad": 50, "chf": 50, "nzd": 50,
    "sgd": 50, "inr": 50, "brl": 50, "dkk": 250, "nok": 300, "sek": 300, "pln": 200,
    "czk": 1500, "huf": 17500, "hkd": 400, "mxn": 1000, "myr": 200, "aed": 200, "thb": 1000,
}  # fmt: skip
_ZERO_DECIMAL = frozenset({"jpy", "krw"})
Params = dict[str, FormValue]


def check_known(params: Params, allowed: set[str], ignored: frozenset[str] = frozenset()) -> None:
    for name in params:
        if name not in allowed and name not in ignored:
            raise unknown_param(name)


def get_str(
    params: Params, name: str, *, required: bool = False, max_len: int = 5000
) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise missing_param(name)
        return None
    if isinstance(value, list):
        raise invalid(
            f"Invalid {name}: it was given more than once, but it takes a single value.",
            param=name,
            code="parameter_invalid_string",
        )
    if not isinstance(value, str):
        raise invalid(
            f"Invalid string: {name} must be a string.", param=name, code="parameter_invalid_string"
        )
    if required and value == "":
        raise missing_param(name)
    if len(value) > max_len:
        raise invalid(
            f"Invalid string: {name} must be at most {max_len} characters.",
            param=name,
            code="parameter_invalid_string",
        )
    return value


def get_int(params: Params, name: str, *, required: bool = False) -> int | None:
    value = get_str(params, name, required=required, max_len=32)
    if value is None or (value == "" and not required):
        return None
    if not (value.isascii() and value.lstrip("-").isdigit()):
        raise invalid(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")
    return int(value)


def get_amount(params: Params, name: str, *, required: bool = False) -> int | None:
    amount = get_int(params, name, required=required)
    if amount is None:
        return None
    if amount < 1:
        raise invalid(
            f"Invalid {name}: it must be a positive integer in the currency's smallest unit.",
            param=name,
            code="amount_too_small",
        )
    if amount > MAX_AMOUNT:
        raise invalid(
            f"Invalid {name}: it must be at most {MAX_AMOUNT}.", param=name, code="amount_too_large"
        )
    return amount


def check_minimum(amount: int, currency: str, name: str = "amount") -> None:
    """Refuse an amount below Stripe's minimum charge for ``currency`` (``amount_too_small``)."""
    least = MIN_AMOUNTS.get(currency, 1)
    if amount >= least:
        return
    shown = str(least) if currency in _ZERO_DECIMAL else f"{least / 100:.2f}"
    raise invalid(
        f"Amount must be at least {shown} {currency} ({least} in the currency's smallest unit).",
        param=name,
        code="amount_too_small",
    )


def get_bool(params: Params, name: str) -> bool | None:
    value = get_str(params, name, max_len=8)
    if value is None or value == "":
        return None
    # "True"/"False" too: that is what requests sends for Python booleans
    if value.lower() not in ("true", "false"):
        raise invalid(f"Invalid boolean: {value}", param=name, code="parameter_invalid_boolean")
    return value.lower() == "true"


def get_choice(params: Params, name: str, choices: tuple[str, ...]) -> str | None:
    value = get_str(params, name, max_len=64)
    if value is None or value == "":
        return None
    if value not in choices:
        raise invalid(
            f"Invalid {name}: must be one of {', '.join(choices)}.",
            param=name,
            code="parameter_invalid_string",
        )
    return value


def get_currency(params: Params, name: str = "currency") -> str:
    value = get_str(params, name, required=True, max_len=16) or ""
    lowered = value.lower()
    if lowered not in CURRENCIES:
        raise invalid(
            f"Invalid currency: {value}. Use a supported three-letter ISO code in lowercase, "
            "such as usd.",
            param=name,
            code="parameter_invalid_string",
        )
    return lowered


def get_metadata(params: Params, name: str = "metadata") -> dict[str, str] | None:
    """Metadata: string keys (<= 40 chars) to string values (<= 500 chars), <= 50 keys."""
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid metadata: it must be an object of string values.", param=name)
    if len(value) > 50:
        raise invalid("Invalid metadata: at most 50 keys are allowed.", param=name)
    result: dict[str, str] = {}
    for key, item in value.items():
        param = f"{name}[{key}]"
        if not isinstance(item, str):
            raise invalid(f"Invalid value for {param}: it must be a string.", param=param)
        if len(key) > 40:
            raise invalid(f"Invalid metadata key {key!r}: at most 40 characters.", param=param)
        if len(item) > 500:
            raise invalid(f"Invalid value for {param}: at most 500 characters.", param=param)
        if item != "":
            result[key] = item
    return result


def get_expand(params: Params) -> list[str]:
    value = params.get("expand")
    if value is None or value == "":
        return []
    if isinstance(value, str):  # a one-item list as httpx/requests send it: expand=x
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("Invalid expand: it must be a list of strings.", param="expand")
    return [v for v in value if isinstance(v, str)]


def state_error(message: str) -> StripeError:
    return StripeError(
        400, "invalid_request_error", message, code="payment_intent_unexpected_state"
    )
