"""Append audit lines so that none is lost or interleaved, and none can fail a request.

Each line is encoded whole and handed to the kernel with `os.write` under a `threading.Lock`,
so the request threads of the server process never mix their lines. (One process per pod: with
`--workers N` on a pipe, lines longer than `PIPE_BUF` could interleave across workers; a file
opened with `O_APPEND` takes each `write` whole. See docs/operating.md.)

Writes are unbuffered, so there is nothing to flush at shutdown and a line written is a line
the kernel has. A failed write (disk full, closed pipe) is reported to `on_failure` (a
metric and a stderr line) and swallowed: the answer to the API server is already decided.

A full disk accepts the start of a line and then refuses the rest (a short write, then
ENOSPC). That fragment would glue itself to the next line written once space is back, so the
writer takes it back (truncates a regular file to where the line began; on a full disk nothing
else can have been appended since). Where that is impossible (a pipe), the next line starts
with a newline, so the fragment stays a broken line of its own and never spoils a good one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from webhook.policy.jsontext import compact_json

STDOUT: Final = "-"
FILE_MODE: Final = 0o640

log = logging.getLogger(__name__)


class AuditWriter:
    """Writes whole JSON lines to one file descriptor."""

    def __init__(
        self,
        *,
        fd: int,
        owns_fd: bool,
        on_failure: Callable[[OSError], None] | None = None,
    ) -> None:
        self._fd = fd
        self._owns_fd = owns_fd
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._dangling = False
        """A fragment of a line could not be taken back: start the next line on a new line."""

    def write(self, record: Mapping[str, Any]) -> bool:
        """Append one line; True when it was written. Never raises for an I/O failure."""
        line = compact_json(record, default=str) + b"\n"
        try:
            with self._lock:
                if self._dangling:
                    line = b"\n" + line
                try:
                    _write_all(self._fd, line)
                except ShortWrite as short:
                    self._dangling = not self._take_back(short.written)
                    raise
                self._dangling = False
        except OSError as error:
            self._failed(error)
            return False
        return True

    def _take_back(self, written: int) -> bool:
        """Remove the `written` bytes of a line cut short; False where a file cannot shrink."""
        try:
            if not stat.S_ISREG(os.fstat(self._fd).st_mode):
                return False
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
        except OSError:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._owns_fd:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._owns_fd = False

    def _failed(self, error: OSError) -> None:
        with contextlib.suppress(Exception):
            log.error("audit log write failed: %s", error.strerror or type(error).__name__)
        if self._on_failure is not None:
            with contextlib.suppress(Exception):
                self._on_failure(error)


def open_audit_writer(
    path: str,
    *,
    on_failure: Callable[[OSError], None] | None = None,
) -> AuditWriter:
    """A writer to `path` ("-" is standard output), opened in append mode."""
    if path == STDOUT:
        return AuditWriter(fd=sys.stdout.fileno(), owns_fd=False, on_failure=on_failure)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    return AuditWriter(fd=fd, owns_fd=True, on_failure=on_failure)


class ShortWrite(OSError):
    """A write failed after part of the line had landed."""

    def __init__(self, error: OSError, written: int) -> None:
        super().__init__(error.errno, error.strerror)
        self.written = written


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a pipe, a signal); finish the line, never drop it.
    A failure after some bytes landed raises `ShortWrite`, saying how many."""
    view = memoryview(data)
    done = 0
    while done < len(data):
        try:
            done += os.write(fd, view[done:])
        except OSError as error:
            if done == 0:
                raise
            raise ShortWrite(error, done) from error
