"""Find a Chromium for Playwright, installing one when that is possible.

Order of preference, as documented in the README:

1. ``NODOUBLE_CHROMIUM`` if set (a path to a Chromium or Chrome binary);
2. a system Chromium (``/usr/bin/chromium``, ``chromium-browser``, ``google-chrome``);
3. ``apt-get install -y chromium`` when running as root;
4. ``playwright install chromium`` (Playwright's own download).

``python -m harness.browser ensure`` runs that chain and prints what it found or
every step it tried. The launch arguments live here too, so every caller starts
Chromium the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

_SYSTEM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class BrowserLookup:
    """The outcome of looking for a browser: a path, or the list of what was tried."""

    executable: str | None = None
    """``None`` means Playwright's own bundled browser (after ``playwright install``)."""
    found: bool = False
    tried: list[str] = field(default_factory=list)

    def explain(self) -> str:
        return "; ".join(self.tried) if self.tried else "nothing tried"


def _system_chromium() -> str | None:
    for name in _SYSTEM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _playwright_bundled() -> str | None:
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:
        return None
    return path if path and Path(path).exists() else None


def find_chromium(install: bool = False) -> BrowserLookup:
    """Look for Chromium; with ``install`` also try apt-get (as root) and playwright."""
    lookup = BrowserLookup()
    configured = os.environ.get("NODOUBLE_CHROMIUM")
    if configured:
        if Path(configured).exists():
            return BrowserLookup(configured, True, [f"NODOUBLE_CHROMIUM={configured}: found"])
        lookup.tried.append(f"NODOUBLE_CHROMIUM={configured}: no such file")
    system = _system_chromium()
    if system:
        lookup.tried.append(f"system chromium: {system}")
        return BrowserLookup(system, True, lookup.tried)
    lookup.tried.append("system chromium: not on PATH")
    bundled = _playwright_bundled()
    if bundled:
        lookup.tried.append(f"playwright's chromium: {bundled}")
        return BrowserLookup(None, True, lookup.tried)
    lookup.tried.append("playwright's chromium: not installed")
    if not install:
        return lookup
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        result = subprocess.run(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
            shell=True,
            capture_output=True,
            text=True,
            check=False,
        )
        system = _system_chromium()
        if system:
            lookup.tried.append(f"apt-get install chromium: {system}")
            return BrowserLookup(system, True, lookup.tried)
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        lookup.tried.append(f"apt-get install chromium: failed ({tail[0]})")
    else:
        lookup.tried.append("apt-get install chromium: not root or no apt-get")
    result = subprocess.run(
        [sys.executable, "-m", "playwright", "install", "chromium"],
        capture_output=True,
        text=True,
        check=False,
    )
    bundled = _playwright_bundled()
    if bundled:
        lookup.tried.append(f"playwright install chromium: {bundled}")
        return BrowserLookup(None, True, lookup.tried)
    tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
    lookup.tried.append(f"playwright install chromium: failed ({tail[0]})")
    return lookup


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    install = bool(args) and args[0] == "ensure"
    lookup = find_chromium(install=install)
    if lookup.found:
        print(f"nodouble: browser ready ({lookup.executable or 'playwright bundled chromium'})")
        return 0
    print(f"nodouble: no Chromium available; tried: {lookup.explain()}", file=sys.stderr)
    # Outside CI a missing browser is not fatal: browser tests report "not run".
    return 1 if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else 0


if __name__ == "__main__":
    raise SystemExit(main())
