import numpy as np
import pytest
import torch

from mmlt.evaluation.shot_groups import (check_class_counts,
                                         check_shot_thresholds,
                                         resolve_train_class_counts,
                                         shot_group_masks, to_counts_array)

# many x2 (> 100), medium x2 (20..100, both edges), few x2 (< 20)
COUNTS = (300, 101, 100, 20, 19, 4)
EXPECTED = dict(
    many=[True, True, False, False, False, False],
    medium=[False, False, True, True, False, False],
    few=[False, False, False, False, True, True])


def test_masks_follow_the_shot_rule_at_the_edges():
    masks = shot_group_masks(np.array(COUNTS))
    assert list(masks) == ['many', 'medium', 'few']
    for name, expected in EXPECTED.items():
        assert masks[name].dtype == bool
        assert masks[name].tolist() == expected
    # Every class is in exactly one group.
    assert (sum(m.astype(int) for m in masks.values()) == 1).all()


def test_masks_of_tensors_are_tensors():
    masks = shot_group_masks(torch.tensor(COUNTS))
    for name, expected in EXPECTED.items():
        assert masks[name].dtype == torch.bool
        assert masks[name].tolist() == expected


def test_custom_thresholds():
    masks = shot_group_masks(np.array([5, 4, 3, 2, 1]), 4, 2)
    assert masks['many'].tolist() == [True, False, False, False, False]
    assert masks['medium'].tolist() == [False, True, True, True, False]
    assert masks['few'].tolist() == [False, False, False, False, True]


def test_thresholds_are_checked():
    check_shot_thresholds(20, 20)
    with pytest.raises(ValueError, match=r'low_shot_thr \(50\) .* \(20\)'):
        check_shot_thresholds(20, 50)
    with pytest.raises(ValueError, match='low_shot_thr'):
        shot_group_masks(np.array(COUNTS), 20, 50)


def test_counts_validation():
    counts = to_counts_array([3, 0, 1], 3)
    assert counts.tolist() == [3, 0, 1]
    with pytest.raises(ValueError, match='2 entries but the logits have 3'):
        to_counts_array([3, 1], 3, 'the logits')
    with pytest.raises(
            ValueError, match=r'1-D sequence of 4 counts, got shape \(2, 2\)'):
        to_counts_array(np.ones((2, 2), dtype=int), 4)
    with pytest.raises(ValueError, match='non-negative integers'):
        to_counts_array([3, -1], 2)
    with pytest.raises(ValueError, match='non-negative integers'):
        to_counts_array([3.0, 1.5], 2)


def test_positive_counts_validation():
    # the check of the re-balancers, heads and class-count losses
    counts = check_class_counts(torch.tensor([3, 1]), 2)
    assert counts.dtype == np.float64 and counts.tolist() == [3.0, 1.0]
    assert check_class_counts([2.5, 1, 7]).tolist() == [2.5, 1.0, 7.0]
    for bad, match in [
        ([3, 0, 1], 'Every class needs a positive, finite training count, '
         'but class 1 has 0'),
        ([3, float('nan')], 'class 1 has nan'),
        ([3, -2], 'class 1 has -2'),
        (['3', '1'], 'train_class_counts must be numbers'),
        ([7], r'1-D sequence of at least 2 counts, got shape \(1,\)'),
    ]:
        with pytest.raises(ValueError, match=match):
            check_class_counts(bad)
    with pytest.raises(ValueError, match='has 2 entries but the scores have '
                       '3 classes'):
        check_class_counts([3, 1], 3, source='the scores')
    with pytest.raises(ValueError, match='^Loss: class_counts has 2 entries'):
        check_class_counts([3, 1], 3, name='class_counts', owner='Loss')
    with pytest.raises(ValueError, match='^Loss: every class needs'):
        check_class_counts([3, 0], owner='Loss')
    # zero is a valid count of a few-shot class, not of a prior
    assert check_class_counts([3, 0], integers=True).tolist() == [3, 0]


def test_counts_from_argument_or_metainfo():
    meta = dict(train_class_counts=(5, 1))
    assert resolve_train_class_counts((7, 2), meta, 'M') == (7, 2)
    assert resolve_train_class_counts(None, meta, 'M') == (5, 1)
    for missing in (None, {}):
        with pytest.raises(ValueError, match='^MyMetric needs .*metainfo'):
            resolve_train_class_counts(None, missing, 'MyMetric')
