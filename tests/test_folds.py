from collections import Counter

from datamodules.folds import group_folds, stratified_folds


def test_folds_are_balanced_and_stratified():
    labels = [0] * 23 + [1] * 17
    folds = stratified_folds(labels, num_folds=5, seed=3)
    sizes = Counter(folds)
    assert set(sizes) == set(range(5)) and max(sizes.values()) - min(sizes.values()) <= 1
    for label in (0, 1):
        per_fold = Counter(f for f, l in zip(folds, labels) if l == label)
        assert max(per_fold.values()) - min(per_fold.values()) <= 1


def test_folds_are_seeded():
    labels = [i % 3 for i in range(30)]
    assert stratified_folds(labels, 5, seed=0) == stratified_folds(labels, 5, seed=0)
    assert stratified_folds(labels, 5, seed=0) != stratified_folds(labels, 5, seed=1)


def test_group_folds_keep_groups_together_and_cover_everything():
    groups = ["v1", "v1", "v2", "v3", "v3", "v4", "v5", "v6", "v7", "v8"]
    strata = [1, 0, 1, 0, 0, 1, 0, 1, None, 0]
    folds = group_folds(groups, strata, num_folds=3, seed=0)
    assert len(folds) == len(groups) and set(folds) <= {0, 1, 2}
    by_group = {}
    for group, fold in zip(groups, folds):
        assert by_group.setdefault(group, fold) == fold  # no group in two folds
    assert folds == group_folds(groups, strata, num_folds=3, seed=0)
