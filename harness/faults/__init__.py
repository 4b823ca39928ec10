"""Faults: Jepsen's nemeses. A fault breaks part of the world on purpose and records
``start_fault`` / ``stop_fault`` operations (process ``nemesis``) into the history, so the
checker sees when the world was broken:

- :mod:`harness.faults.provider`: payment provider faults through the fake provider's
  control API (delays, errors before or after the charge, dropped or hung answers);
- :mod:`harness.faults.proxy`: a network proxy between client and checkout that drops or
  delays responses and duplicates requests;
- :mod:`harness.faults.process`: SIGKILL and restart of the checkout's process.
"""
