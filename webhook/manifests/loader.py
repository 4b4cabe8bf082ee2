"""Read Kubernetes manifests from files, folders and stdin, remembering where each object was.

Used by the offline commands (`scan`, `review --configmaps`) and the static ConfigMap source.
Multi-document YAML, JSON and `List` kinds are flattened into `Located` objects that know their
file, the index of their non-empty document and, where YAML tells, their line. YAML is read as
Kubernetes reads it (`yamlread`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from webhook.manifests import yamlread
from webhook.manifests.depth import TooDeep, check_depth

_EventLoader: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")
STDIN: Final = "-"
NOT_AN_OBJECT: Final = "YAML or JSON that is not an object or a list of objects"


class ManifestError(ValueError):
    """Input that cannot be read as manifests; the message names the file and line."""


class YamlError(ManifestError):
    """Not YAML (or JSON) a Kubernetes tool would read; `reason` without the file and place."""

    def __init__(self, message: str, *, reason: str, custom_tag: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.custom_tag = custom_tag


@dataclass(frozen=True, slots=True)
class Source:
    file: str
    document: int
    line: int | None


@dataclass(frozen=True, slots=True)
class Located:
    obj: Mapping[str, Any]
    source: Source


@dataclass(frozen=True, slots=True)
class NotObject:
    """A document read fine that holds no object: a scalar, or a list of non-objects."""

    source: Source
    got: str


Wanted = Callable[[Any], bool]
"""Given a document's `kind` value: build the whole object? (Others get apiVersion, kind, metadata.)"""


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files as given; folders walked recursively for *.yaml, *.yml and *.json, sorted."""
    found: list[str] = []
    for raw in paths:
        if raw == STDIN:
            found.append(raw)
            continue
        path = Path(raw)
        if path.is_dir():
            found.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        elif path.exists():
            found.append(raw)  # a regular file, or a pipe: `scan <(helm template ...)`
        else:
            raise ManifestError(f"{raw}: no such file or directory")
    return found


def display_name(path: str) -> str:
    """How messages name an input: `-` reads better as `stdin`."""
    return "stdin" if path == STDIN else path


def read_text(path: str) -> str:
    try:
        if path == STDIN:
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ManifestError(f"{display_name(path)}: cannot read: not UTF-8 text (byte {error.start})") from error
    except OSError as error:
        raise ManifestError(f"{display_name(path)}: cannot read: {error.strerror or error}") from error


def load_objects(path: str, text: str | None = None) -> list[Located]:
    """Every object in one file, `List` items flattened; non-objects are an error."""
    located, not_objects = read_documents(path, text)
    if not_objects:
        first = not_objects[0]
        raise ManifestError(
            f"{display_name(path)}:{first.source.line}: document {first.source.document} is not an object"
            f" (got {first.got})"
        )
    return located


def load_all(paths: Iterable[str]) -> list[Located]:
    return [obj for path in expand_paths(paths) for obj in load_objects(path)]


def read_documents(
    path: str, text: str | None = None, *, wanted: Wanted | None = None
) -> tuple[list[Located], list[NotObject]]:
    """The objects of one file and the documents that hold none; `YamlError` if it does not parse.

    With `wanted`, documents whose kind it refuses are not built beyond apiVersion, kind and
    metadata: the reader's time goes to the objects the caller looks at.
    """
    text = read_text(path) if text is None else text
    located: list[Located] = []
    not_objects: list[NotObject] = []
    try:
        _check_depth(path, text)
        for document, node in enumerate(yamlread.nodes(text)):
            source = Source(file=path, document=document, line=node.start_mark.line + 1)
            if isinstance(node, yaml.MappingNode):
                located.extend(_flatten(_build(node, wanted), node, source))
            elif (
                isinstance(node, yaml.SequenceNode)
                and node.value
                and all(isinstance(item, yaml.MappingNode) for item in node.value)
            ):
                for item in node.value:  # a JSON array of objects
                    item_source = Source(file=path, document=document, line=item.start_mark.line + 1)
                    located.append(Located(obj=_build(item, wanted), source=item_source))
            else:
                value = yamlread.build(node)
                if value is not None:
                    not_objects.append(NotObject(source=source, got=_what(value)))
    except yamlread.YamlProblem as problem:
        place = f":{problem.line}:{problem.column}" if problem.line else ""
        raise YamlError(
            f"{display_name(path)}{place}: not valid YAML or JSON: {problem.reason}",
            reason=f"line {problem.line}, column {problem.column}: {problem.reason}"
            if problem.line
            else problem.reason,
            custom_tag=isinstance(problem, yamlread.CustomTag),
        ) from None
    return located, not_objects


def _check_depth(path: str, text: str) -> None:
    try:
        check_depth(text, loader=_EventLoader)
    except TooDeep as error:
        where = f"{display_name(path)}:{error.line}" if error.line else display_name(path)
        raise ManifestError(f"{where}: {error}") from error


def _build(node: Any, wanted: Wanted | None) -> Any:
    if wanted is None or wanted(yamlread.scalar(yamlread.mapping_value(node, "kind"))):
        return yamlread.build(node)
    stub: dict[str, Any] = {}
    for key in ("apiVersion", "kind", "metadata"):
        value = yamlread.mapping_value(node, key)
        if value is not None:
            stub[key] = yamlread.build(value)
    return stub


def _what(value: Any) -> str:
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _flatten(data: Mapping[str, Any], node: Any, source: Source) -> Iterator[Located]:
    kind = data.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list):
        item_nodes = _items_nodes(node)
        for index, item in enumerate(data["items"]):
            if not isinstance(item, Mapping):
                raise ManifestError(f"{display_name(source.file)}:{source.line}: {kind} item {index} is not an object")
            line = item_nodes[index].start_mark.line + 1 if index < len(item_nodes) else source.line
            yield Located(obj=item, source=Source(file=source.file, document=source.document, line=line))
        return
    yield Located(obj=data, source=source)


def _items_nodes(node: Any) -> list[Any]:
    value = yamlread.mapping_value(node, "items")
    return list(value.value) if isinstance(value, yaml.SequenceNode) else []


def loads_json(text: str) -> Any:
    """JSON for AdmissionReviews, where YAML's looser typing has no business."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f"line {error.lineno}: not valid JSON: {error.msg}") from error
