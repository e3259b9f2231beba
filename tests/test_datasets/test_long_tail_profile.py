"""The long-tail profile of mmlt.datasets.long_tail_profile: per-class
counts from the formula and seeded subsets."""
import numpy as np
import pytest

from mmlt.datasets import long_tail_class_counts, long_tail_subset_indices


def _exp_counts(num_classes, n_max, imbalance_factor):
    """The exponential profile, written out from its definition."""
    return [
        int(n_max * (1 / imbalance_factor)**(i / (num_classes - 1)))
        for i in range(num_classes)
    ]


def test_exp_profile_hand_worked():
    # 100 * 0.01 ** 0 = 100, 100 * 0.01 ** 0.5 = 10, 100 * 0.01 ** 1 = 1
    assert long_tail_class_counts(3, 100, 100).tolist() == [100, 10, 1]
    # IF 1 is balanced.
    assert long_tail_class_counts(4, 7, 1).tolist() == [7, 7, 7, 7]


@pytest.mark.parametrize('num_classes,n_max,imbalance_factor', [
    (10, 5000, 100), (100, 500, 100), (100, 500, 10), (1000, 1280, 256),
    (7, 33, 3.5)
])
def test_exp_profile_matches_formula(num_classes, n_max, imbalance_factor):
    counts = long_tail_class_counts(num_classes, n_max, imbalance_factor)
    assert counts.dtype == np.int64
    assert counts.tolist() == _exp_counts(num_classes, n_max,
                                          imbalance_factor)


def test_cifar100_lt_shot_groups():
    # Background notes: CIFAR-100-LT IF 100 has 35 / 35 / 30 classes with
    # > 100 / 20..100 / < 20 training images.
    counts = long_tail_class_counts(100, 500, 100)
    assert (counts > 100).sum() == 35
    assert ((counts >= 20) & (counts <= 100)).sum() == 35
    assert (counts < 20).sum() == 30


def test_step_profile():
    counts = long_tail_class_counts(10, 200, 20, profile='step', mu=0.3)
    assert counts.tolist() == [200] * 7 + [10] * 3


def test_class_order_permutes_the_profile():
    order = [3, 0, 2, 1]
    counts = long_tail_class_counts(4, 27, 27, class_order=order)
    # ranks 0..3 keep 27, 9, 3, 1 (27 * 27 ** (-r / 3)).
    expected = np.zeros(4, dtype=np.int64)
    expected[order] = _exp_counts(4, 27, 27)
    assert counts.tolist() == expected.tolist()
    assert counts[3] == 27 and counts[1] == 1


@pytest.mark.parametrize('kwargs,match', [
    (dict(imbalance_factor=0.5), r'imbalance_factor .* >= 1, got 0.5'),
    (dict(n_max=9, imbalance_factor=10),
     r'tail class would keep 0 images: n_max=9 with imbalance_factor=10'),
    (dict(n_max=0), 'n_max must be a positive integer, got 0'),
    (dict(num_classes=1), 'num_classes must be at least 2, got 1'),
    (dict(profile='linear'), "profile must be one of .* got 'linear'"),
    (dict(profile='step', mu=1.0), r'mu must be in \(0, 1\), got 1.0'),
    (dict(profile='step', mu=0.05), 'gives no minority class'),
    (dict(class_order=[0, 1, 1, 2, 3]), 'class_order must be a permutation'),
])
def test_profile_errors(kwargs, match):
    args = dict(num_classes=5, n_max=100, imbalance_factor=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        long_tail_class_counts(**args)


def test_subset_indices_errors():
    labels = np.array([0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match='class 0: 3 requested, 2 available'):
        long_tail_subset_indices(labels, np.array([3, 1]), seed=0)
    with pytest.raises(ValueError, match=r'labels must be in \[0, 2\)'):
        long_tail_subset_indices(np.array([0, 2]), np.array([1, 1]), seed=0)


def test_profile_argument_types():
    with pytest.raises(ValueError, match='imbalance_factor must be finite'):
        long_tail_class_counts(10, 500, float('nan'))
    with pytest.raises(TypeError, match='num_classes must be an integer'):
        long_tail_class_counts(10.0, 500, 10)
    with pytest.raises(TypeError, match="seed must be an integer, got 'x'"):
        long_tail_subset_indices(np.array([0, 1]), np.array([1, 1]), 'x')
    assert long_tail_class_counts(3, np.int64(4), np.float32(4)).tolist() == [
        4, 2, 1
    ]
