"""Flaw matrix speed: the wall time of ``nodouble flaws --repeat 20`` (the baseline and
every deliberate flaw against the whole catalog, racy scenarios repeated 20 times), run
through :func:`harness.flaws.run_matrix`, the code behind that command.

Its invariant: the matrix holds (the baseline passed and every flaw was caught as
docs/flaws.md says); a fast matrix that misses a flaw proves nothing. Goal: 8 minutes on
a 2-core machine. ``--quick``: one flaw against its named scenarios, no browser, twice.
"""

from __future__ import annotations

import time

from harness.bench._model import BenchContext, BenchResult, Goal
from harness.flaws import DEFAULT_REPEAT, FlawOptions, run_matrix

GOAL_S = 480.0
QUICK = FlawOptions(flaws=["no_idempotency"], repeat=2, browser=False, named_only=True)


def run(ctx: BenchContext) -> BenchResult:
    options: FlawOptions = ctx.size(FlawOptions(repeat=DEFAULT_REPEAT), QUICK)
    command = "nodouble flaws" + "".join(f" --flaw {f}" for f in options.flaws)
    command += (" --named-only" if options.named_only else "") + f" --repeat {options.repeat}"
    command += f" --jobs {options.jobs}" + ("" if options.browser else " --no-browser")
    started = time.perf_counter()
    report = run_matrix(options, ctx.report_dir / "flaws", command=command)
    wall = round(time.perf_counter() - started, 1)
    matrix = report.flaw_matrix
    result = BenchResult("flaws", figures={"command": command, "wall_s": wall})
    result.invariants["the flaw matrix was built"] = matrix is not None
    if matrix is not None:
        result.figures["verdicts"] = {flaw: matrix.verdict(flaw) for flaw in matrix.flaws}
        result.figures["baseline_passed"] = matrix.baseline_passed()
        result.invariants["at least one flaw ran"] = bool(matrix.flaws)
        result.invariants["baseline passed and every flaw caught"] = matrix.gate()
    result.goals.append(Goal(f"flaw matrix wall time ({command})", wall, GOAL_S, "max", "s"))
    return result
