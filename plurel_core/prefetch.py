"""Values computed ahead of use, in a fixed order, on one background thread.

An SCM's build (its graph, MLPs and streams) needs no values, so the next tables' SCMs are built
while the main thread propagates earlier ones: the compiled kernels release the GIL, and two
cores work at once. At most ``ahead`` values wait in memory; the values do not depend on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Prefetcher(Generic[K, V]):
    """``take(key)`` returns ``fn(key)``; with ``background`` the next keys are computed ahead."""

    def __init__(self, keys: Sequence[K], fn: Callable[[K], V], ahead: int, background: bool = True) -> None:
        self._background = background
        self._fn = fn
        if not background:
            return
        self._keys = list(keys)
        self._position = {k: i for i, k in enumerate(self._keys)}
        self._ahead = max(1, ahead)
        self._futures: dict[K, Future] = {}
        self._submitted = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plurel-prefetch")
        with self._lock:
            self._submit_until(self._ahead)

    def _submit_until(self, end: int) -> None:
        while self._submitted < min(end, len(self._keys)):
            key = self._keys[self._submitted]
            self._futures[key] = self._pool.submit(self._fn, key)
            self._submitted += 1

    def take(self, key: K) -> V:
        """The value of ``key`` (each key once); keeps ``ahead`` later keys in the making.

        A consumer that outpaces the producer shares the work instead of waiting: it computes its
        key if the background thread has not started it, and while that thread works on its key,
        it computes the next keys not started yet.
        """
        if not self._background:
            return self._fn(key)
        with self._lock:
            self._submit_until(self._position[key] + 1 + self._ahead)
            future = self._futures.pop(key)
        if future.cancel():  # not started yet: compute it here rather than wait behind others
            return self._fn(key)
        while not future.done() and self._steal_next():
            pass
        return future.result()

    def _steal_next(self) -> bool:
        """Compute the next key the background thread has not started, here; False if none."""
        with self._lock:
            pending = next(((k, f) for k, f in self._futures.items() if not f.running() and not f.done()), None)
            if pending is None or not pending[1].cancel():
                return False
            key = pending[0]
        done: Future = Future()
        try:
            done.set_result(self._fn(key))
        except BaseException as exc:  # raised again where the key is taken
            done.set_exception(exc)
        with self._lock:
            self._futures[key] = done
        return True

    def close(self) -> None:
        if not self._background:
            return
        with self._lock:
            for future in self._futures.values():
                future.cancel()
            self._futures.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Prefetcher[K, V]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
