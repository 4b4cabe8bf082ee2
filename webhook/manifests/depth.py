"""Refuse absurdly deep nesting before libyaml sees it.

libyaml's composer (the C loader the scan relies on for speed) recurses once per nesting level
on the C stack: some 25,000 levels, a 50 KB file of `[`, kill the process with a segmentation
fault, no message, no exit status a pipeline can read. No manifest nests more than a few dozen
levels, so anything past `MAX_DEPTH` is refused with a proper error instead.

Measuring depth exactly costs a second pass over the YAML events (about half the parse time),
so it runs only on documents that a cheap upper bound says could be that deep: flow nesting
can't exceed the number of `[` and `{`, and block nesting needs a column or two per level on
one line. Nesting never spans documents: libyaml reads `---` or `...` at the start of a line as
a document marker wherever it appears (inside a flow collection it is a syntax error).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any, Final

import yaml

MAX_DEPTH: Final = 1000
"""Far beyond any real manifest, far below where the C stack overflows."""

_MARKER: Final = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)
_OPENING: Final = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSING: Final = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class TooDeep(ValueError):
    def __init__(self, line: int | None) -> None:
        super().__init__(f"nested more than {MAX_DEPTH} levels deep")
        self.line = line


def check_depth(text: str, *, loader: Any) -> None:
    """Raise `TooDeep` when `text` nests deeper than `MAX_DEPTH`; cheap for ordinary files."""
    if _bound(text) <= MAX_DEPTH:
        return
    for first_line, chunk in _chunks(text):
        if _bound(chunk) > MAX_DEPTH and not _shallow_json(chunk):
            _check_events(chunk, loader=loader, first_line=first_line)


def _bound(text: str) -> int:
    """An upper bound of the nesting depth of `text`, in a few C-speed passes."""
    longest = max(map(len, text.splitlines()), default=0)
    return text.count("[") + text.count("{") + 2 * longest + 2


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """(line of its first character, text) of each stretch between document markers."""
    start, line = 0, 1
    for marker in _MARKER.finditer(text):
        chunk = text[start : marker.start()]
        yield line, chunk
        line += chunk.count("\n")
        start = marker.start()
    yield line, text[start:]


def _shallow_json(text: str) -> bool:
    """True when `text` is JSON that Python's parser reads within its recursion limit (< MAX_DEPTH).

    Big JSON files have thousands of `{`, which defeats the cheap bound; the C JSON parser
    answers for them in a fraction of the YAML event pass. Anything else gets the exact check.
    """
    if sys.getrecursionlimit() > MAX_DEPTH or not text.lstrip().startswith(("{", "[")):
        return False  # a raised limit would let json read what libyaml cannot compose
    try:
        json.loads(text)
    except (RecursionError, ValueError):
        return False
    return True


def _check_events(text: str, *, loader: Any, first_line: int) -> None:
    parser = loader(text)
    depth = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, _OPENING):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise TooDeep(first_line + mark.line if mark is not None else None)
            elif isinstance(event, _CLOSING):
                depth -= 1
    except yaml.YAMLError as error:
        if "maximum nesting depth" in str(getattr(error, "problem", "") or ""):
            # PyYAML >= 6.0.4 has its own limit (also 1000 levels): report it as ours.
            mark = getattr(error, "problem_mark", None)
            raise TooDeep(first_line + mark.line if mark is not None else None) from error
        return  # the real parse reports it, with its line
    finally:
        parser.dispose()
