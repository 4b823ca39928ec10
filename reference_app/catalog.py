"""The seeded product catalog: the only source of prices."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogProduct:
    """One product for sale; ``unit_amount`` is in the currency's minor unit (cents)."""

    sku: str
    name: str
    unit_amount: int
    currency: str = "usd"


PRODUCTS: tuple[CatalogProduct, ...] = (
    CatalogProduct("tee-black", "Black T-shirt", 2500),
    CatalogProduct("mug-white", "White mug", 1200),
    CatalogProduct("sticker-pack", "Sticker pack", 500),
    CatalogProduct("hoodie-grey", "Grey hoodie", 5900),
)

CURRENCY = "usd"
MAX_QUANTITY = 99
MAX_LINES = 20

_BY_SKU = {product.sku: product for product in PRODUCTS}


def find(sku: str) -> CatalogProduct | None:
    """The product with this SKU, or None."""
    return _BY_SKU.get(sku)
