"""A user's own checkout from one profile and one command: the harness starts the provider.

``node_shop/node_shop_auto.toml`` has no template markers: ``${VAR}`` names the caller's
environment, ``PORT = "auto"`` asks for a free port and ``[provider] url = "auto"`` starts
the fake provider, whose URL and key reach the shop as ``NODOUBLE_PROVIDER_*``. The correct
shop passes and the broken one is caught, which proves the wiring reached the shop: a shop
that could not reach the provider never pays, and the story-never-paid check makes that an
error (exit 1), not a pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from _gallery import GALLERY, REPO, nodouble_command
from _rows import need

PROFILE = GALLERY / "node_shop" / "node_shop_auto.toml"


def environment(tmp_path: Path, broken: str) -> dict[str, str]:
    return {
        **os.environ,
        "NODE_SHOP_DIR": str(GALLERY / "node_shop"),
        "NODE_SHOP_STATE": str(tmp_path / "state.json"),
        "BROKEN": broken,
    }


def run(tmp_path: Path, broken: str) -> tuple[int, dict[str, object], str]:
    env = environment(tmp_path, broken)
    reports = tmp_path / "reports"
    cmd = [*nodouble_command(), "run", "--target", str(PROFILE), "--report-dir", str(reports),
           "--scenario", "api.same_key_sequential", "--no-browser"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    report = reports / "latest" / "report.json"
    assert report.exists(), output
    return done.returncode, json.loads(report.read_text()), output


@pytest.mark.slow
@pytest.mark.parametrize(("broken", "code"), [("", 0), ("no_dedupe", 1)])
def test_one_profile_one_command(tmp_path: Path, broken: str, code: int) -> None:
    need(shutil.which("node") is not None, "node is not installed (make node-shop installs it)")
    need((GALLERY / "node_shop" / "node_modules" / "stripe").is_dir(), "run make node-shop")
    returncode, report, output = run(tmp_path, broken)
    assert returncode == code, output
    [scenario] = report["runs"]  # type: ignore[misc]
    assert scenario["status"] == ("passed" if code == 0 else "failed"), scenario["reason"]
    charges = [row for row in scenario["ledger"] if row["kind"] == "charge"]
    assert len(charges) == (1 if code == 0 else 2)
    # the key the shop was handed (NODOUBLE_PROVIDER_API_KEY), redacted in the report
    assert {row["account"] for row in charges} == {"sk_test_***_node"}


@pytest.mark.slow
def test_doctor_passes_the_node_shop_profile(tmp_path: Path) -> None:
    need(shutil.which("node") is not None, "node is not installed (make node-shop installs it)")
    need((GALLERY / "node_shop" / "node_modules" / "stripe").is_dir(), "run make node-shop")
    cmd = [*nodouble_command(), "doctor", "--target", str(PROFILE)]
    env = environment(tmp_path, "")
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10/10 checks passed" in done.stdout
    assert "ok   account: the checkout pays with sk_test_gallery_node" in done.stdout
    assert "ok   business key: the charge carries purchase_ref = " in done.stdout
