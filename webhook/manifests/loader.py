"""Read Kubernetes manifests from files, folders and stdin, remembering where each object was.

Used by the offline commands (`scan`, `review --configmaps`) and the static ConfigMap source.
Multi-document YAML, JSON and `List` kinds are flattened into `Located` objects that know their
file, the index of their non-empty document and, where YAML tells, their line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from webhook.manifests.depth import TooDeep, check_depth

_Loader: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")
STDIN: Final = "-"


class ManifestError(ValueError):
    """Input that cannot be read as manifests; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Source:
    file: str
    document: int
    line: int | None


@dataclass(frozen=True, slots=True)
class Located:
    obj: Mapping[str, Any]
    source: Source


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
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{display_name(path)}: cannot read: {error}") from error


def load_objects(path: str, text: str | None = None) -> list[Located]:
    """Every object in one file, `List` items flattened; non-objects are an error."""
    text = read_text(path) if text is None else text
    located: list[Located] = []
    for document, (node, data) in enumerate(_documents(path, text)):
        line = node.start_mark.line + 1
        if not isinstance(data, Mapping):
            raise ManifestError(
                f"{display_name(path)}:{line}: document {document} is not an object (got {type(data).__name__})"
            )
        located.extend(_flatten(data, node, Source(file=path, document=document, line=line)))
    return located


def load_all(paths: Iterable[str]) -> list[Located]:
    return [obj for path in expand_paths(paths) for obj in load_objects(path)]


def _documents(path: str, text: str) -> Iterator[tuple[Any, Any]]:
    """(node, data) for each non-empty YAML document; JSON is YAML here."""
    try:
        check_depth(text, loader=_Loader)
    except TooDeep as error:
        where = f"{display_name(path)}:{error.line}" if error.line else display_name(path)
        raise ManifestError(f"{where}: {error}") from error
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            yield node, data
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{display_name(path)}:{mark.line + 1}" if mark is not None else display_name(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ManifestError(f"{where}: not valid YAML or JSON: {problem}") from error
    finally:
        loader.dispose()


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
    for key, value in getattr(node, "value", []):
        if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []


def loads_json(text: str) -> Any:
    """JSON for AdmissionReviews, where YAML's looser typing has no business."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f"line {error.lineno}: not valid JSON: {error.msg}") from error
