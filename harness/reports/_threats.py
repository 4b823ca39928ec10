"""The threats a report answers for: every threat of the threat model, run or not.

An auditor must see what was *not* tested as plainly as what was. So a run's report holds
the whole list of threats, not only those its scenarios covered: each threat's id, its text
(embedded, so the report reads the same wherever it is opened) and the catalog's scenarios
for it. The list is the ``### <id>`` sections under "## Threats by name" of
``docs/threat-model.md``, joined with the threats the catalog's scenarios name (a threat a
scenario names and the model lacks still appears, with no text).
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.reports._model import Threat
from scenarios import catalog

THREAT_MODEL = Path(__file__).resolve().parents[2] / "docs" / "threat-model.md"
"""Present in a source checkout; an installed package without ``docs/`` lists the catalog's
threats only."""
NO_TEXT = "(no section of this id in docs/threat-model.md)"


def sections(text: str) -> dict[str, str]:
    """``### <id>`` sections of the "Threats by name" part: id → its text on one line."""
    part = text.split("## Threats by name", 1)[-1]
    part = re.split(r"^## ", part, maxsplit=1, flags=re.MULTILINE)[0]
    found: dict[str, str] = {}
    for match in re.finditer(r"^###\s+(\S+)\s*\n(.*?)(?=^###\s|\Z)", part, re.S | re.M):
        found[match.group(1)] = " ".join(match.group(2).split())
    return found


def threat_catalog(path: Path = THREAT_MODEL) -> list[Threat]:
    """Every threat, in the threat model's order, then any only the catalog names."""
    described = sections(path.read_text(encoding="utf-8")) if path.is_file() else {}
    scenarios: dict[str, list[str]] = {}
    for scenario in catalog():
        scenarios.setdefault(scenario.threat, []).append(scenario.id)
    ids = list(described) + sorted(set(scenarios) - set(described))
    return [
        Threat(id=t, text=described.get(t, NO_TEXT), scenarios=scenarios.get(t, [])) for t in ids
    ]
