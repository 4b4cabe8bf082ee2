"""A list+watch cache: what client-go's reflector does, for one resource, in one thread.

Requests must never wait on the API server, so the server process keeps the objects it needs
in memory and keeps them current:

1. **list** everything, page by page, and remember the list's resourceVersion;
2. **watch** from that resourceVersion with bookmarks, applying ADDED / MODIFIED / DELETED and
   moving the resourceVersion forward on every event and BOOKMARK;
3. when the watch ends (the server closes it every few minutes), watch again from the last
   resourceVersion; when it says **410 Gone** (the version is too old, as after a long
   disconnection), list again; on any other failure, wait with exponential backoff and jitter,
   then watch again from where it was (a stale version then gets its 410 and a relist).

Only a converted value (`convert`) is stored per object, never the whole object, and each page
of a list is converted before the next one is read: the raw objects of a whole list (with their
`managedFields`, several times the size of what is kept) are never alive at once. A converter
that is also a `Packer` says how to keep its values smaller: the cache then stores
`convert.pack(value)` (e.g. one immutable `bytes`, which the garbage collector never scans)
and `get` returns `convert.unpack(stored)`.

What the cache holds lives in a `Store`, replaced whole on a relist and updated key by key
from the watch, by one thread. The default `DictStore` is a dict in this process: readers do
plain dict lookups, which are atomic under the GIL, so a read never blocks.

The cache speaks to the API server through `ListWatch` only, which is what the tests fake with
recorded streams.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar, cast, runtime_checkable

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped objects."""
V = TypeVar("V")
V_contra = TypeVar("V_contra", contravariant=True)
V_co = TypeVar("V_co", covariant=True)
S = TypeVar("S")

HTTP_GONE: Final = 410
MAX_KNOWN_ABSENT: Final = 10_000
"""Keys remembered as absent (`remember_absent`) per cache; the oldest goes first."""


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a list: its objects, and the resourceVersion the list is at."""

    items: list[Mapping[str, Any]]
    resource_version: str


class WatchExpired(Exception):
    """HTTP 410 Gone: the resourceVersion is too old to watch from; list again."""


class ListWatch(Protocol):
    """The two calls the cache makes, with raw JSON objects in and out."""

    def list(self) -> Iterator[Listing]:
        """Every object, one page at a time; the last page's resourceVersion is the list's.

        The cache converts each page before asking for the next, so an implementation should
        hold no reference to a page it has yielded. Raises `WatchExpired` when a continue
        token expires (the cache then lists again from the start)."""
        ...

    def watch(self, *, resource_version: str) -> Iterator[Mapping[str, Any]]:
        """Watch events (`{"type": ..., "object": {...}}`) from `resource_version`, with
        bookmarks, until the server ends the stream. Raises `WatchExpired` on HTTP 410."""
        ...

    def interrupt(self) -> None:
        """End a watch in progress now (called from another thread, at shutdown)."""
        ...


class CacheObserver(Protocol):
    """What the cache reports (the server turns it into metrics)."""

    def synced(self, *, cache: str, synced: bool) -> None: ...

    def size(self, *, cache: str, objects: int) -> None: ...

    def relisted(self, *, cache: str) -> None: ...

    def watch_failed(self, *, cache: str) -> None: ...


class NoObserver:
    def synced(self, *, cache: str, synced: bool) -> None:
        pass

    def size(self, *, cache: str, objects: int) -> None:
        pass

    def relisted(self, *, cache: str) -> None:
        pass

    def watch_failed(self, *, cache: str) -> None:
        pass


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter, reset after a success."""

    initial: float = 0.5
    maximum: float = 30.0
    _attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self._attempt))
        self._attempt = min(self._attempt + 1, 16)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


@runtime_checkable
class Packer(Protocol[V, S]):
    """A `convert` function that also says how its values are kept in the cache."""

    def __call__(self, obj: Mapping[str, Any], /) -> V: ...

    def pack(self, value: V, /) -> S:
        """The stored form of `value`, from which `unpack` gives back an equal value."""
        ...

    def unpack(self, stored: S, /) -> V:
        """A value equal to the one packed (a new one on each call)."""
        ...


class Store(Protocol):
    """Where a `WatchCache` keeps its values as stored (packed when `convert` is a `Packer`).

    Written by the cache's one thread; read by any thread.
    """

    def get(self, key: Key, /) -> Any | None: ...

    def __contains__(self, key: object, /) -> bool: ...

    def __len__(self) -> int: ...

    def replace(self, items: Iterable[tuple[Key, Any]], /) -> None:
        """Hold exactly `items` from now on; readers see the old content until it is all in.
        If `items` raises part way, the old content stays."""
        ...

    def put(self, key: Key, stored: Any, /) -> None: ...

    def discard(self, key: Key, /) -> bool:
        """Remove `key`; whether it was there."""
        ...

    def snapshot(self) -> Mapping[Key, Any]:
        """The whole content as it is now, to be read before the cache's thread writes again
        (a relist compares the content before and after for its listener)."""
        ...

    def mark_connected(self, connected: bool, /) -> None:
        """Told when the cache's list/watch connection comes and goes."""
        ...


class DictStore:
    """A `Store` in this process's memory."""

    def __init__(self) -> None:
        self._items: dict[Key, Any] = {}

    def get(self, key: Key, /) -> Any | None:
        return self._items.get(key)

    def __contains__(self, key: object, /) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def replace(self, items: Iterable[tuple[Key, Any]], /) -> None:
        self._items = dict(items)  # built aside, then swapped in: readers never see a half

    def put(self, key: Key, stored: Any, /) -> None:
        self._items[key] = stored

    def discard(self, key: Key, /) -> bool:
        return self._items.pop(key, None) is not None

    def snapshot(self) -> Mapping[Key, Any]:
        return self._items  # no copy: `replace` swaps in a new dict, it never edits this one

    def mark_connected(self, connected: bool, /) -> None:
        pass


class Listener(Protocol[V_contra]):
    """Told of every change to a cache's store, from the cache's thread (keep it quick)."""

    def __call__(self, event: str, key: Key, value: V_contra | None, /) -> None: ...


class AbsentMarks:
    """Keys a direct read found missing (see `WatchCache.remember_absent`): at most
    `MAX_KNOWN_ABSENT`, the oldest dropped first. Any thread may read, mark and unmark."""

    def __init__(self) -> None:
        self._keys: dict[Key, None] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: Key) -> bool:
        return key in self._keys

    def add(self, key: Key) -> None:
        with self._lock:
            if len(self._keys) >= MAX_KNOWN_ABSENT:
                del self._keys[next(iter(self._keys))]
            self._keys[key] = None

    def discard(self, key: Key) -> None:
        if key in self._keys:
            with self._lock:
                self._keys.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._keys = {}


class CacheReader(Protocol[V_co]):
    """What a reader needs of a cache (`WatchCache`; tests give fakes)."""

    @property
    def synced(self) -> bool: ...

    def get(self, key: Key, /) -> V_co | None: ...

    def known_absent(self, key: Key, /) -> bool: ...

    def remember_absent(self, key: Key, /) -> None: ...


class WatchCache(Generic[V]):
    """Objects of one resource, by (namespace, name), kept current by list+watch."""

    def __init__(
        self,
        *,
        name: str,
        source: ListWatch,
        convert: Callable[[Mapping[str, Any]], V],
        observer: CacheObserver | None = None,
        backoff: Backoff | None = None,
        listener: Listener[V] | None = None,
        store: Store | None = None,
    ) -> None:
        self.name = name
        self._listener = listener
        self._source = source
        self._convert = convert
        self._packer: Packer[V, Any] | None = convert if isinstance(convert, Packer) else None
        self._observer = observer or NoObserver()
        self._backoff = backoff or Backoff()
        self._store: Store = DictStore() if store is None else store
        """Values as stored: packed when `convert` is a `Packer`."""
        self._absent = AbsentMarks()
        """Keys a direct read found missing, until the watch adds them (`remember_absent`)."""
        self._synced = threading.Event()
        self._connected = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.resource_version: str | None = None

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def connected(self) -> bool:
        """The last list or watch call succeeded; False from a failure until the next success.

        While False the cache still answers, from what it last saw (see docs/reliability.md)."""
        return self._connected

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def get(self, key: Key) -> V | None:
        stored = self._store.get(key)
        if stored is None:
            return None
        return self._unpack(stored)

    def __len__(self) -> int:
        return len(self._store)

    def remember_absent(self, key: Key) -> None:
        """A reader's direct read (a GET, which the API server answers from etcd, not from a
        cache) found `key` missing: remember that until the watch adds it or the cache lists
        again, so a reference to a ConfigMap that does not exist costs one GET, not one per
        review. Such an answer is then exactly as current as the cache's answers for objects
        it holds: an object created after the GET reaches the cache by the same watch event
        that ends the mark. A mark set after that event already landed (a GET that raced the
        create) is harmless: a key in the store is answered from the store, marks are only
        read for keys the store lacks. At most `MAX_KNOWN_ABSENT` marks, oldest dropped first.
        """
        if key not in self._store:
            self._absent.add(key)

    def known_absent(self, key: Key) -> bool:
        """`key` was found missing and the watch has not added it since. Never while the cache
        is disconnected: its watch could be missing the event, so a reader asks again."""
        return self._connected and key in self._absent

    def start(self) -> None:
        """Run in a daemon thread. Call only after fork (in a gunicorn worker), never before."""
        self._thread = threading.Thread(target=self.run, name=f"watch-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 0.0) -> None:
        """Stop the loop; with `timeout`, also end a watch in progress and wait for the thread.

        A worker must not exit with this thread still inside a socket read: the interpreter's
        shutdown could then abort the process.
        """
        self._stop.set()
        if timeout <= 0:
            return
        self._source.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """List, then watch, until `stop`; never raises."""
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                self._watch()
            except WatchExpired:
                log.info("%s watch: resourceVersion %s expired; listing again", self.name, self.resource_version)
                self.resource_version = None
            except Exception as error:
                if self._stop.is_set():
                    return  # the stream was interrupted on purpose
                self._set_connected(False)
                self._observer.watch_failed(cache=self.name)
                delay = self._backoff.next_delay()
                log.warning("%s list/watch failed (%s); retrying in %.1fs", self.name, _describe(error), delay)
                self._stop.wait(delay)

    def _relist(self) -> None:
        previous = self._store.snapshot() if self._listener is not None else None
        version = ""

        def listed() -> Iterator[tuple[Key, Any]]:
            nonlocal version
            for page in self._source.list():
                yield from self._page_items(page.items)
                version = page.resource_version
                del page  # no raw object outlives its page

        self._store.replace(listed())
        self._absent.clear()  # the list is the truth now; marks start over
        self.resource_version = version
        self._set_connected(True)
        if previous is not None:
            self._announce_relist(previous, self._store.snapshot())
        del previous
        self._backoff.reset()
        self._observer.relisted(cache=self.name)
        objects = len(self._store)
        self._observer.size(cache=self.name, objects=objects)
        if not self._synced.is_set():
            self._synced.set()
            self._observer.synced(cache=self.name, synced=True)
            log.info("%s cache synced: %d objects", self.name, objects)

    def _page_items(self, objects: list[Mapping[str, Any]]) -> Iterator[tuple[Key, Any]]:
        for obj in objects:
            key = object_key(obj)
            value = self._converted(obj, key)
            if key is not None and value is not None:
                yield key, self._pack(value)

    def _set_connected(self, connected: bool) -> None:
        if connected != self._connected:
            self._connected = connected
            self._store.mark_connected(connected)

    def _watch(self) -> None:
        assert self.resource_version is not None
        events = 0
        for event in self._source.watch(resource_version=self.resource_version):
            if self._stop.is_set():
                return
            self._set_connected(True)
            self._apply(event)
            events += 1
            self._backoff.reset()
        if events == 0:
            # A stream that ends at once, again and again, must not become a busy loop.
            self._stop.wait(self._backoff.next_delay())

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, Mapping):
            return
        if kind == "ERROR":
            code = obj.get("code")
            if code == HTTP_GONE:
                raise WatchExpired(str(obj.get("message", "")))
            raise WatchStreamError(f"watch error event: code {code}, reason {obj.get('reason')}")
        version = _resource_version(obj)
        key = object_key(obj)
        if kind in ("ADDED", "MODIFIED") and key is not None:
            value = self._converted(obj, key)
            if value is None:
                self._forget(key)
            else:
                self._store.put(key, self._pack(value))
                self._absent.discard(key)
                self._announce(str(kind), key, value)
            self._observer.size(cache=self.name, objects=len(self._store))
        elif kind == "DELETED" and key is not None:
            self._forget(key)
            self._observer.size(cache=self.name, objects=len(self._store))
        if version:
            self.resource_version = version

    def _pack(self, value: V) -> Any:
        return value if self._packer is None else self._packer.pack(value)

    def _unpack(self, stored: Any) -> V:
        return cast("V", stored) if self._packer is None else self._packer.unpack(stored)

    def _forget(self, key: Key) -> None:
        if self._store.discard(key):
            self._announce("DELETED", key, None)

    def _announce(self, event: str, key: Key, value: V | None) -> None:
        if self._listener is None:
            return
        try:
            self._listener(event, key, value)
        except Exception:
            log.exception("%s listener failed on %s %s", self.name, event, key)

    def _announce_relist(self, previous: Mapping[Key, Any], current: Mapping[Key, Any]) -> None:
        """A relist replaces the store whole: tell the listener what changed, as a watch would."""
        for key, stored in current.items():
            old = previous.get(key)
            if old is None:
                self._announce("ADDED", key, self._unpack(stored))
            elif old != stored:
                value = self._unpack(stored)
                if self._packer is None or self._unpack(old) != value:
                    self._announce("MODIFIED", key, value)
        for key in previous.keys() - current.keys():
            self._announce("DELETED", key, None)

    def _converted(self, obj: Mapping[str, Any], key: Key | None) -> V | None:
        """The stored value; an object that cannot be converted is left out, never fatal
        (raising here would replay the same event forever)."""
        try:
            return self._convert(obj)
        except Exception as error:
            log.warning("%s %s skipped: %s", self.name, key, type(error).__name__)
            return None


class WatchStreamError(Exception):
    """The watch stream reported an error other than 410 Gone."""


def object_key(obj: Mapping[str, Any]) -> Key | None:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    name = metadata.get("name")
    if not isinstance(name, str):
        return None
    namespace = metadata.get("namespace")
    return (namespace if isinstance(namespace, str) else "", name)


def _resource_version(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    version = metadata.get("resourceVersion") if isinstance(metadata, Mapping) else None
    return version if isinstance(version, str) and version else None


def _describe(error: Exception) -> str:
    # Type and the first line only: API errors can be long, never quote object contents.
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
