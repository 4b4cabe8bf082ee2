"""bench.procs: the server's memory, read from /proc, on real processes (this one and a fork).

The three figures must differ exactly where they should: pages a parent and its child share
after fork count once in the resident set and twice in the RSS sum, and the shared files
count once, whole, whoever maps them."""

from __future__ import annotations

import mmap
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import procs

MIB = 1024 * 1024


def _touch(buffer: bytearray | mmap.mmap, *, fill: int) -> None:
    """Write every page, so each one is resident (and, for a bytearray, private to us)."""
    for offset in range(0, len(buffer), 4096):
        buffer[offset] = fill


@pytest.fixture
def forked_child() -> Iterator[int]:
    """A child that shares this process's 32 MiB (written before fork) and adds 8 MiB of its own."""
    shared = bytearray(32 * MIB)
    _touch(shared, fill=1)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own 8 MiB, then wait to be measured
        own = bytearray(8 * MIB)
        _touch(own, fill=2)
        os.write(write_end, b"x")
        time.sleep(60)
        os._exit(0)
    os.read(read_end, 1)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        os.close(write_end)
        del shared


def test_pages_shared_after_fork_count_once_in_the_resident_set(forked_child: int) -> None:
    memory = procs.server_memory(os.getpid())
    assert [m.role for m in memory.processes] == ["master", "worker"]
    parent, child = memory.processes
    if memory.resident_mib is None:
        pytest.skip("this process may not read page frame numbers (needs CAP_SYS_ADMIN)")
    # The child maps the parent's 32 MiB: each RSS holds them, the resident set once.
    assert child.rss_mib >= 32 + 8
    assert memory.rss_sum_mib - memory.resident_mib >= 32
    # Resident = what the parent maps + what only the child maps (its 8 MiB and a little more).
    assert parent.rss_mib + 8 <= memory.resident_mib <= parent.rss_mib + child.uss_mib + 1
    assert memory.pss_mib <= memory.resident_mib + 0.5


def test_a_shared_file_counts_once_whole_and_not_in_the_processes(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    store.write_bytes(b"\0" * (16 * MIB))
    with store.open("r+b") as file, mmap.mmap(file.fileno(), 0) as mapped:
        _touch(mapped, fill=3)  # 16 MiB of the file's pages now mapped here
        counted = procs.server_memory(os.getpid(), shared_file_prefix="store.sqlite")
        uncounted = procs.server_memory(os.getpid())
    assert counted.shared_files_mib == 16.0
    assert uncounted.shared_files_mib == 0.0
    # Left out of the process's own figures, and added once as the file's size (the slack:
    # this process allocates a little between the two readings, the frame set among it).
    assert uncounted.processes[0].rss_mib - counted.processes[0].rss_mib >= 14
    assert counted.rss_sum_mib == pytest.approx(uncounted.rss_sum_mib, abs=2)
    if counted.resident_mib is not None and uncounted.resident_mib is not None:
        assert counted.resident_mib == pytest.approx(uncounted.resident_mib, abs=2)


def test_mapping_headers_are_told_from_fields() -> None:
    assert procs._is_mapping_header("7f2c1a000000-7f2c1a021000 rw-p 00000000 00:00 0 \n")
    assert procs._is_mapping_header("55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 42 /usr/bin/python3.11")
    assert not procs._is_mapping_header("Rss:                 132 kB")
    assert not procs._is_mapping_header("VmFlags: rd wr mr mw me ac sd")
    header = "55d0-55d1 r--p 00000000 08:01 42 /tmp/x/configmaps.sqlite-shm"
    assert procs._mapped_name(header) == "configmaps.sqlite-shm"
    assert procs._mapped_name("7f2c-7f2d rw-p 00000000 00:00 0") == ""
