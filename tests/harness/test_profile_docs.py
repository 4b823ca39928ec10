"""docs/targets.md and the profile schema name the same fields, and its examples load."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from harness.profile import ProfileError, TargetProfile, _submodel, parse_profile

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
    # the rows of the section's one table: a row cut off from it by prose does not count
    table = re.search(r"^\| capability \|.*?(?=\n(?!\|))", text, re.M | re.S)
    assert table is not None
    documented = set(re.findall(r"^\| `(\w+)` \|", table.group(0), re.M))
    from typing import get_args

    from harness.types import Capability

    assert documented == set(get_args(Capability))


def test_the_shipped_profiles_load() -> None:
    for path in TARGETS.glob("*.toml"):
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        assert parse_profile(data, str(path)).name


def documented_rows() -> dict[str, tuple[str, str]]:
    """Dotted field -> (default cell, meaning cell) of the field tables."""
    rows: dict[str, tuple[str, str]] = {}
    section: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## (?:\[(\w+)\]|(Top level))$", line)
        if heading:
            section = heading.group(1) or ""
            continue
        if line.startswith("## "):
            section = None
        row = re.match(r"\| `([\w.]+)` \| (.*?) \| (.*) \|$", line)
        if section is not None and row:
            name = f"{section}.{row.group(1)}" if section else row.group(1)
            rows[name] = (row.group(2).strip(), row.group(3))
    return rows


def schema_field(path: str) -> Any:
    model: type[BaseModel] = TargetProfile
    *parents, leaf = path.split(".")
    for part in parents:
        info = next(i for n, i in model.model_fields.items() if (i.alias or n) == part)
        sub = _submodel(info.annotation)
        assert sub is not None, path
        model = sub
    return next(i for n, i in model.model_fields.items() if (i.alias or n) == leaf)


def test_documented_defaults_are_the_schemas() -> None:
    """A default written as a literal (`"POST"`, `20`, `[...]`) is the schema's default; a
    required field says so, and a field the schema leaves unset is not given a value."""
    wrong = []
    for path, (default, _) in documented_rows().items():
        info = schema_field(path)
        if info.is_required():
            if not default.startswith("required"):
                wrong.append(f"{path}: documented {default!r}, the schema requires it")
            continue
        value = info.get_default(call_default_factory=True)
        literal = re.fullmatch(r"`([^`]+)`", default)
        if default == "required":
            wrong.append(f"{path}: documented required, the schema defaults to {value!r}")
        elif literal is not None:
            try:
                parsed = tomllib.loads(f"v = {literal.group(1)}")["v"]
            except tomllib.TOMLDecodeError:
                continue  # not a value but a name (`base_url`): prose
            if parsed != value:
                wrong.append(f"{path}: documented {parsed!r}, the schema defaults to {value!r}")
        elif default == "none" and value is not None:
            wrong.append(f"{path}: documented none, the schema defaults to {value!r}")
    assert wrong == []


def _set(data: dict[str, Any], path: str, value: Any) -> bool:
    """Set a dotted field in parsed TOML; False when a parent table is absent."""
    *parents, leaf = path.split(".")
    for part in parents:
        if not isinstance(data.get(part), dict):
            return False
        data = data[part]
    data[leaf] = value
    if leaf == "form":
        data.pop("json", None)  # a sign-in has one body: json or form
    return True


def test_documented_placeholders_are_the_ones_each_template_accepts() -> None:
    """Every template row's placeholders load, and one it does not name is refused."""
    rows = {
        path: set(re.findall(r"`\{(\w+)\}`", meaning))
        for path, (_, meaning) in documented_rows().items()
        if "placeholder" in meaning
    }
    everything = set().union(*rows.values())
    base = tomllib.loads((TARGETS / "reference.toml").read_text(encoding="utf-8"))
    checked = []
    for path, named in rows.items():
        if not named:
            continue
        template = "/x/" + "/".join(f"{{{n}}}" for n in sorted(named))
        is_dict = "dict[" in str(schema_field(path).annotation)
        value = {"x": template} if is_dict else template
        data = copy.deepcopy(base)
        if not _set(data, path, value):
            continue  # its section is not in the reference profile
        parse_profile(data, path, environ={})
        for extra in sorted(everything - named)[:1] or ["not_a_placeholder"]:
            bad = copy.deepcopy(base)
            _set(bad, path, {"x": f"/{{{extra}}}"} if is_dict else f"/{{{extra}}}")
            with pytest.raises(ProfileError, match=extra):
                parse_profile(bad, path, environ={})
        checked.append(path)
    assert len(checked) >= 5, checked
