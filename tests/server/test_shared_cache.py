"""The pod's one ConfigMap cache (`sources.shared`): the SQLite store, the leader lock, and two
workers' views of one store, with recorded list and watch streams."""

from __future__ import annotations

import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.process import REPO
from tests.server.fake_api import List, RecordedAPI, RecordingObserver, Watch, recorded_events, recorded_list
from webhook.policy import ConfigMapContent
from webhook.sources.cluster import configmap_from_api
from webhook.sources.shared import Leadership, SharedStore, SharedWatchCache
from webhook.sources.watch import WatchCache, WatchExpired

ENV = ConfigMapContent(name="env-config", data={"log_level": "INFO"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SharedStore]:
    created = SharedStore.create(tmp_path / "configmaps.sqlite")
    yield created
    created.close()


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# --- the store


def test_the_store_counts_what_it_holds_and_replaces_whole(store: SharedStore) -> None:
    store.put(("a", "x"), b"1")
    store.put(("a", "x"), b"2")  # a MODIFIED: same key
    store.put(("b", "y"), b"3")
    assert (store.get(("a", "x")), len(store), ("b", "y") in store) == (b"2", 2, True)
    assert store.discard(("b", "y")) is True
    assert store.discard(("b", "y")) is False
    assert (len(store), store.status().generation, store.status().synced) == (1, 0, False)
    store.replace(iter([(("c", "z"), b"4"), (("d", "w"), b"5")]))
    assert store.snapshot() == {("c", "z"): b"4", ("d", "w"): b"5"}
    status = store.status()
    assert (status.objects, status.generation, status.synced, status.connected) == (2, 1, True, True)
    store.mark_connected(False)
    assert store.status().connected is False


def test_a_list_that_fails_part_way_leaves_the_store_as_it_was(store: SharedStore) -> None:
    store.replace(iter([(("a", "x"), b"1")]))

    def failing() -> Iterator[tuple[tuple[str, str], bytes]]:
        yield ("b", "y"), b"2"
        raise ConnectionResetError("peer reset")

    with pytest.raises(ConnectionResetError):
        store.replace(failing())
    assert store.snapshot() == {("a", "x"): b"1"}
    assert store.status().generation == 1


def test_other_threads_and_processes_read_what_was_committed(store: SharedStore) -> None:
    store.put(("shop", "env-config"), b"blob")
    seen: list[bytes | None] = []
    reader = threading.Thread(target=lambda: seen.append(store.get(("shop", "env-config"))))
    reader.start()
    reader.join()
    code = (
        "import sys; from pathlib import Path; from webhook.sources.shared import SharedStore\n"
        "print(SharedStore(Path(sys.argv[1])).get(('shop', 'env-config')))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(store.path)], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert seen == [b"blob"]
    assert other.stdout.strip() == "b'blob'"


def test_watch_events_keep_the_write_ahead_log_small(store: SharedStore) -> None:
    blob = bytes(range(256)) * 12  # 3 KiB, about a packed 4 KiB ConfigMap
    for i in range(2000):
        store.put(("ns", f"cm-{i % 500}"), blob)
    log_file = Path(f"{store.path}-wal")
    assert log_file.stat().st_size <= 5 * 2**20  # SQLite's default would let it reach 16 MiB
    assert len(store) == 500


def test_create_starts_from_an_empty_store(store: SharedStore) -> None:
    store.replace(iter([(("a", "x"), b"1")]))
    store.close()
    again = SharedStore.create(store.path)  # a restarted container, same emptyDir
    assert (len(again), again.status().synced, again.get(("a", "x"))) == (0, False, None)


# --- the lock


def test_one_holder_at_a_time_and_a_dead_holder_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "configmaps.leader"
    first, second = Leadership(path), Leadership(path)
    assert first.try_acquire() is True
    assert second.try_acquire() is False
    first.release()
    assert second.try_acquire() is True
    second.release()

    code = (
        "import sys, time; from pathlib import Path; from webhook.sources.shared import Leadership\n"
        "assert Leadership(Path(sys.argv[1])).try_acquire(); print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert first.try_acquire() is False
        holder.send_signal(signal.SIGKILL)  # no clean-up at all: the kernel drops the flock
        holder.wait(10)
        assert first.try_acquire() is True
    finally:
        holder.kill()
        holder.wait()
        first.release()


# --- a WatchCache writing the shared store


def run_writer(script: list[Any], store: SharedStore) -> WatchCache[ConfigMapContent]:
    api = RecordedAPI(script)
    cache: WatchCache[ConfigMapContent] = WatchCache(
        name="configmaps", source=api, convert=configmap_from_api, store=store
    )
    api.cache = cache
    runner = threading.Thread(target=cache.run)
    runner.start()
    runner.join(10)
    assert not runner.is_alive()
    return cache


def test_list_watch_and_relist_land_in_the_shared_store(store: SharedStore) -> None:
    relisted = recorded_list("configmaps-relist.json")
    cache = run_writer(
        [
            List(recorded_list("configmaps-list.json")),
            Watch(recorded_events("configmaps-watch.jsonl")),
            List(relisted),
        ],
        store,
    )
    assert cache.resource_version == relisted.resource_version
    names = {name for _ns, name in store.snapshot()}
    assert names == {item["metadata"]["name"] for item in relisted.items}
    assert store.status().generation == 2
    assert len(store) == len(names)


def test_a_failed_list_keeps_the_shared_store_and_says_disconnected(store: SharedStore) -> None:
    run_writer(
        [List(recorded_list("configmaps-list.json")), Watch(WatchExpired("expired")), List(OSError("down"))],
        store,
    )
    assert configmap_from_api.unpack(store.get(("shop", "env-config")) or b"") == ENV
    assert store.status().connected is False


# --- two workers on one store


class LiveSource:
    """Lists the recorded ConfigMaps, then keeps a watch open that a test feeds event by event."""

    def __init__(self) -> None:
        self.lists = 0
        self.events: queue.Queue[Mapping[str, Any] | None] = queue.Queue()

    def list(self) -> Iterator[Any]:
        self.lists += 1
        yield recorded_list("configmaps-list.json")

    def watch(self, *, resource_version: str) -> Iterator[Mapping[str, Any]]:
        while (event := self.events.get()) is not None:
            yield event

    def interrupt(self) -> None:
        self.events.put(None)


def worker(store_path: Path, lock: Path, source: LiveSource, observer: RecordingObserver) -> SharedWatchCache[Any]:
    return SharedWatchCache(
        name="configmaps",
        source=source,
        convert=configmap_from_api,
        store=SharedStore(store_path),
        leadership=Leadership(lock),
        observer=observer,
    )


def test_one_worker_lists_for_both_and_the_other_takes_over_when_it_goes(store: SharedStore, tmp_path: Path) -> None:
    lock = tmp_path / "configmaps.leader"
    sources, observers = (LiveSource(), LiveSource()), (RecordingObserver(), RecordingObserver())
    first = worker(store.path, lock, sources[0], observers[0])
    first.start()
    wait_for(lambda: first.leader and first.synced)
    second = worker(store.path, lock, sources[1], observers[1])
    second.start()
    try:
        wait_for(lambda: second.synced)
        assert (first.leader, second.leader, sources[1].lists) == (True, False, 0)
        assert first.get(("shop", "env-config")) == second.get(("shop", "env-config")) == ENV
        assert ("synced", "configmaps", "True") in observers[1].events  # the follower's gauge
        assert second.connected is True

        # A 404 remembered by the follower: the store is asked first, so the leader's ADDED
        # event ends it for every worker.
        second.remember_absent(("shop", "late"))
        assert second.known_absent(("shop", "late")) is True
        sources[0].events.put(
            {
                "type": "ADDED",
                "object": {"metadata": {"name": "late", "namespace": "shop", "resourceVersion": "2000"}, "data": {}},
            }
        )
        wait_for(lambda: second.get(("shop", "late")) is not None)

        first.stop(timeout=5)  # the leader's worker exits: the lock goes with it
        wait_for(lambda: second.leader and sources[1].lists == 1)
        wait_for(lambda: store.status().generation == 2)  # the new leader's list is in ...
        # ... and voids the marks. (Disconnected, as until that list is in, known_absent is
        # False whatever the marks say: waiting for that alone raced the list.)
        wait_for(lambda: second.connected and not second.known_absent(("shop", "late")))
        assert second.get(("shop", "env-config")) == ENV
    finally:
        first.stop(timeout=5)
        second.stop(timeout=5)


def test_readers_share_an_unchanged_value_and_see_a_change_at_once(store: SharedStore, tmp_path: Path) -> None:
    key = ("shop", "env-config")
    store.put(key, configmap_from_api.pack(ENV))
    reader = worker(store.path, tmp_path / "lock", LiveSource(), RecordingObserver())
    first = reader.get(key)
    assert first == ENV
    assert reader.get(key) is first  # unpacked once while the stored blob is the same
    changed = ConfigMapContent(name="env-config", data={"log_level": "DEBUG"})
    store.put(key, configmap_from_api.pack(changed))  # as the leader's watch writes a MODIFIED
    assert reader.get(key) == changed


def test_a_store_that_cannot_be_read_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "not-a-database").mkdir()
    cache = worker(tmp_path / "not-a-database", tmp_path / "lock", LiveSource(), RecordingObserver())
    assert cache.get(("shop", "env-config")) is None
    with pytest.raises(sqlite3.Error):
        SharedStore(tmp_path / "not-a-database").status()
