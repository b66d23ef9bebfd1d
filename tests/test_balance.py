"""deal: items of different sizes into bins of about equal total size."""

from hypothesis import given
from hypothesis import strategies as st

from datamodules.balance import deal


def test_largest_first_to_the_least_loaded_bin():
    assert deal([5, 1, 4, 2, 3], 2) == [[0, 3, 1], [2, 4]]  # loads 5+2+1 = 8 and 4+3 = 7


@given(st.lists(st.integers(0, 1000), max_size=40), st.integers(1, 6))
def test_every_item_once_each_bin_largest_first_and_loads_within_the_largest_item(sizes, bins):
    dealt = deal(sizes, bins)
    assert len(dealt) == bins and sorted(p for share in dealt for p in share) == list(range(len(sizes)))
    for share in dealt:
        assert [sizes[p] for p in share] == sorted((sizes[p] for p in share), reverse=True)
    loads = [sum(sizes[p] for p in share) for share in dealt]
    assert max(loads) - min(loads) <= max(sizes, default=0)
