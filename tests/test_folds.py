from collections import Counter

from datamodules.folds import stratified_folds


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
