"""The hosted Checkout page: plain HTML that a browser (or Playwright) can read and pay.

Marked for tests: the form is ``form#pay``, the card choice ``input[name=payment_method]``,
the button ``button#pay-button`` ("Pay"), the cancel link ``a#cancel-link`` and the state
``<main data-state="open|paid|already_paid|declined|expired">``.
"""

from __future__ import annotations

from html import escape

from fake_provider.types import JSON

_CARD_NAMES = {
    "pm_card_visa": "Visa 4242 4242 4242 4242 (succeeds)",
    "pm_card_mastercard": "Mastercard 5555 5555 5555 4444 (succeeds)",
    "pm_card_amex": "American Express 3782 822463 10005 (succeeds)",
    "pm_card_chargeDeclined": "Visa 4000 0000 0000 0002 (declined)",
    "pm_card_chargeDeclinedInsufficientFunds": "Visa 4000 0000 0000 9995 (insufficient funds)",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}"
    "table{width:100%;border-collapse:collapse}td{padding:.25rem 0}.n{text-align:right}"
    ".error{color:#b00020}button{font-size:1.1rem;padding:.5rem 2rem;margin:1rem 0}"
)


def money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


def render(
    session: JSON,
    items: list[JSON],
    state: str,
    message: str | None,
    redirect_url: str | None,
    cards: tuple[str, ...],
) -> str:
    """The page for ``session`` in ``state`` (``open``, ``declined`` and the final ones)."""
    total = money(session["amount_total"], session["currency"])
    rows = "".join(
        f"<tr><td>{escape(item['description'])} x {item['quantity']}</td>"
        f"<td class=n>{money(item['amount_total'], item['currency'])}</td></tr>"
        for item in items
    )
    body = f"<table>{rows}<tr><th>Total</th><th class=n id=total>{total}</th></tr></table>"
    if state in ("open", "declined"):
        if state == "declined":
            body += f"<p class=error role=alert>{escape(message or 'Your card was declined.')}</p>"
        choices = "".join(
            f'<label><input type=radio name=payment_method value="{card}"'
            f"{' checked' if i == 0 else ''}> {escape(_CARD_NAMES.get(card, card))}</label><br>"
            for i, card in enumerate(cards)
        )
        body += (
            f'<form id=pay method=post action="/c/pay/{escape(session["id"])}">'
            f"<fieldset><legend>Test card</legend>{choices}</fieldset>"
            f"<button id=pay-button type=submit>Pay {total}</button></form>"
        )
        if session["cancel_url"]:
            body += f'<p><a id=cancel-link href="{escape(session["cancel_url"])}">Cancel</a></p>'
    elif state in ("paid", "already_paid"):
        said = (
            "Payment received."
            if state == "paid"
            else "This checkout is already paid. Nothing more was charged."
        )
        body += f"<p id=status>{said}</p>"
        if redirect_url:
            body += f'<p><a id=continue-link href="{escape(redirect_url)}">Continue</a></p>'
    else:
        body += "<p id=status>This checkout session has expired and can no longer be paid.</p>"
    return _document(f"Pay {total}", f'<main data-state="{state}">{body}</main>')


def notice(title: str, message: str) -> str:
    """A page for what is not a session: an unknown link or an unknown card."""
    return _document(title, f"<main data-state=error><p>{escape(message)}</p></main>")


def _document(title: str, main: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · nodouble fake Checkout</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{main}</body></html>"
    )
