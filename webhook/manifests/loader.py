"""Read Kubernetes manifests from files, folders and stdin, remembering where each object was.

Used by the offline commands (`scan`, `review --configmaps`) and the static ConfigMap source.
Multi-document YAML, JSON and `List` kinds are flattened into `Located` objects that know their
file, the index of their non-empty document and, where YAML tells, their line. YAML is read as
Kubernetes reads it (`yamlread`).
"""

from __future__ import annotations

import itertools
import json
import re
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

    With `wanted`, the reader's time goes to the objects the caller looks at: a document whose
    `kind` it refuses is read no further than apiVersion and kind (and, when those are plain
    top-level lines, not parsed at all: see `segments`).
    """
    text = read_text(path) if text is None else text
    located: list[Located] = []
    not_objects: list[NotObject] = []
    _check_depth(path, text)
    document = 0
    for first_line, segment, stub in segments(text, wanted):
        if stub is not None:
            located.append(Located(obj=stub, source=Source(file=path, document=document, line=first_line)))
            document += 1
            continue
        try:
            for node in yamlread.nodes(segment):
                source = Source(file=path, document=document, line=node.start_mark.line + first_line)
                _read_node(node, source, first_line=first_line, wanted=wanted, located=located, not_objects=not_objects)
                document += 1
        except yamlread.YamlProblem as problem:
            raise _yaml_error(path, problem, first_line=first_line) from None
    return located, not_objects


def _read_node(
    node: Any,
    source: Source,
    *,
    first_line: int,
    wanted: Wanted | None,
    located: list[Located],
    not_objects: list[NotObject],
) -> None:
    """One document's root node: an object (or `List`), a JSON array of objects, or neither."""
    offset = first_line
    if isinstance(node, yaml.MappingNode):
        located.extend(_flatten(_build(node, wanted), node, source, offset=offset))
    elif (
        isinstance(node, yaml.SequenceNode)
        and node.value
        and all(isinstance(item, yaml.MappingNode) for item in node.value)
    ):
        for item in node.value:  # a JSON array of objects
            item_source = Source(file=source.file, document=source.document, line=item.start_mark.line + offset)
            located.append(Located(obj=_build(item, wanted), source=item_source))
    else:
        value = yamlread.build(node)
        if value is not None:
            not_objects.append(NotObject(source=source, got=_what(value)))


def _yaml_error(path: str, problem: yamlread.YamlProblem, *, first_line: int) -> YamlError:
    line = problem.line + first_line - 1 if problem.line else None
    place = f":{line}:{problem.column}" if line else ""
    return YamlError(
        f"{display_name(path)}{place}: not valid YAML or JSON: {problem.reason}",
        reason=f"line {line}, column {problem.column}: {problem.reason}" if line else problem.reason,
        custom_tag=isinstance(problem, yamlread.CustomTag),
    )


_DOCUMENT_START: Final = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_PLAIN_KIND: Final = re.compile(r"^kind:[ \t]+([A-Za-z][A-Za-z0-9]*)[ \t]*\r?$", re.MULTILINE)
_PLAIN_API_VERSION: Final = re.compile(r"^apiVersion:[ \t]+([A-Za-z0-9][A-Za-z0-9./-]*)[ \t]*\r?$", re.MULTILINE)


def segments(text: str, wanted: Wanted | None = None) -> Iterator[tuple[int, str, dict[str, str] | None]]:
    """(first line, text, None) for stretches of documents to parse, (line, "", stub) for a document
    whose kind is not wanted, told by its plain top-level `kind:` and `apiVersion:` lines.

    A line at column 0 is a top-level key of its document (YAML indents everything nested), and
    libyaml reads `---` at the start of a line as a document start wherever it is; so a document
    with exactly one such `kind:` and one such `apiVersion:` line has that kind. Such documents
    (a CustomResourceDefinition is most of a rendered chart's bytes) are not parsed at all, so a
    syntax error inside one goes unreported, as it does not matter to the caller. Anything less
    plain (quoted or flow-style kinds, JSON, directives) is parsed as usual.
    """
    if wanted is None or text.startswith("%") or "\n%" in text:
        yield 1, text, None
        return
    starts = [match.start() for match in _DOCUMENT_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(text))
    pending, pending_line, line = 0, 1, 1
    for begin, end in itertools.pairwise(starts):
        chunk = text[begin:end]
        stub = _stub(chunk, wanted)
        if stub is not None:
            if pending < begin:
                yield pending_line, text[pending:begin], None
            yield line + _first_content_line(chunk), "", stub
            pending, pending_line = end, line + chunk.count("\n")
        line += chunk.count("\n")
    if pending < len(text):
        yield pending_line, text[pending:], None


def _stub(chunk: str, wanted: Wanted) -> dict[str, str] | None:
    kinds = _PLAIN_KIND.findall(chunk)
    if len(kinds) != 1 or wanted(kinds[0]):
        return None
    versions = _PLAIN_API_VERSION.findall(chunk)
    if len(versions) != 1:
        return None
    return {"apiVersion": versions[0], "kind": kinds[0]}


def _first_content_line(chunk: str) -> int:
    """Lines before the document's first content (its `---`, comments, blank lines), from 0."""
    for index, line in enumerate(chunk.splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and stripped != "---":
            return index
    return 0


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


def _flatten(data: Mapping[str, Any], node: Any, source: Source, *, offset: int = 1) -> Iterator[Located]:
    kind = data.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list):
        item_nodes = _items_nodes(node)
        for index, item in enumerate(data["items"]):
            if not isinstance(item, Mapping):
                raise ManifestError(f"{display_name(source.file)}:{source.line}: {kind} item {index} is not an object")
            line = item_nodes[index].start_mark.line + offset if index < len(item_nodes) else source.line
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
