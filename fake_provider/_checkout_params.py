"""Reading a Checkout Session's line items and URLs out of its form, failing the Stripe way."""

from __future__ import annotations

from fake_provider._errors import StripeError, invalid, missing_param, unknown_param
from fake_provider._params import MAX_AMOUNT, Params, get_currency, get_int, get_str
from fake_provider.intents import new_id
from fake_provider.types import JSON


def line_items(value: object) -> list[JSON]:
    if value is None or value == "":
        raise missing_param("line_items")
    if isinstance(value, dict):  # line_items[0][...] sent with gaps decodes to a dict
        value = list(value.values())
    if not isinstance(value, list) or not value or len(value) > 100:
        raise invalid("line_items must be a list of 1 to 100 items.", param="line_items")
    items: list[JSON] = []
    for i, raw in enumerate(value):
        name = f"line_items[{i}]"
        if not isinstance(raw, dict):
            raise invalid(f"{name} must be an object.", param=name)
        if "price" in raw:
            raise invalid(
                f"The fake has no Price objects: give {name}[price_data] instead of {name}[price].",
                param=f"{name}[price]",
            )
        for key in raw:
            if key not in ("price_data", "quantity"):
                raise unknown_param(f"{name}[{key}]")
        data = raw.get("price_data")
        if not isinstance(data, dict):
            raise missing_param(f"{name}[price_data]")
        for key in data:
            if key not in ("currency", "unit_amount", "product_data"):
                raise unknown_param(f"{name}[price_data][{key}]")
        currency = get_currency(data)
        unit = get_int(data, "unit_amount", required=True)
        quantity = get_int(raw, "quantity", required=True)
        if unit is None or not 0 <= unit <= MAX_AMOUNT:
            raise invalid(
                f"{name}[price_data][unit_amount] must be from 0 to {MAX_AMOUNT}.",
                param=f"{name}[price_data][unit_amount]",
            )
        if quantity is None or not 1 <= quantity <= 999_999:
            raise invalid(f"{name}[quantity] must be from 1 to 999999.", param=f"{name}[quantity]")
        product = data.get("product_data")
        if not isinstance(product, dict):
            raise missing_param(f"{name}[price_data][product_data][name]")
        for key in product:
            if key not in ("name", "description"):
                raise unknown_param(f"{name}[price_data][product_data][{key}]")
        product_name = get_str(product, "name", required=True, max_len=250) or ""
        description = get_str(product, "description", max_len=1000) or None
        items.append(
            {
                "id": new_id("li"),
                "object": "item",
                "amount_subtotal": unit * quantity,
                "amount_total": unit * quantity,
                "currency": currency,
                "description": product_name,
                "quantity": quantity,
                "price": {
                    "id": new_id("price"),
                    "object": "price",
                    "currency": currency,
                    "unit_amount": unit,
                    "product": new_id("prod"),
                    "product_name": product_name,
                    "product_description": description,
                },
            }
        )
    return items


def url(params: Params, name: str) -> str | None:
    value = get_str(params, name, max_len=5000) or None
    if value is not None and not value.startswith(("http://", "https://")):
        raise invalid(f"Invalid URL: {name} must be an http(s) URL.", param=name)
    return value


def position(ids: list[str], cursor: str, param: str) -> int:
    if cursor not in ids:
        raise StripeError(
            400,
            "invalid_request_error",
            f"No such checkout.session: '{cursor}'",
            code="resource_missing",
            param=param,
            stored=False,
        )
    return ids.index(cursor)
