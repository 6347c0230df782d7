"""StageQueue: back-pressure for files, drop-oldest accounting for live sources, close semantics."""
from __future__ import annotations

import threading

import pytest

from dsl_deploy.runtime.queues import CLOSED, StageQueue


def test_drop_oldest_keeps_the_newest_and_counts_drops():
    q = StageQueue(3, drop_oldest=True)
    for i in range(10):
        assert q.put(i)
    assert q.dropped == 7
    assert [q.get(timeout=0) for _ in range(3)] == [7, 8, 9]
    q.close()
    assert q.get(timeout=0) is CLOSED


def test_blocking_queue_never_drops_and_waits_for_room():
    q = StageQueue(2)
    q.put("a")
    q.put("b")
    done = threading.Event()

    def producer():
        q.put("c")  # blocks until the consumer takes one
        done.set()

    t = threading.Thread(target=producer)
    t.start()
    assert not done.wait(0.2)
    assert q.get(timeout=1) == "a"
    assert done.wait(2)
    t.join()
    assert [q.get(timeout=0), q.get(timeout=0)] == ["b", "c"]
    assert q.dropped == 0


def test_close_drains_then_signals_and_wakes_a_blocked_producer():
    q = StageQueue(1)
    q.put(1)
    result = []
    t = threading.Thread(target=lambda: result.append(q.put(2)))
    t.start()
    q.close()
    t.join(2)
    assert result == [False]  # the blocked put gave up instead of hanging
    assert q.get(timeout=0) == 1
    assert q.get(timeout=0) is CLOSED
    assert not q.put(3)


def test_get_times_out_and_size_is_checked():
    q = StageQueue(1)
    with pytest.raises(TimeoutError):
        q.get(timeout=0.01)
    with pytest.raises(ValueError):
        StageQueue(0)


def test_accounting_with_a_slow_consumer_thread():
    q = StageQueue(2, drop_oldest=True)
    got = []
    stop = threading.Event()

    def consumer():
        while True:
            item = q.get()
            if item is CLOSED:
                return
            got.append(item)
            stop.wait(0.001)

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(2000):
        q.put(i)
    q.close()
    t.join(5)
    assert len(got) + q.dropped == 2000
    assert got == sorted(got) and len(set(got)) == len(got)  # order kept, nothing duplicated
    assert got[-1] == 1999  # the newest frame always survives
