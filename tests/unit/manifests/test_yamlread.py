"""The scan's YAML reader against PyYAML's, and its fast path against its full path.

`yamlread` replaces PyYAML's resolver and constructor; what it builds must equal what
`yaml.safe_load` builds wherever the two agree on YAML (everything but the `=` scalar and
timestamps, which Kubernetes reads as strings). `segments` skips parsing documents of kinds the
caller does not want; it must change nothing else: the same documents, indices, lines and
objects as reading everything.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.manifests import yamlread
from webhook.manifests.loader import read_documents

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["=", "yes", "no", "on", "0x1f", "0o17", "1_000", "1:30", "~", "null", ".inf", "2024-05-01"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KINDS = st.sampled_from(["Deployment", "ConfigMap", "CustomResourceDefinition", "Service", "List", "Role"])


def build_all(text: str) -> list[Any]:
    return [yamlread.build(node) for node in yamlread.nodes(text)]


@settings(max_examples=300, deadline=None)
@given(value=VALUES, flow=st.sampled_from([None, True, False]))
def test_builds_what_safe_load_builds(value: Any, flow: bool | None) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    expected = yaml.safe_load(text.replace("'='", "EQUALS"))
    assert build_all(text.replace("'='", "EQUALS")) == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("op: =\n", {"op": "="}, id="equals"),
        pytest.param("enum: [=, '!=', =~]\n", {"enum": ["=", "!=", "=~"]}, id="equals-in-a-flow-list"),
        pytest.param("at: 2024-05-01T10:00:00Z\n", {"at": "2024-05-01T10:00:00Z"}, id="timestamp-stays-a-string"),
        pytest.param("on: yes\nn: 0x1f\n", {True: True, "n": 31}, id="yaml-1.1-like-go-yaml-v2"),
        pytest.param("a: &x {k: 1}\nb: {<<: *x, j: 2}\n", {"a": {"k": 1}, "b": {"k": 1, "j": 2}}, id="merge-key"),
        pytest.param("a: !!str 5\nb: !!int '7'\n", {"a": "5", "b": 7}, id="core-tags"),
    ],
)
def test_kubernetes_readings(text: str, expected: Any) -> None:
    assert build_all(text) == [expected]


@pytest.mark.parametrize(
    ("text", "reason", "line", "column"),
    [
        pytest.param("a: 1\n? [x]\n: y\n", "a mapping key is itself a mapping or a list", 2, 3, id="unhashable"),
        pytest.param("a: &x [*x]\n", "refers to the collection that contains it", 1, 4, id="recursive-alias"),
        pytest.param("a: !!python/name:os.system\n", "the tag `!!python/name:os.system`", 1, 4, id="python-tag"),
        pytest.param("a: !Ref b\n", "the tag `!Ref`", 1, 4, id="local-tag"),
        pytest.param("a: [b\n", "a `[` list that is not closed by `]`", 2, 1, id="syntax"),
    ],
)
def test_problems_in_plain_words_with_line_and_column(text: str, reason: str, line: int, column: int) -> None:
    with pytest.raises(yamlread.YamlProblem) as raised:
        build_all(text)
    assert reason in raised.value.reason
    assert (raised.value.line, raised.value.column) == (line, column)
    assert "tag:yaml.org" not in raised.value.reason


def judged(kind: Any) -> bool:
    return kind in {"Deployment", "ConfigMap"} or (isinstance(kind, str) and kind.endswith("List"))


DOCUMENT = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(["v1", "apps/v1", "apiextensions.k8s.io/v1"]), "kind": KINDS},
    optional={"metadata": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=5)}), "spec": VALUES},
)


@st.composite
def streams(draw: st.DrawFn) -> str:
    """Documents as helm and people write them: comments, empty documents, flow or block style,
    quoted kinds, JSON, CRLF."""
    parts = []
    for document in draw(st.lists(DOCUMENT, max_size=6)):
        prefix = draw(st.sampled_from(["---\n", "---\n# Source: c/templates/x.yaml\n", "--- \n", "---\n\n"]))
        style = draw(st.sampled_from(["block", "flow", "json", "quoted-kind"]))
        if style == "json":
            body = yaml.safe_dump(document, default_flow_style=True, width=10**6)
        elif style == "flow":
            body = yaml.safe_dump(document, default_flow_style=None)
        else:
            body = yaml.safe_dump(document, sort_keys=draw(st.booleans()))
            if style == "quoted-kind":
                body = body.replace(f"kind: {document['kind']}\n", f"kind: '{document['kind']}'\n")
        parts.append(prefix + body + draw(st.sampled_from(["", "---\n# empty\n", "...\n"])))
    text = "".join(parts)
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


@settings(max_examples=300, deadline=None)
@given(text=streams())
def test_the_fast_path_reads_what_the_full_path_reads(text: str) -> None:
    fast, fast_not_objects = read_documents("f.yaml", text, wanted=judged)
    full, full_not_objects = read_documents("f.yaml", text)
    assert [o.source for o in fast] == [o.source for o in full]
    assert fast_not_objects == full_not_objects
    for quick, whole in zip(fast, full, strict=True):
        if judged(whole.obj.get("kind")):
            assert quick.obj == whole.obj
        else:
            assert (quick.obj.get("apiVersion"), quick.obj.get("kind")) == (whole.obj["apiVersion"], whole.obj["kind"])
