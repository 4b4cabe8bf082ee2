"""What a process tree costs, read from /proc: CPU seconds and resident memory per process.

The server is a gunicorn master and its workers; a figure for "the server" is the sum over
that tree, and the per-process figures are kept so a reader can see where memory sits.
Resident set sizes of forked processes count the pages they share once per process, so the
proportional set size (PSS: shared pages divided among their sharers) is reported beside the
RSS sum: it is what the processes add up to, and close to what a container's memory counts.
Memory the workers share through a file (the pod's ConfigMap store, `sources.shared`) is in
the page cache, not in any process's anonymous memory: the file sizes are counted too, once.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
MIB: Final = 1024 * 1024


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's children: gunicorn forks from its main one)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return sorted(set(found))


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    pids = [pid]
    for child in children(pid):
        pids.extend(tree(child))
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3; utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in tree(pid))


@dataclass(frozen=True, kw_only=True)
class Memory:
    pid: int
    role: str
    rss_mib: float
    pss_mib: float
    uss_mib: float
    """Pages only this process holds (private clean + private dirty)."""


def memory(pid: int, *, role: str) -> Memory:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name.strip()] = int(parts[0])  # kB
    kib = 1024 / MIB
    return Memory(
        pid=pid,
        role=role,
        rss_mib=round(values.get("Rss", 0) * kib, 1),
        pss_mib=round(values.get("Pss", 0) * kib, 1),
        uss_mib=round((values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)) * kib, 1),
    )


def server_memory(master: int, *, shared_file_prefix: str | None = None) -> list[Memory]:
    """The gunicorn master and each worker; then, as one more entry (pid 0, role "shared
    file"), the files named `shared_file_prefix...` the processes have open, counted once in
    every column."""
    processes = [memory(master, role="master")] + [memory(w, role="worker") for w in children(master)]
    if shared_file_prefix is None:
        return processes
    size = files_mib(open_files(master, prefix=shared_file_prefix))
    return [*processes, Memory(pid=0, role="shared file", rss_mib=size, pss_mib=size, uss_mib=size)]


def open_files(master: int, *, prefix: str) -> list[Path]:
    """Files whose name starts with `prefix` that any process of the tree has open, with their
    SQLite siblings (-wal, -shm): e.g. the workers' shared ConfigMap store."""
    found: set[Path] = set()
    for pid in tree(master):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = Path(os.readlink(fd))
                    if target.name.startswith(prefix):
                        found.add(target.with_name(prefix))
    return sorted({sibling for path in found for sibling in path.parent.glob(f"{prefix}*") if sibling.is_file()})


def files_mib(paths: list[Path]) -> float:
    """What the files take (their pages in the page cache, at most)."""
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return round(total / MIB, 1)
