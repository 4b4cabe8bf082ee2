"""YAML read as Kubernetes reads it, fast, with every problem told in plain words.

kubectl and helm read YAML with go-yaml v2 through sigs.k8s.io/yaml: YAML 1.1 booleans, ints and
floats, but a plain `=` is the string "=" and a timestamp stays a string. PyYAML's SafeLoader
reads `=` as a `value` tag it then cannot construct, and turns timestamps into datetimes.

So libyaml (PyYAML's C parser) composes the nodes, a resolver that only tells plain scalars from
quoted ones stands in for PyYAML's (it runs once per scalar, in Python, and was a third of the
time), and `build` constructs objects directly: plain scalars are resolved only for the
documents that are built, and a caller may skip building a document after looking at its
`kind` node (custom resource definitions are most of the bytes of rendered charts and tell a
scan nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import yaml
from yaml import MappingNode, ScalarNode, SequenceNode
from yaml._yaml import CParser

_PLAIN: Final = "!plain"
_STR: Final = "tag:yaml.org,2002:str"
_SEQ: Final = "tag:yaml.org,2002:seq"
_MAP: Final = "tag:yaml.org,2002:map"
_CORE: Final = "tag:yaml.org,2002:"


class YamlProblem(ValueError):
    """A document that cannot be read: `line` and `column` (1-based) of the first problem."""

    def __init__(self, reason: str, *, line: int | None, column: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.column = column


class CustomTag(YamlProblem):
    """A tag no Kubernetes reader knows (`!!python/name:...` in mkdocs.yml, `!Ref` in CloudFormation)."""


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 implicit types minus the two Kubernetes does not have: `=` and timestamps."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith((":value", ":timestamp"))]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_RESOLVE: Final[Any] = _Resolver().resolve
_SAFE: Final = yaml.constructor.SafeConstructor()
_SCALARS: Final[dict[str, Any]] = {
    _CORE + "int": _SAFE.construct_yaml_int,
    _CORE + "float": _SAFE.construct_yaml_float,
    _CORE + "bool": _SAFE.construct_yaml_bool,
    _CORE + "null": lambda node: None,
    _CORE + "merge": lambda node: "<<",
    _CORE + "timestamp": lambda node: node.value,
    _CORE + "binary": lambda node: node.value,
}


class _Composer(CParser):
    """libyaml composes; tags are left for `build`, which resolves only what it builds."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, parent: Any, index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


def nodes(text: str) -> Iterator[Any]:
    """The root node of each non-empty document, in order; `YamlProblem` at the first syntax error."""
    composer = _Composer(text)
    try:
        while composer.check_node():
            node = composer.get_node()
            if node is not None and not _is_null(node):
                yield node
    except yaml.MarkedYAMLError as error:
        raise _syntax_problem(error) from None
    except yaml.YAMLError as error:
        raise YamlProblem(plain_reason(str(error)), line=None, column=None) from None
    finally:
        composer.dispose()


def _is_null(node: Any) -> bool:
    """An empty document (`---` then only comments) is no document, as for kubectl."""
    return isinstance(node, ScalarNode) and node.tag == _PLAIN and (node.value in ("", "~", "null", "Null", "NULL"))


def build(node: Any) -> Any:
    """The Python value of a node, as go-yaml v2 reads it (aliases share one built object)."""
    return _Builder().build(node)


def scalar(node: Any) -> Any:
    """One scalar node's value (a `kind:` or `apiVersion:` looked at before building)."""
    return _Builder().build(node) if isinstance(node, ScalarNode) else None


def mapping_value(node: Any, key: str) -> Any:
    """The value node under a plain string `key` of a mapping node, or None."""
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node
    return None


class _Builder:
    def __init__(self) -> None:
        self._built: dict[int, Any] = {}
        self._building: set[int] = set()

    def build(self, node: Any) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        key = id(node)
        if key in self._built:
            return self._built[key]
        if key in self._building:
            raise _at(node, "an alias (`*name`) refers to the collection that contains it")
        self._building.add(key)
        if node.tag not in (_MAP, _SEQ):
            self._check_tag(node)
        value = self._mapping(node) if isinstance(node, MappingNode) else [self.build(n) for n in node.value]
        self._building.discard(key)
        self._built[key] = value
        return value

    def _mapping(self, node: Any) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node)
            if key == "<<" and isinstance(key_node, ScalarNode) and key_node.tag == _PLAIN:
                merged.update(self._merge(value_node))
                continue
            if isinstance(key, (dict, list)):
                raise _at(
                    key_node, "a mapping key is itself a mapping or a list, which JSON and Kubernetes cannot hold"
                )
            result[key] = self.build(value_node)
        return {**merged, **result} if merged else result

    def _merge(self, node: Any) -> dict[Any, Any]:
        """`<<: *defaults` or `<<: [*a, *b]` (earlier ones win), as go-yaml reads merge keys."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):
            value = self.build(source)
            if not isinstance(value, dict):
                raise _at(source, "a merge key (`<<`) must refer to a mapping")
            merged.update(value)
        return merged

    def _scalar(self, node: Any) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _PLAIN:
            tag = _RESOLVE(ScalarNode, node.value, (True, False))
            if tag == _STR:
                return node.value
        construct = _SCALARS.get(tag)
        if construct is None:
            self._check_tag(node)
            return node.value
        try:
            return construct(node)
        except (ValueError, yaml.YAMLError):
            raise _at(node, f"`{node.value}` is not a valid {tag.removeprefix(_CORE)}") from None

    @staticmethod
    def _check_tag(node: Any) -> None:
        if node.tag in (_STR, _SEQ, _MAP, _CORE + "omap", _CORE + "set"):
            return
        shown = "!!" + node.tag.removeprefix(_CORE) if node.tag.startswith(_CORE) else node.tag
        raise CustomTag(
            f"the tag `{shown}` belongs to another program (Kubernetes reads no custom YAML tags)",
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
        )


def _at(node: Any, reason: str) -> YamlProblem:
    return YamlProblem(reason, line=node.start_mark.line + 1, column=node.start_mark.column + 1)


_PROBLEMS: Final = {
    "did not find expected node content": "a value is missing, or starts with a character that cannot start one",
    "mapping values are not allowed in this context": "a `key: value` where a plain value was expected"
    " (quote a value that contains `: `)",
    "found character that cannot start any token": "a character that cannot start a value here"
    " (a tab used for indentation, or an unquoted `@`, `` ` `` or `%`)",
    "could not find expected ':'": "a key without a `:` after it",
    "did not find expected key": "a line indented differently from the ones around it",
    "did not find expected '-' indicator": "a line indented differently from the list items around it",
    "found undefined alias": "an alias (`*name`) whose anchor (`&name`) is not defined before it",
    "found unexpected end of stream": "the file ends inside a quoted string or a collection",
    "did not find expected ',' or ']'": "a `[` list that is not closed by `]`",
    "did not find expected ',' or '}'": "a `{` mapping that is not closed by `}`",
    "found duplicate anchor": "the same anchor (`&name`) defined twice",
    "found a tab character that violates indentation": "a tab used for indentation (YAML allows spaces only)",
}


def plain_reason(problem: str) -> str:
    """libyaml's wording, or a plainer one for the problems people meet most."""
    problem = problem.strip()
    for known, plain in _PROBLEMS.items():
        if problem.startswith(known):
            return plain
    return re.sub(r"\s+", " ", problem) or "not valid YAML"


def _syntax_problem(error: yaml.MarkedYAMLError) -> YamlProblem:
    mark = error.problem_mark or error.context_mark
    reason = plain_reason(error.problem or error.context or "not valid YAML")
    if mark is None:
        return YamlProblem(reason, line=None, column=None)
    return YamlProblem(reason, line=mark.line + 1, column=mark.column + 1)
