"""The background prefetcher: every key computed exactly once, in any interleaving, errors kept."""

from __future__ import annotations

import threading
import time

import pytest

from plurel_core.prefetch import Prefetcher


class Counting:
    def __init__(self, delay: float = 0.0, fail_on=None):
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.delay, self.fail_on = delay, fail_on
        self._lock = threading.Lock()

    def __call__(self, key: int) -> int:
        with self._lock:
            self.calls.append(key)
            self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if key == self.fail_on:
            raise RuntimeError(f"key {key} failed")
        return key * key


@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("ahead", [1, 3, 100])
def test_each_key_once_with_its_value(background, ahead):
    fn = Counting(delay=0.002)
    with Prefetcher(range(20), fn, ahead, background=background) as p:
        got = [p.take(k) for k in range(20)]
    assert got == [k * k for k in range(20)]
    assert sorted(fn.calls) == list(range(20))


def test_a_waiting_consumer_shares_the_work():
    # The producer is slow; the consumer takes immediately and so computes keys itself.
    fn = Counting(delay=0.01)
    with Prefetcher(range(12), fn, ahead=6) as p:
        got = [p.take(k) for k in range(12)]
    assert got == [k * k for k in range(12)]
    assert sorted(fn.calls) == list(range(12))
    assert threading.current_thread().name in fn.threads and len(fn.threads) == 2


def test_an_error_is_raised_where_its_key_is_taken():
    fn = Counting(fail_on=3)
    with Prefetcher(range(6), fn, ahead=6) as p:
        assert [p.take(k) for k in range(3)] == [0, 1, 4]
        with pytest.raises(RuntimeError, match="key 3 failed"):
            p.take(3)
        assert p.take(4) == 16


def test_close_with_keys_left_stops_cleanly():
    fn = Counting(delay=0.005)
    p = Prefetcher(range(50), fn, ahead=4)
    assert p.take(0) == 0
    p.close()
    assert len(fn.calls) <= 1 + 4 + 1  # nothing beyond the window was started
