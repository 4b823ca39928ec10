"""Shared helpers of the gallery: run ``nodouble run`` against a small checkout, read the verdict.

Every gallery checkout lives in its own folder under ``tests/gallery/`` with a profile
template (``<name>.toml.in``) whose ``@MARKER@`` placeholders are filled at test time:

| marker | filled with |
| --- | --- |
| ``@NAME@`` | the profile name (checkout and variant) |
| ``@PORT@``, ``@BASE_URL@`` | a free loopback port for the checkout, and its URL |
| ``@PROVIDER_URL@`` | the fake provider started for this run |
| ``@STATE_DIR@`` | a fresh folder for the checkout's files (its SQLite database, say) |
| ``@PYTHON@`` | the interpreter running the tests (start checkouts with it) |
| ``@GALLERY@`` | this folder, absolute (``PYTHONPATH`` of Python checkouts) |
| ``@BROKEN@`` | the variant: ``""`` for the correct checkout, else the bug's name |

plus any marker a caller passes in ``values``. A marker left unfilled is an error, so a
template typo fails loudly instead of reaching the checkout.

:func:`run_variant` is the whole story of one row of a gallery table: start a fresh fake
provider (so no ledger row, account or fault of another run can leak in), fill the
template, run ``nodouble run`` as a subprocess with its own report folder, stop the
provider and return a :class:`RunResult` that reads ``report.json``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._process import ServerProcess, free_port

GALLERY = Path(__file__).resolve().parent
REPO = GALLERY.parent.parent
MARKER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
RUN_TIMEOUT_S = 300.0
"""Upper bound for one ``nodouble run``; a hung run fails the test instead of CI."""


def nodouble_command() -> list[str]:
    """argv prefix that runs the ``nodouble`` CLI of this checkout's virtualenv.

    ``GALLERY_NODOUBLE`` overrides it (split like a shell would), e.g. to run the gallery
    against another build of the harness.
    """
    override = os.environ.get("GALLERY_NODOUBLE")
    if override:
        return shlex.split(override)
    script = Path(sys.executable).with_name("nodouble")
    if script.exists():
        return [str(script)]
    found = shutil.which("nodouble")
    if found:
        return [found]
    return [sys.executable, "-m", "harness.cli"]


# -- the fake provider ---------------------------------------------------------------------


@contextmanager
def fake_provider(log_dir: Path) -> Iterator[ServerProcess]:
    """A fake provider in its own process on a free port, stopped afterwards."""
    log_dir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess("fake_provider.app:create_app", log_path=log_dir / "provider.log")
    with server:
        yield server


# -- profiles ------------------------------------------------------------------------------


def fill_template(template: Path, dest: Path, values: Mapping[str, str]) -> Path:
    """Replace every ``@MARKER@`` of ``template`` with ``values[MARKER]``; write ``dest``."""
    text = template.read_text(encoding="utf-8")
    missing = sorted({m for m in MARKER.findall(text) if m not in values})
    if missing:
        raise KeyError(f"{template}: no value for {', '.join('@' + m + '@' for m in missing)}")
    filled = MARKER.sub(lambda m: values[m.group(1)], text)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(filled, encoding="utf-8")
    return dest


def standard_values(
    workdir: Path, provider_url: str, *, name: str, broken: str = ""
) -> dict[str, str]:
    """The markers every template may use (see the module docstring)."""
    port = free_port()
    state = workdir / "state"
    state.mkdir(parents=True, exist_ok=True)
    return {
        "NAME": name,
        "PORT": str(port),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "PROVIDER_URL": provider_url,
        "STATE_DIR": str(state),
        "PYTHON": sys.executable,
        "GALLERY": str(GALLERY),
        "BROKEN": broken,
    }


# -- running nodouble ----------------------------------------------------------------------


@dataclass
class RunResult:
    """One ``nodouble run``: its exit code, output and ``report.json`` (if one was written)."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str
    wall_s: float
    report_path: Path | None = None
    report: dict[str, Any] | None = None

    @property
    def runs(self) -> list[dict[str, Any]]:
        return list((self.report or {}).get("runs", []))

    def violated(self) -> dict[str, set[str]]:
        """Scenario run (``id`` or ``id#repeat``) → invariants judged ``valid: false``."""
        return {_case(run): _names(run, False) for run in self.runs}

    def unknown(self) -> dict[str, set[str]]:
        """Scenario run → invariants judged ``unknown``."""
        return {_case(run): _names(run, "unknown") for run in self.runs}

    def statuses(self) -> dict[str, str]:
        return {_case(run): str(run.get("status")) for run in self.runs}

    def all_violated(self) -> set[str]:
        """Every invariant violated in at least one scenario run."""
        return set().union(*self.violated().values(), set())

    def money_violated(self) -> dict[str, set[str]]:
        """Scenario run → the money invariants judged ``valid: false`` (not hygiene)."""
        return {_case(run): _names(run, False, money_only=True) for run in self.runs}

    def all_money_violated(self) -> set[str]:
        return set().union(*self.money_violated().values(), set())

    @property
    def unattributed(self) -> list[dict[str, Any]]:
        """Charges the run could not tie to any scenario run (``report.json`` top level)."""
        return list((self.report or {}).get("unattributed") or [])

    def unfired_faults(self) -> dict[str, list[str]]:
        """Passed scenario run → the faults it armed that have no firing on record."""
        found = {_case(run): unfired_faults(run.get("history") or []) for run in self.runs
                 if run.get("status") == "passed"}  # fmt: skip
        return {case: faults for case, faults in found.items() if faults}

    def summary(self) -> str:
        """One line per scenario run, then the tail of stderr: for assertion messages."""
        lines = [f"exit {self.code}: {' '.join(self.argv)}"]
        for run in self.runs:
            status = run.get("status")
            bad = sorted(_names(run, False))
            unsure = sorted(_names(run, "unknown"))
            detail = f" violated={','.join(bad)}" if bad else ""
            detail += f" unknown={','.join(unsure)}" if unsure else ""
            reason = str(run.get("reason") or "")[:160]
            lines.append(f"  {_case(run):45} {status:15}{detail} {reason}".rstrip())
        if self.report is None:
            lines.append("  (no report.json)")
        tail = self.stderr.strip().splitlines()[-5:]
        lines.extend(f"  stderr: {line}" for line in tail)
        return "\n".join(lines)


def run_nodouble(
    profile: Path,
    report_root: Path,
    *,
    scenario: str | None = None,
    tags: Sequence[str] = (),
    browser: bool = False,
    repeat: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout_s: float = RUN_TIMEOUT_S,
) -> RunResult:
    """``nodouble run --target profile`` in a subprocess; reads the report it wrote."""
    report_root.mkdir(parents=True, exist_ok=True)
    argv = [*nodouble_command(), "run", "--target", str(profile), "--report-dir", str(report_root)]
    if scenario is not None:
        argv += ["--scenario", scenario]
    for tag in tags:
        argv += ["--tag", tag]
    if not browser:
        argv.append("--no-browser")
    if repeat is not None:
        argv += ["--repeat", str(repeat)]
    argv += list(extra_args)
    before = set(report_root.glob("*/report.json"))
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=report_root, env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    fresh = sorted(p for p in set(report_root.glob("*/report.json")) - before
                   if not p.parent.is_symlink())  # fmt: skip
    report_path = fresh[-1] if fresh else None
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path else None
    return RunResult(argv, done.returncode, done.stdout, done.stderr, wall, report_path, report)


@dataclass
class Variant:
    """One checkout variant to run: its profile template and the markers it adds."""

    template: Path
    broken: str = ""
    name: str = ""
    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        stem = self.template.name.removesuffix(".toml.in")
        return self.name or f"{stem}-{self.broken or 'correct'}"


def run_variant(
    variant: Variant,
    workdir: Path,
    *,
    scenarios: Sequence[str | None] = (None,),
    tags: Sequence[str] = (),
    browser: bool = False,
    repeat: int | None = None,
    extra_args: Sequence[str] = (),
) -> RunResult:
    """Fresh provider, filled profile, ``nodouble run`` (once per scenario glob, merged).

    ``scenarios`` are globs for ``--scenario`` (``None``: the whole catalog); ``nodouble
    run`` takes one, so several globs mean several runs, each against a freshly started
    checkout on the same provider, merged into one result whose exit code is the most
    serious seen (2, then 1, then 0) and whose report holds every run's scenarios.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    with fake_provider(workdir / "provider") as provider:
        for index, pattern in enumerate(scenarios or (None,)):
            rundir = workdir / f"run{index}"
            label, broken = variant.label, variant.broken
            values = standard_values(rundir, provider.url, name=label, broken=broken)
            values.update(variant.values)
            profile = fill_template(variant.template, rundir / f"{variant.label}.toml", values)
            results.append(run_nodouble(
                profile, rundir / "reports", scenario=pattern, tags=tags, browser=browser,
                repeat=repeat, extra_args=extra_args,
            ))  # fmt: skip
    return merge(results)


SEVERITY = {2: 3, 1: 2, 3: 1, 0: 0}
"""Exit codes from most to least serious: usage error, money failure, hygiene only, gate held."""


def merge(results: Sequence[RunResult]) -> RunResult:
    """Several runs of one variant as one result (see :func:`run_variant`)."""
    if len(results) == 1:
        return results[0]
    reports = [r.report for r in results]
    return RunResult(
        argv=[arg for r in results for arg in (*r.argv, ";")][:-1],
        code=max((r.code for r in results), key=lambda code: SEVERITY.get(code, 4)),
        stdout="\n".join(r.stdout for r in results),
        stderr="\n".join(r.stderr for r in results),
        wall_s=sum(r.wall_s for r in results),
        report_path=results[-1].report_path,
        report={"runs": [run for r in results for run in r.runs]}
        if all(r is not None for r in reports)
        else None,
    )


# -- reading a scenario run ------------------------------------------------------------------


def _case(run: Mapping[str, Any]) -> str:
    repeat = run.get("repeat") or 0
    return f"{run.get('scenario_id')}#{repeat}" if repeat else str(run.get("scenario_id"))


def _names(run: Mapping[str, Any], valid: object, *, money_only: bool = False) -> set[str]:
    return {str(c.get("name")) for c in run.get("checks") or [] if c.get("valid") == valid
            and not (money_only and c.get("severity") == "hygiene")}  # fmt: skip


class VerdictPool:
    """Runs gallery rows a few at a time in threads; tests wait for their own row.

    Each row is mostly waiting (on the checkout, the provider, faults that hold answers), so
    running a few side by side keeps the gallery's wall time down without touching what
    any one run sees: every row has its own provider, checkout and ports.
    """

    def __init__(self, workers: int | None = None) -> None:
        workers = workers or int(os.environ.get("GALLERY_JOBS", "3"))
        self._pool = ThreadPoolExecutor(max(1, workers), "gallery")
        self._futures: dict[str, Future[RunResult]] = {}

    def submit(self, key: str, run: Callable[[], RunResult]) -> None:
        if key not in self._futures:
            self._futures[key] = self._pool.submit(run)

    def result(self, key: str) -> RunResult:
        return self._futures[key].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


ARMED_FAULTS = frozenset({"provider", "proxy"})
"""``start_fault`` ops of these kinds arm a fault that fires later (or never); a process
kill happens when it is recorded, so it needs no firing report."""


def unfired_faults(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """The faults a history armed without a ``fault_report`` saying they fired.

    The nemesis records ``start_fault`` when it arms a provider or network fault and a
    ``fault_report`` op (value ``{"fired": n, "hits": [...]}``) when it learns what the
    fault did. Every armed fault needs a report, and every report ``fired >= 1``, except one
    marked ``optional`` (a search lag: a checkout that never searches is not exposed).
    """
    armed = [op for op in history
             if op.get("f") == "start_fault" and op.get("type") == "invoke"
             and (op.get("value") or {}).get("fault") in ARMED_FAULTS]  # fmt: skip
    reports = [op for op in history if op.get("f") == "fault_report"
               and isinstance((op.get("value") or {}).get("fired"), int)]  # fmt: skip
    completed = {op.get("invoke_index") for op in reports if op.get("type") != "invoke"}
    reports = [op for op in reports if op.get("index") not in completed]
    missing = [f"{_what(op)}: no fault_report in the history" for op in armed[len(reports) :]]
    missing += [f"{_what(op)}: fired 0 times" for op in reports
                if op["value"]["fired"] < 1 and not op["value"].get("optional")]  # fmt: skip
    return missing


def _what(op: Mapping[str, Any]) -> str:
    value = op.get("value") or {}
    parts = (value.get("fault"), value.get("mode") or value.get("action"),
             value.get("endpoint") or value.get("path"))  # fmt: skip
    return " ".join(str(p) for p in parts if p) or str(op.get("f"))
