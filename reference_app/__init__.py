"""The reference checkout: the model answer to "Back then Confirm again must not charge twice".

Vocabulary, defined once:

- **order**: what the customer buys; its amount is always computed here from the catalog.
- **payment**: one attempt to charge an order; ``PENDING -> CONFIRMED | FAILED`` and nothing else.
- **idempotency key**: the client's key for one confirm request, scoped to the user; it
  records how far the request got (its *recovery point*) and, once finished, its response.
- **provider key**: the idempotency key sent to the payment provider, derived from the
  payment's own id; the client's raw key never leaves this service.
- **phase**: one database transaction of the confirm algorithm (``claim``, ``charge``,
  ``finish``) returning either the next phase or a response (see ``checkout.py``).
- **reconciler**: settles payments left PENDING by a crash or a lost provider response.
"""

from __future__ import annotations
