"""bench.procs: the server's memory, read from /proc, on real processes.

The three figures must differ exactly where they should: pages a parent and its child share
after fork count once in the resident set and twice in the RSS sum. Each test measures a
process tree of its own (started here, in a new session), never the test runner, whose other
children come and go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import procs

MIB = 1024 * 1024

FORKING_CHILD = """
import os, sys, time
def touch(buffer, fill):
    for offset in range(0, len(buffer), 4096):
        buffer[offset] = fill
shared = bytearray(32 << 20)
touch(shared, 1)                  # 32 MiB written before fork: shared with the child
if os.fork() == 0:
    own = bytearray(8 << 20)
    touch(own, 2)                 # 8 MiB of the child's own
    print("ready", flush=True)
time.sleep(60)
"""


def _tree(code: str, *args: str) -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def forked_tree() -> Iterator[int]:
    yield from _tree(FORKING_CHILD)


def test_pages_shared_after_fork_count_once_in_the_resident_set(forked_tree: int) -> None:
    memory = procs.server_memory(forked_tree)
    assert [m.role for m in memory.processes] == ["master", "worker"]
    parent, child = memory.processes
    if memory.resident_mib is None:
        pytest.skip("this process may not read page frame numbers (needs CAP_SYS_ADMIN)")
    # The child maps the parent's 32 MiB: each RSS holds them, the resident set once.
    assert child.rss_mib >= 32 + 8
    assert memory.rss_sum_mib - memory.resident_mib >= 32
    # Resident = what the parent maps + what only the child maps (its 8 MiB and a little more).
    assert parent.rss_mib + 8 <= memory.resident_mib <= parent.rss_mib + child.uss_mib + 0.5
    assert memory.pss_mib <= memory.resident_mib + 0.5


NAPPING_THREAD = """
import threading, time
def nap():
    for _ in range(200):
        time.sleep(0.001)     # each sleep gives the CPU up: one voluntary context switch
    print("ready", flush=True)
    threading.Event().wait()  # stays alive, holding its count
threading.Thread(target=nap).start()
threading.Event().wait()
"""


def test_context_switches_are_counted_in_every_thread_not_only_the_main_one() -> None:
    for pid in _tree(NAPPING_THREAD):
        main_thread = _switches(Path(f"/proc/{pid}/status"))
        assert main_thread < 100  # the main thread only waits
        assert procs.tree_context_switches(pid) >= 200 + main_thread


def _switches(status: Path) -> int:
    return sum(int(line.split()[1]) for line in status.read_text().splitlines() if "ctxt_switches" in line)


def test_mapping_headers_are_told_from_fields() -> None:
    assert procs._is_mapping_header("7f2c1a000000-7f2c1a021000 rw-p 00000000 00:00 0 \n")
    assert procs._is_mapping_header("55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 42 /usr/bin/python3.11")
    assert not procs._is_mapping_header("Rss:                 132 kB")
    assert not procs._is_mapping_header("VmFlags: rd wr mr mw me ac sd")
    header = "55d0-55d1 r--p 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/libssl.so.3"
    assert procs._mapped_name(header) == "libssl.so.3"
    assert procs._mapped_name("7f2c-7f2d rw-p 00000000 00:00 0") == ""
