"""The simulator's bounded LRU: least recently used goes first, weight never exceeds the bound."""

from __future__ import annotations

from workbench.simulator.cache import BoundedCache


def test_evicts_least_recently_used_by_weight():
    built: list[str] = []
    cache: BoundedCache[str] = BoundedCache(10, len)

    def make(value: str):
        return lambda: built.append(value) or value

    cache.get("a", make("aaaa"))
    cache.get("b", make("bbbb"))
    assert cache.get("a", make("never")) == "aaaa"  # a hit builds nothing and refreshes "a"
    cache.get("c", make("cccc"))  # 12 > 10: "b" is the least recently used, so it goes
    assert built == ["aaaa", "bbbb", "cccc"]
    assert cache.get("a", make("again")) == "aaaa"
    assert cache.get("b", make("bbbb")) == "bbbb" and built[-1] == "bbbb"


def test_default_weight_bounds_the_number_of_entries():
    cache: BoundedCache[int] = BoundedCache(3)
    for key in range(5):
        cache.get(key, lambda key=key: key * 10)
    rebuilt = []
    for key in (4, 3, 2, 0):
        cache.get(key, lambda key=key: rebuilt.append(key) or key * 10)
    assert rebuilt == [0]  # 2, 3 and 4 were kept; the two oldest, 0 and 1, were evicted


def test_one_value_heavier_than_the_bound_is_still_returned():
    cache: BoundedCache[str] = BoundedCache(2, len)
    assert cache.get("big", lambda: "x" * 100) == "x" * 100
