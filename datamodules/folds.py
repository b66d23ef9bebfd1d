"""Fold assignment by video (never by window): seeded and stratified by label."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Hashable, Sequence


def stratified_folds(labels: Sequence[Hashable], num_folds: int, seed: int) -> list[int]:
    """A fold number in ``[0, num_folds)`` for every video, balanced within each label.

    Videos of each label are shuffled with ``seed`` and dealt round-robin, continuing the
    deal across labels so fold sizes differ by at most one.
    """
    if num_folds < 2:
        raise ValueError(f"num_folds must be >= 2, got {num_folds}")
    by_label: dict[Hashable, list[int]] = defaultdict(list)
    for position, label in enumerate(labels):
        by_label[label].append(position)
    rng = random.Random(seed)
    folds = [0] * len(labels)
    dealt = 0
    for label in sorted(by_label, key=str):
        members = by_label[label]
        rng.shuffle(members)
        for position in members:
            folds[position] = dealt % num_folds
            dealt += 1
    return folds
