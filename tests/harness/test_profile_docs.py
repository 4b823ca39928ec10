"""docs/targets.md and the profile schema name the same fields, and its examples load."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.profile import TargetProfile, _submodel, parse_profile

DOC = Path(__file__).resolve().parents[2] / "docs" / "targets.md"
TARGETS = Path(__file__).resolve().parents[2] / "targets"


def schema_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted paths of every leaf field (a section's fields, not the section itself)."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        sub = _submodel(info.annotation)
        if sub is None:
            found.add(path)
        else:
            found |= schema_fields(sub, path + ".")
    return found


def documented_fields() -> set[str]:
    """Field rows of the tables under '## Top level' and '## [section]' headings."""
    found: set[str] = set()
    section: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## (?:\[(\w+)\]|(Top level))$", line)
        if heading:
            section = heading.group(1) or ""
            continue
        if line.startswith("## "):
            section = None
        row = re.match(r"\| `([\w.]+)` \|", line)
        if section is not None and row:
            found.add(f"{section}.{row.group(1)}" if section else row.group(1))
    return found


def test_every_schema_field_is_documented_and_nothing_else() -> None:
    schema, docs = schema_fields(TargetProfile), documented_fields()
    assert sorted(schema - docs) == [], "fields missing from docs/targets.md"
    assert sorted(docs - schema) == [], "docs/targets.md documents fields the schema lacks"


def test_documented_capabilities_are_the_ones_profiles_give() -> None:
    text = DOC.read_text(encoding="utf-8").split("## Capabilities", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    from typing import get_args

    from harness.types import Capability

    assert documented == set(get_args(Capability))


def test_the_shipped_profiles_load() -> None:
    for path in TARGETS.glob("*.toml"):
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        assert parse_profile(data, str(path)).name
