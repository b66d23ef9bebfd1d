"""Fold assignment by video (never by window): seeded, stratified by label where there is one,
and keeping groups of records (two face tracks of one video) in one fold."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Hashable, Optional, Sequence


def stratified_folds(labels: Sequence[Hashable], num_folds: int, seed: int) -> list[int]:
    """A fold number in ``[0, num_folds)`` for every item, balanced within each label: each
    label's items are shuffled with ``seed`` and dealt round-robin, the deal continuing across
    labels so fold sizes differ by at most one."""
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


def group_folds(groups: Sequence[str], strata: Sequence[Optional[int]], num_folds: int, seed: int) -> list[int]:
    """Folds per record, all records of a group in one fold. A group is stratified by its
    records' largest stratum (a video with any violent track counts as violent); records without
    strata are dealt as one class."""
    group_stratum: dict[str, int] = {}
    for group, stratum in zip(groups, strata):
        value = -1 if stratum is None else stratum
        group_stratum[group] = max(group_stratum.get(group, value), value)
    names = sorted(group_stratum)
    assigned = dict(zip(names, stratified_folds([group_stratum[n] for n in names], num_folds, seed)))
    return [assigned[g] for g in groups]
