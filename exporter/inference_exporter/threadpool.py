"""A bounded pool of daemon threads for the HTTP server's answers."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class ThreadPool:
    """At most ``size`` threads, started as the load needs them (a small ThreadPoolExecutor;
    importing concurrent.futures cost the sidecar most of a megabyte)."""

    def __init__(self, size: int, name: str):
        self._size = size
        self._name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable, arg) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("shut down")
            if self._idle == 0 and len(self._threads) < self._size:
                name = f"{self._name}-{len(self._threads)}"
                thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put((fn, arg))

    def _run(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
            if item is None:
                return
            fn, arg = item
            fn(arg)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._queue.put(None)
