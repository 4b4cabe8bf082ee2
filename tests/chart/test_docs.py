"""values.yaml is documented key by key, the schema knows every key, and the README table is current."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.chart.conftest import CHART

VALUES = CHART / "values.yaml"
KEY_LINE = re.compile(r"^(\s*)([A-Za-z][\w.-]*):")


def documented_keys(path: Path) -> dict[str, str]:
    """Dotted key -> its '# --' comment, for every key that has one directly above it."""
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and comment:
            comment.append(stripped[1:].strip())
            continue
        match = KEY_LINE.match(line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group(2)))
            if comment:
                found[".".join(key for _, key in stack)] = " ".join(comment)
        if not stripped.startswith("#"):
            comment = []
    return found


def leaves(values: Any, prefix: str = "") -> list[str]:
    """Dotted paths of scalars, lists and empty maps (what a user sets)."""
    if isinstance(values, dict) and values:
        return [leaf for key, value in values.items() for leaf in leaves(value, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def test_every_value_is_documented() -> None:
    documented = documented_keys(VALUES)
    values = yaml.safe_load(VALUES.read_text())
    undocumented = [
        leaf for leaf in leaves(values) if not any(leaf == key or leaf.startswith(key + ".") for key in documented)
    ]
    assert undocumented == []
    assert all(len(text) > 10 for text in documented.values())


def test_schema_knows_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load(VALUES.read_text())

    def walk(node: dict[str, Any], value: Any, path: str) -> None:
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
        assert node.get("additionalProperties") is not True, path
        if isinstance(value, dict) and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} must reject unknown keys"
            for key, child in value.items():
                assert key in node["properties"], f"{path}.{key} missing from the schema"
                walk(node["properties"][key], child, f"{path}.{key}")

    walk(schema, values, "values")


def test_readme_table_lists_every_documented_key_with_its_default() -> None:
    readme = (CHART / "README.md").read_text().split("## Values", 1)[1]
    values = yaml.safe_load(VALUES.read_text())
    for key in documented_keys(VALUES):
        default: Any = values
        for part in key.split("."):
            default = default[part]
        row = f"| `{key}` | `{json.dumps(default, separators=(', ', ': '))}` |"
        assert row in readme, f"README values table lacks or misstates {key}"
        assert readme.count(f"| `{key}` |") == 1, f"README lists {key} more than once"
