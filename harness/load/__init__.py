"""The harness's load mode: many orders, each confirmed several times with one key.

:func:`run_load` drives a checkout described by a target profile (``harness.profile``)
from one process with asyncio: ``concurrency`` shoppers each create orders and fire the
``duplicates`` confirms of an order together (same Idempotency-Key), retry a pending
answer (202/409) with the same key until it is final, then the provider's ledger is read:
no order may be charged twice, and every order the checkout called paid has its charge.

For more load than one machine gives, ``harness/load/locustfile.py`` runs the same storm
on Locust (see docs/performance.md).
"""

from __future__ import annotations

from harness.load._engine import LoadOptions, LoadResult, run_load

__all__ = ["LoadOptions", "LoadResult", "run_load"]
