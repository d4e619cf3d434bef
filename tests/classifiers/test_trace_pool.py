"""The trace pool gives way to memory, under mammoclf's one memory policy."""

from types import SimpleNamespace

import pytest

from mammoclf.classifiers import _trace_pool
from mammoclf.classifiers._trace_pool import POOL_SIZE, TracePool
from mammoclf.storage import DEFAULT_MEMORY_FRACTION, physical_memory_bytes

FLOOR = 1_000


@pytest.fixture
def memory(monkeypatch):
    """A fake memory reading: ``memory["available"](pool)`` bytes, floor 1,000."""
    reading = {"available": lambda pool: 10 * FLOOR, "reads": 0}

    def available():
        reading["reads"] += 1
        return reading["available"](reading["pool"])

    monkeypatch.setattr(_trace_pool, "available_memory_bytes", available)
    monkeypatch.setattr(_trace_pool, "memory_floor_bytes", lambda: FLOOR)
    # The networks here are strings: nothing for a (slow) collection to free.
    monkeypatch.setattr(_trace_pool, "gc", SimpleNamespace(collect=lambda: 0))
    return reading


def _fill(pool, keys):
    for key in keys:
        with pool.checkout(key, lambda key=key: f"network {key}"):
            pass


def test_keeps_pool_size_networks_while_memory_is_plentiful(memory):
    pool = memory["pool"] = TracePool()
    _fill(pool, "abcde")
    assert len(pool) == POOL_SIZE == 4
    assert [key for key, _ in pool._idle] == list("bcde")  # "a" was oldest


def test_drops_oldest_networks_until_memory_is_above_the_floor(memory):
    pool = memory["pool"] = TracePool()
    _fill(pool, "ab")
    # From now on each idle network beyond one costs more than the headroom:
    # returning a third drops the two oldest, then memory is back above it.
    memory["available"] = lambda pool: FLOOR if len(pool._idle) <= 1 else FLOOR - 1
    _fill(pool, "c")
    assert [key for key, _ in pool._idle] == ["c"]


def test_keeps_nothing_while_memory_stays_tight(memory):
    pool = memory["pool"] = TracePool()
    _fill(pool, "ab")
    memory["available"] = lambda pool: FLOOR - 1
    built = []
    with pool.checkout("c", lambda: built.append("c") or "network c") as network:
        # Before building, the idle networks made room; the lent one is used.
        assert len(pool) == 0 and network == "network c"
    assert len(pool) == 0  # and it is not kept either
    assert built == ["c"]


def test_a_pooled_network_is_lent_without_reading_memory(memory):
    pool = memory["pool"] = TracePool()
    _fill(pool, "a")
    reads = memory["reads"]
    with pool.checkout("a", lambda: pytest.fail("built again")):
        assert memory["reads"] == reads  # no build: nothing to make room for


def test_floor_is_the_memory_policy_fraction():
    expected = int(DEFAULT_MEMORY_FRACTION * physical_memory_bytes())
    assert _trace_pool.memory_floor_bytes() == expected
    assert 0 < _trace_pool.available_memory_bytes() <= physical_memory_bytes()
