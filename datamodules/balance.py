"""Dealing items of different sizes into bins of about equal total size (pure)."""

from __future__ import annotations

from collections.abc import Sequence


def deal(sizes: Sequence[int], bins: int) -> list[list[int]]:
    """Item positions dealt into ``bins`` with about equal total size: the largest first, each
    to the bin with the least so far (ties to the lowest bin; equal sizes in position order).
    Each bin's positions come largest first. No bin ends more than the largest size above
    another."""
    loads, dealt = [0] * bins, [[] for _ in range(bins)]
    for position in sorted(range(len(sizes)), key=lambda p: -sizes[p]):
        target = min(range(bins), key=lambda b: (loads[b], b))
        dealt[target].append(position)
        loads[target] += sizes[position]
    return dealt
