"""Drivers: Jepsen's clients. A driver performs operations on the target and records
each one into a :class:`harness.history.History` as an invocation and a completion.

- :mod:`harness.drivers.api`: HTTP requests with httpx, including barrier-released bursts;
- :mod:`harness.drivers.browser`: a real Chromium driven by Playwright, tabs as processes.

Drivers take plain parameters (base URL, paths, header names, bodies, selectors) so the
scenario interpreter can pass values from a target profile.
"""
