"""What a process tree costs, read from /proc: CPU seconds, context switches and resident memory.

The server is a gunicorn master and its worker. Its memory is measured three ways
(`ServerMemory`): the tree's resident set (each physical page any of its processes maps,
counted once: what a container is charged for them), the sum of the processes' RSS (a page
shared after fork counted once per process), and the sum of their PSS. The per-process figures
are kept so a reader can see where memory sits.
"""

from __future__ import annotations

import os
from array import array
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


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of every live thread of one process so far.

    Counted per thread (`/proc/PID/status` holds the main thread's only); a thread that has
    exited takes its count with it, which gunicorn's long-lived pool threads never do."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue  # the thread exited meanwhile
        for line in lines:
            name, _, value = line.partition(":")
            if name in _SWITCH_FIELDS:
                total += int(value)
    return total


_SWITCH_FIELDS: Final = frozenset({"voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"})


def tree_context_switches(pid: int) -> int:
    return sum(context_switches(p) for p in tree(pid))


@dataclass(frozen=True, kw_only=True)
class Memory:
    pid: int
    role: str
    rss_mib: float
    pss_mib: float
    uss_mib: float
    """Pages only this process holds (private clean + private dirty)."""


@dataclass(frozen=True, kw_only=True)
class ServerMemory:
    """What the server's process tree holds in memory, three ways.

    - `resident_mib`: the server's resident set. Every page frame mapped by any of its
      processes, counted once (read from /proc/PID/pagemap). This is what the kernel charges a
      container for the pages its processes map: a page the master and the worker share after
      fork is one page. It is None when the page frame numbers cannot be
      read (Linux shows them only to a process with CAP_SYS_ADMIN).
    - `rss_sum_mib`: the processes' RSS added up. A page the master and the worker share
      counts twice.
    - `pss_mib`: the processes' PSS added up. Each page is split among the processes that map
      it, including processes outside the server (another Python's libpython), so this can be
      a little below `resident_mib`."""

    processes: list[Memory]
    resident_mib: float | None

    @property
    def rss_sum_mib(self) -> float:
        return round(sum(m.rss_mib for m in self.processes), 1)

    @property
    def pss_mib(self) -> float:
        return round(sum(m.pss_mib for m in self.processes), 1)

    def as_json(self) -> dict[str, object]:
        return {
            "resident_mib": self.resident_mib,
            "rss_sum_mib": self.rss_sum_mib,
            "pss_mib": self.pss_mib,
            "processes": [vars(m) for m in self.processes],
        }


def memory(pid: int, *, role: str) -> Memory:
    """One process's RSS, PSS and USS from /proc/PID/smaps."""
    totals = {"Rss": 0, "Pss": 0, "Private_Clean": 0, "Private_Dirty": 0}
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if _is_mapping_header(line):
            continue
        name, _, rest = line.partition(":")
        if name in totals:
            totals[name] += int(rest.split()[0])  # kB
    kib = 1024 / MIB
    return Memory(
        pid=pid,
        role=role,
        rss_mib=round(totals["Rss"] * kib, 1),
        pss_mib=round(totals["Pss"] * kib, 1),
        uss_mib=round((totals["Private_Clean"] + totals["Private_Dirty"]) * kib, 1),
    )


def _is_mapping_header(line: str) -> bool:
    """`start-end perms offset dev inode [path]`: the line that opens a mapping in smaps."""
    start, sep, end = line.split(" ", 1)[0].partition("-")
    return bool(sep and start and end) and all(c in "0123456789abcdef" for c in start + end)


def _mapped_name(header: str) -> str:
    fields = header.split(maxsplit=5)
    return Path(fields[5].strip()).name if len(fields) == 6 else ""


PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")
PAGE_PRESENT: Final = 1 << 63
PFN_MASK: Final = (1 << 55) - 1


def page_frames(pid: int) -> set[int] | None:
    """The physical page frames the process maps (present in RAM, not swapped). None when the
    kernel hides frame numbers (it reports them as 0 without CAP_SYS_ADMIN)."""
    frames: set[int] = set()
    with Path(f"/proc/{pid}/maps").open() as maps, Path(f"/proc/{pid}/pagemap").open("rb", buffering=0) as pagemap:
        for line in maps:
            name = _mapped_name(line)
            if name == "[vsyscall]":
                continue
            start, end = (int(bound, 16) for bound in line.split(maxsplit=1)[0].split("-"))
            pagemap.seek(start // PAGE_SIZE * 8)
            entries = array("Q", pagemap.read((end - start) // PAGE_SIZE * 8))
            frames.update(entry & PFN_MASK for entry in entries if entry & PAGE_PRESENT)
    if 0 in frames:
        return None
    return frames


def server_memory(master: int) -> ServerMemory:
    """The gunicorn master and its worker, and the tree's resident set (see ServerMemory)."""
    pids = [master, *children(master)]
    processes = [memory(pid, role="master" if pid == master else "worker") for pid in pids]
    frames: set[int] = set()
    for pid in pids:
        own = page_frames(pid)
        if own is None:
            return ServerMemory(processes=processes, resident_mib=None)
        frames |= own
    return ServerMemory(processes=processes, resident_mib=round(len(frames) * PAGE_SIZE / MIB, 1))
