"""One nodouble target per pytest session, shared by the catalog items and the fixtures.

The target is opened on first use (a skipped scenario never starts anything) and
stopped when pytest unconfigures. Reports are written only for runs that did not pass,
under ``--nodouble-report-dir/<scenario id>/``, with the run's artifacts next to them.
"""

from __future__ import annotations

import platform
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness import __version__
from harness.profile import ProfileError, TargetProfile, load_profile
from harness.reports import Environment, RunReport, ScenarioRun, write_reports
from harness.reports import Target as ReportTarget
from harness.runner import Runner
from harness.target import REFERENCE_PROFILE, Target, open_target
from scenarios import Scenario

DEFAULT_REPORT_DIR = Path("reports") / "pytest"
NO_CHROMIUM = "no Chromium could be found"


class TargetUnavailable(RuntimeError):
    """The target could not be started or reached; the message is one line."""


@dataclass
class NodoubleSession:
    profile_path: Path
    report_root: Path
    pattern: str | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nodouble-pytest-")))
    _profile: TargetProfile | None = None
    _target: Target | None = None
    _runner: Runner | None = None
    _failure: str | None = None
    _unavailable: dict[str, str] | None = None

    @property
    def profile(self) -> TargetProfile:
        """The profile, loaded once; :class:`ProfileError` names the bad field."""
        if self._profile is None:
            self._profile = load_profile(self.profile_path)
        return self._profile

    def target(self) -> Target:
        """The live target, started on first use; a failure to start is remembered."""
        if self._target is not None:
            return self._target
        if self._failure is None:
            try:
                if self.profile.provider.ledger == "stripe":
                    from harness.ledger_sources._keys import read_test_key

                    read_test_key(self.profile.provider)  # refused before anything starts
                self._target = open_target(self.profile, self.workdir)
            except ProfileError as exc:
                self._failure = str(exc)
            except Exception as exc:  # any reason the target did not come up
                first = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self._failure = f"cannot start the target {self.profile_path}: {first}"
        if self._target is None:
            raise TargetUnavailable(self._failure)
        return self._target

    def unavailable(self) -> dict[str, str]:
        """Capabilities the profile declares that this machine cannot provide."""
        if self._unavailable is None:
            self._unavailable = {}
            if "browser" in self.profile.capabilities():
                from harness.browser import find_chromium

                lookup = find_chromium()
                if not lookup.found:
                    why = f"{NO_CHROMIUM} ({lookup.explain()})"
                    self._unavailable = {"browser": why, "browser_spa": why}
            if self.profile.provider.ledger == "stripe":
                from harness.ledger_sources.stripe import UNAVAILABLE

                self._unavailable.update(UNAVAILABLE)
        return self._unavailable

    def not_applicable(self, scenario: Scenario) -> str | None:
        """Why the scenario cannot run on this target here, decided without starting it."""
        lacking = sorted(set(scenario.needs) & set(self.unavailable()))
        if lacking:
            return self.unavailable()[lacking[0]]
        missing = scenario.missing(self.profile.capabilities())
        if missing:
            return f"the target does not declare: {', '.join(missing)}"
        return None

    def run(self, scenario: Scenario) -> ScenarioRun:
        """Run one scenario; a run that did not pass keeps its report (see :meth:`keep`)."""
        if self._runner is None:
            runs = self.workdir / "runs"
            self._runner = Runner(self.target(), runs, unavailable=self.unavailable())
        run = self._runner.run_one(scenario)
        if run.status in ("failed", "error"):
            self.keep(run)
        shutil.rmtree(self._artifacts(self._runner.report_dir, run), ignore_errors=True)
        return run

    def report_dir(self, run: ScenarioRun) -> Path:
        return self.report_root / re.sub(r"[^A-Za-z0-9_.-]+", "_", run.case_name)

    def keep(self, run: ScenarioRun) -> Path:
        """Write report.json, junit.xml and report.html for one run; return its directory."""
        directory = self.report_dir(run)
        target = self.target()
        now = datetime.now(UTC)
        report = RunReport(
            tool_version=__version__,
            started=now,
            finished=now,
            target=ReportTarget(name=target.profile.name, base_url=target.base_url),
            environment=Environment(python=sys.version.split()[0], platform=platform.platform()),
            runs=[run],
        )
        write_reports(report, directory)
        if self._runner is not None:
            source = self._artifacts(self._runner.report_dir, run)
            if source.is_dir():
                destination = self._artifacts(directory, run)
                shutil.rmtree(destination, ignore_errors=True)
                shutil.copytree(source, destination)
        return directory

    @staticmethod
    def _artifacts(root: Path, run: ScenarioRun) -> Path:
        return root / "artifacts" / f"{run.scenario_id}-{run.repeat}"

    def close(self) -> None:
        try:
            if self._runner is not None:
                self._runner.close()
        finally:
            if self._target is not None:
                self._target.stop()
            shutil.rmtree(self.workdir, ignore_errors=True)


def session_for(
    target: str | None, pattern: str | None, report_dir: str | None, base: Path
) -> NodoubleSession:
    """The session's state from the command-line options (relative paths: from ``base``)."""
    root = Path(report_dir) if report_dir else DEFAULT_REPORT_DIR
    profile = Path(target) if target else REFERENCE_PROFILE
    return NodoubleSession(
        profile_path=profile if profile.is_absolute() else base / profile,
        report_root=root if root.is_absolute() else base / root,
        pattern=pattern,
    )
