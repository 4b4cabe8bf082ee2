"""One ConfigMap cache per pod, shared by its gunicorn workers through one SQLite file.

A cache per worker keeps one copy of every ConfigMap per worker, and one list+watch per
worker against the API server. Here the pod keeps one copy and one watch:

- `SharedStore` is a `watch.Store` in a SQLite file in the pod's runtime directory (the one
  holding the metrics files, wiped when the server starts). SQLite's write-ahead log lets one
  writer and any number of readers, in any process, work at once: a read sees the last
  committed state and never waits. Readers go through a memory map of the file, so a lookup
  is a few microseconds and the file's pages are shared by the workers that read them (the
  kernel counts them once for the pod). The file is a cache, never a record: no fsync.
- `Leadership` picks the writer: the worker holding an exclusive `flock` on a lock file. The
  kernel drops the lock when its holder exits, however it exits (SIGKILL and OOM included).
- `SharedWatchCache` is what each worker reads. In the leader it also runs the `WatchCache`
  that lists and watches into the store; in the others it follows the store's status
  (synced, connected, size) and tries for the lock every `FOLLOW_INTERVAL`. When a leader
  goes away, the next one lists again into the store; until its list is in, readers keep the
  last content, as a disconnected cache does.

A remembered 404 (`remember_absent`) stays per worker: it is only read for a key the store
lacks, so an ADDED event that lands in the store ends it in every worker at once, and a new
list (a new `generation` of the store) clears them all.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic

from webhook.sources.watch import (
    AbsentMarks,
    CacheObserver,
    Key,
    ListWatch,
    NoObserver,
    Packer,
    V,
    WatchCache,
    recent_unpacker,
)

log = logging.getLogger(__name__)

FOLLOW_INTERVAL: Final = 0.5
"""Seconds between a follower's looks at the store's status and at the lock."""
PAGE_SIZE: Final = 16384
"""SQLite page size: a packed 4 KiB ConfigMap (about 2.7 KiB) shares a page with others, where
4 KiB pages would give each its own page (28 against 45 MiB for 10,000)."""
MMAP_SIZE: Final = 1 << 30
"""Address space each connection may map (not memory: only pages read become resident)."""
BUSY_TIMEOUT: Final = 5.0
WAL_CHECKPOINT_PAGES: Final = 64
WAL_SIZE_LIMIT: Final = 4 << 20

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS items "
    "(namespace TEXT NOT NULL, name TEXT NOT NULL, stored BLOB NOT NULL, PRIMARY KEY (namespace, name)) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS status (field TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO status VALUES ('synced', 0), ('connected', 0), ('generation', 0), ('objects', 0)",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStatus:
    synced: bool
    """A leader has listed into the store at least once."""
    connected: bool
    """The current leader's list/watch is connected (as `WatchCache.connected`)."""
    generation: int
    """How many lists have been written; a new one makes every remembered 404 void."""
    objects: int


class SharedStore:
    """A `watch.Store` of packed blobs in one SQLite file, for every worker of the pod.

    Each thread opens its own connection (a SQLite connection must not cross threads, nor a
    fork): create the store in the master with `create`, use it in workers only.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @classmethod
    def create(cls, path: Path) -> SharedStore:
        """A new, empty store at `path` (any earlier one removed), its connection closed again:
        safe to call in the gunicorn master before fork."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                db.execute(statement)
        finally:
            db.close()
        return cls(path)

    # --- reads: any thread of any worker

    def get(self, key: Key, /) -> bytes | None:
        row = self._db().execute("SELECT stored FROM items WHERE namespace=? AND name=?", key).fetchone()
        return None if row is None else bytes(row[0])

    def __contains__(self, key: object, /) -> bool:
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        return self._db().execute("SELECT 1 FROM items WHERE namespace=? AND name=?", key).fetchone() is not None

    def __len__(self) -> int:
        return self.status().objects

    def status(self) -> StoreStatus:
        fields = dict(self._db().execute("SELECT field, value FROM status").fetchall())
        return StoreStatus(
            synced=bool(fields.get("synced")),
            connected=bool(fields.get("connected")),
            generation=int(fields.get("generation", 0)),
            objects=int(fields.get("objects", 0)),
        )

    def snapshot(self) -> Mapping[Key, Any]:
        return {(ns, name): bytes(stored) for ns, name, stored in self._db().execute("SELECT * FROM items")}

    # --- writes: the leader's watch thread only

    def replace(self, items: Iterable[tuple[Key, Any]], /) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM items")
            db.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", ((*key, blob) for key, blob in items))
            (objects,) = db.execute("SELECT count(*) FROM items").fetchone()
            db.execute("UPDATE status SET value=? WHERE field='objects'", (objects,))
            db.execute("UPDATE status SET value=value+1 WHERE field='generation'")
            db.execute("UPDATE status SET value=1 WHERE field IN ('synced', 'connected')")
        # A list goes through the write-ahead log whole: fold it into the file and cut the log
        # back, or the log would keep a second copy of the store on disk and in the page cache.
        self._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def put(self, key: Key, stored: Any, /) -> None:
        with self._transaction() as db:
            new = db.execute("SELECT 1 FROM items WHERE namespace=? AND name=?", key).fetchone() is None
            db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", (*key, stored))
            if new:
                db.execute("UPDATE status SET value=value+1 WHERE field='objects'")

    def discard(self, key: Key, /) -> bool:
        with self._transaction() as db:
            gone = db.execute("DELETE FROM items WHERE namespace=? AND name=?", key).rowcount > 0
            if gone:
                db.execute("UPDATE status SET value=value-1 WHERE field='objects'")
        return gone

    def mark_connected(self, connected: bool, /) -> None:
        with self._transaction() as db:
            db.execute("UPDATE status SET value=? WHERE field='connected'", (int(connected),))

    def close(self) -> None:
        """Close this thread's connection (others close when their thread's storage goes)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            self._local.db = None
            db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT)
            db.execute("PRAGMA synchronous=OFF")  # a cache: a crash loses nothing a list won't bring
            db.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
            db.execute("PRAGMA cache_size=-256")  # KiB; reads come from the memory map
            # Watch events are small writes: fold the log into the file every 64 pages (1 MiB)
            # and keep it at most 4 MiB on disk, rather than SQLite's 1,000 pages (16 MiB).
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._local.db = db
        return db


class Leadership:
    """The lock that makes one worker of the pod the store's writer."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if no live process holds it; never waits."""
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock


class SharedWatchCache(Generic[V]):
    """A worker's view of the pod's `SharedStore`: it reads the store, and writes it while it
    holds the `Leadership` (through a `WatchCache` over the same store)."""

    def __init__(
        self,
        *,
        name: str,
        source: ListWatch,
        convert: Packer[V, bytes],
        store: SharedStore,
        leadership: Leadership,
        observer: CacheObserver | None = None,
    ) -> None:
        self.name = name
        self._unpack = recent_unpacker(convert)
        self._store = store
        self._leadership = leadership
        self._observer = observer or NoObserver()
        self._writer: WatchCache[V] = WatchCache(
            name=name, source=source, convert=convert, observer=observer, store=store
        )
        self._status = StoreStatus(synced=False, connected=False, generation=0, objects=0)
        self._synced = threading.Event()
        self._absent = AbsentMarks()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leader(self) -> bool:
        return self._leadership.held

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def connected(self) -> bool:
        return self._writer.connected if self.leader else self._status.connected

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def get(self, key: Key) -> V | None:
        """The value, or None when the store lacks it or cannot be read (the reader then asks
        the API server, as for any miss)."""
        try:
            stored = self._store.get(key)
        except sqlite3.Error as error:
            log.warning("%s shared store unreadable (%s): reading %s/%s directly", self.name, error, *key)
            return None
        return None if stored is None else self._unpack(stored)

    def __len__(self) -> int:
        return len(self._store)

    def remember_absent(self, key: Key) -> None:
        """As `WatchCache.remember_absent`, in this worker's memory."""
        self._absent.add(key)

    def known_absent(self, key: Key) -> bool:
        """Only ever asked for a key the store lacks (see the module docstring)."""
        return self.connected and key in self._absent

    def start(self) -> None:
        """Run in a daemon thread. Call only after fork (in a gunicorn worker), never before."""
        self._thread = threading.Thread(target=self.run, name=f"shared-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 0.0) -> None:
        """Stop following and, in the leader, the list/watch (see `WatchCache.stop`); with a
        timeout, also hand the lock back so another worker takes over at once."""
        self._stop.set()
        self._writer.stop(timeout=timeout)
        if timeout <= 0:
            return
        if self._thread is not None:
            self._thread.join(timeout)
        self._leadership.release()
        self._store.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Follow the store, and lead once the lock is free; never raises."""
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception as error:  # a store that cannot be read: say so, try again
                log.warning("%s shared store: %s", self.name, type(error).__name__)
            self._stop.wait(FOLLOW_INTERVAL)

    def _follow(self) -> None:
        if not self.leader and self._leadership.try_acquire():
            log.info("%s cache: this worker (pid %d) now lists and watches for the pod", self.name, os.getpid())
            # The last leader may have died connected: disconnected until this one's list is in.
            self._store.mark_connected(False)
            self._writer.start()
        status = self._store.status()
        if status.generation != self._status.generation:
            self._absent.clear()  # a new list is the truth now
        self._status = status
        if status.synced and not self._synced.is_set():
            self._synced.set()
            if not self.leader:  # the leader's writer reports its own state
                self._observer.synced(cache=self.name, synced=True)
            log.info("%s cache synced (shared): %d objects", self.name, status.objects)
        if not self.leader:
            self._observer.size(cache=self.name, objects=status.objects)
