"""Write the mutation score and the surviving mutants into docs/testing.md.

Run by `make mutation` after `mutmut run`. It reads mutmut's own verdicts (`mutmut results
--all true`) and each survivor's diff (`mutmut show`), and replaces the block between the two
markers in docs/testing.md. Survivors are explained in EQUIVALENT (why each changes nothing
observable); one that is not is listed as "not explained", which is a test to write.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
BEGIN = "<!-- mutation:begin (written by make mutation) -->"
END = "<!-- mutation:end -->"

WORDING = (
    "wording: changes the text of a message the SPEC does not fix word for word (the tests check"
    " what a message names, not its phrasing or case)"
)
STEPS = (
    "shortening steps: the SPEC fixes only the 256-character maximum and the middle `…`; which"
    " intermediate lengths names are cut to is not in the contract (the 255/256/257 tests still pass)"
)
UNREACHABLE = (
    "unreachable: with every name cut to 6 characters a warning is about 120 characters (an"
    " invalid-annotation one, with 40-character names, under 256), so the last resort and that"
    " boundary never run; a denial always has a message"
)
CODEC = "equivalent: codec names are case-insensitive (`ASCII` is `ascii`)"
FALLBACK = (
    "equivalent: the standard-library fallback writes the same bytes as orjson (the module's"
    " contract, checked by test_jsontext); `ensure_ascii=True` is `json.dumps`' default"
)
SORT = (
    "equivalent: entries are distinct by (name, field, key), so sorting by the whole entry, or"
    " by none, gives the same order"
)
FAST_PATH = "equivalent: a fast path for `dict`; `mapping()` returns the same object or `{}` either way"
SAME_TEMPLATE = (
    "equivalent: a Pod's template is the object itself, so its template metadata is its metadata"
    " either way; `has_template` is read by nothing"
)
NOT_TRUE = "equivalent: every string other than `true` declares nothing, and neither `` nor `XXXX` is a reload value"
PRECOMPUTED = (
    "equivalent: `references` is a precomputed argument; without it `evaluate` walks the pod spec"
    " and finds the same tuple (only slower)"
)
OLD_ON_CREATE = "equivalent: `evaluate` compares with the old object only on UPDATE"
FIRST_SOURCE = "equivalent: `entries` is still empty when a volume's `configMap` is read, so `=` and `+=` agree"
ONE_VOLUME_TYPE = (
    "outside the contract: a volume with both `configMap` and `secret` is invalid (the API server"
    " allows one volume type per volume), so which of the two is kept is not defined"
)
ARITHMETIC = "equivalent: (limit − 1) % 2 equals (limit + 1) % 2 for every integer"
NO_VALUE = (
    "wording: the value reported for a non-string `reload-safe.io/reload` (a YAML number) is not fixed by the SPEC"
)

_EXPLAINED: dict[str, dict[str, tuple[int, ...]]] = {
    WORDING: {
        "admission.handler.x__untouched": (6, 7, 10, 11),
        "admission.review.x_decode_review": (3, 17, 18, 19, 20, 21, 22, 23, 30, 40),
        "policy.engine.x__skip_reason": (3, 4, 5, 6, 7),
        "policy.engine.x_evaluate": (15, 16),
        "policy.messages.x__fixes": (4, 8, 9),
        "policy.messages.x_invalid_annotation_message": (10, 11, 12, 13, 14, 15, 16),
        "policy.messages.x_unreadable_warning": (24, 32),
        "policy.messages.x_violation_message": (11, 12, 19, 20, 22, 23),
        "policy.messages.x_violation_warning": (21,),
    },
    NO_VALUE: {"policy.strategies.x_declared_strategies": (22,)},
    STEPS: {
        "policy.messages.x_violation_warning": (1, 2, 3, 4, 5),
        "policy.messages.x_invalid_annotation_warning": (9, 10, 11, 12),
    },
    UNREACHABLE: {
        "policy.messages.x_violation_warning": (38, 39, 40, 41),
        "policy.messages.x_invalid_annotation_warning": (22, 23, 24, 25, 26),
        "admission.handler.x_handle": (60, 61),
    },
    CODEC: {
        "policy.model.x__base64": (4,),
        "policy.secrets.x_decoded_secret_data": (29, 46),
        "admission.review.x_encode_response": (30,),
        "policy.jsontext.x_compact_json": (24,),
    },
    FALLBACK: {"policy.jsontext.x_compact_json": (1, 3, 4, 5, 18)},
    SORT: {"policy.confighash.x_consumed_entries": (23, 25, 27)},
    FAST_PATH: {
        "policy.shapes.x_mapping": (1,),
        "policy.references.x__env_references": (7, 9, 11),
    },
    SAME_TEMPLATE: {"policy.workloads.x_read_workload": (53, 56, 57, 58)},
    NOT_TRUE: {"policy.shapes.x_annotation_value": (5, 6), "policy.strategies.x_declared_strategies": (12,)},
    PRECOMPUTED: {"policy.engine.x_evaluate": (40, 44), "admission.handler.x_decide": (45, 53)},
    OLD_ON_CREATE: {"admission.handler.x_decide": (5,)},
    FIRST_SOURCE: {"policy.references.x__config_volumes": (20,)},
    ONE_VOLUME_TYPE: {"policy.references.x__config_volumes": (38,)},
    ARITHMETIC: {"policy.messages.x_shorten": (9,)},
}

EQUIVALENT: dict[str, str] = {
    f"webhook.{function}__mutmut_{number}": reason
    for reason, functions in _EXPLAINED.items()
    for function, numbers in functions.items()
    for number in numbers
}
"""Surviving mutant name → why it is equivalent or outside the contract (reviewed by hand, run 2)."""


def verdicts() -> dict[str, str]:
    out = subprocess.run(["mutmut", "results", "--all", "true"], check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            found[name] = status
    return found


def diff(name: str) -> str:
    """The changed lines of one mutant, read in-process (one `mutmut show` per survivor is slow)."""
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant  # mutmut 3.8's own `show`

        shown = get_diff_for_mutant(name)
    except Exception:  # another mutmut version: ask the command line
        shown = subprocess.run(["mutmut", "show", name], check=False, capture_output=True, text=True).stdout
    changed = [line for line in shown.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return " / ".join(re.sub(r"\s+", " ", line).strip() for line in changed)[:300]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, required=True, help="wall time of the mutmut run")
    parser.add_argument("--note", default="", help="how the verdicts were obtained, when not one full run")
    parser.add_argument("--minimum", type=float, default=90.0, help="fail below this score (percent)")
    args = parser.parse_args()

    found = verdicts()
    counts = Counter(found.values())
    total = len(found)
    killed = counts["killed"] + counts["timeout"] + counts["caught by type check"]
    score = 100.0 * killed / total if total else 0.0
    survivors = sorted(
        (name for name, status in found.items() if status not in ("killed", "timeout")),
        key=lambda name: (EQUIVALENT.get(name, ""), name),
    )
    unexplained = [name for name in survivors if name not in EQUIVALENT]
    # mutmut numbers mutants by position in their function: after an edit, an explanation can
    # name a mutant that no longer survives (or now is another change). List them to be removed.
    stale = sorted(name for name in EQUIVALENT if found.get(name) in ("killed", "timeout", None))

    lines = [
        BEGIN,
        "",
        f"**Score: {killed} of {total} mutants killed ({score:.1f} %)**; "
        + ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        + (f"; {args.note}" if args.note else f"; the run took {args.seconds // 60} min {args.seconds % 60} s.")
        + f" Survivors not explained below: {len(unexplained)}.",
        "",
    ]
    if stale:
        lines += [
            "Explanations in `tests/tools/mutation_report.py` that name no survivor (remove or renumber): "
            + ", ".join(f"`{name}`" for name in stale),
            "",
        ]
    if survivors:
        lines += ["| surviving mutant | status | the change | why it is left |", "| --- | --- | --- | --- |"]
        for name in survivors:
            reason = EQUIVALENT.get(name, "**not explained**: a missing test, or a reason to write here")
            change = diff(name).replace("|", "\\|")
            lines.append(f"| `{name}` | {found[name]} | `{change}` | {reason} |")
        lines.append("")
    lines.append(END)

    text = DOC.read_text(encoding="utf-8")
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")
    print(
        f"mutation score {score:.1f} % ({killed}/{total}); {len(survivors)} survivors,"
        f" {len(unexplained)} not explained, {len(stale)} stale explanations; written to {DOC}"
    )
    return 0 if score >= args.minimum else 1


if __name__ == "__main__":
    sys.exit(main())
