"""Hands the heap a burst of questions freed back to the operating system once the server has been idle a moment.

glibc's malloc keeps what up to API_THREADS worker threads freed in per-thread arenas; after a flood of questions
the process keeps that memory although nothing uses it. malloc_trim(0) returns the free pages. It runs in a thread
(ctypes lets go of the GIL during the call), only when no question has been in flight for TRIM_AFTER_IDLE_S, and
does nothing where the C library is not glibc."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import threading

# Seconds with no question in flight before the freed heap is handed back: long enough that a steady trickle of
# questions never pays for a trim, short enough that the memory is back well within a minute of a burst.
TRIM_AFTER_IDLE_S = 5.0


def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): nothing to hand back this way
        return None


class HeapTrimmer:
    """`settled()` is called whenever the last question in flight is answered; a trim follows TRIM_AFTER_IDLE_S
    later unless `busy()` was called meanwhile."""

    def __init__(self, idle_s: float = TRIM_AFTER_IDLE_S):
        self.idle_s = idle_s
        self._trim = _malloc_trim()
        self._pending: asyncio.TimerHandle | None = None
        self._running = threading.Lock()

    def busy(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def settled(self) -> None:
        if self._trim is None:
            return
        self.busy()
        self._pending = asyncio.get_running_loop().call_later(self.idle_s, self._start)

    def _start(self) -> None:
        self._pending = None
        if self._running.locked():
            return
        threading.Thread(target=self._run, name="heap-trim", daemon=True).start()

    def _run(self) -> None:
        with self._running:
            self._trim(0)
