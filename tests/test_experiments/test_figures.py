"""split_figures / tau_table against figures computed independently here
(numpy float64, explicit loops over classes and bins)."""
import math

import numpy as np
import pytest
import torch

from mmlt.experiments import SplitRecord, mean_std, split_figures, tau_table

COUNTS = (300, 150, 60, 40, 10, 5)  # many 2, medium 2, few 2


def reference(probs, labels, counts=COUNTS, bins=15):
    pred = probs.argmax(1)
    conf = probs.max(1)
    classes = probs.shape[1]
    class_acc = np.array([
        100.0 * np.mean(pred[labels == c] == c) for c in range(classes)
    ])
    counts = np.array(counts)
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.sum() / len(conf) * abs(
                (pred[inside] == labels[inside]).mean() - conf[inside].mean())
    return dict(
        top1=100.0 * np.mean(pred == labels),
        mean_class_acc=class_acc.mean(),
        many=class_acc[counts > 100].mean(),
        medium=class_acc[(counts >= 20) & (counts <= 100)].mean(),
        few=class_acc[counts < 20].mean(),
        ece=100.0 * ece,
        class_acc=class_acc)


@pytest.fixture
def record():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(6), 20)
    logits = rng.normal(size=(120, 6)) * 2
    logits[np.arange(120), labels] += 1.0
    logits[:, 0] += 1.5  # a head bias for re-balancing to remove
    return SplitRecord('test', torch.tensor(logits, dtype=torch.float32),
                       torch.tensor(labels), COUNTS)


def softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def check(figures, expected):
    for key in ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece'):
        assert figures[key] == pytest.approx(expected[key], abs=1e-9), key
    np.testing.assert_allclose(figures['class_acc'], expected['class_acc'])


def test_plain(record):
    z = record.logits.double().numpy()
    check(split_figures(record), reference(softmax(z), record.labels.numpy()))


def test_prediction_rebalancing_uses_the_splits_own_masses(record):
    p = softmax(record.logits.double().numpy())
    mass = p.sum(0)
    rebalanced = p / mass**0.7
    rebalanced /= rebalanced.sum(1, keepdims=True)
    figures = split_figures(record, 'PredictionRebalancing', 0.7)
    check(figures, reference(rebalanced, record.labels.numpy()))
    assert figures['few'] > split_figures(record)['few']


def test_logit_adjustment_with_the_training_prior(record):
    z = record.logits.double().numpy()
    prior = np.array(COUNTS) / sum(COUNTS)
    expected = reference(softmax(z - 1.0 * np.log(prior)),
                         record.labels.numpy())
    check(split_figures(record, 'PosthocLogitAdjustment', 1.0), expected)


def test_tau_table_rows(record):
    table = tau_table(record, 'PredictionRebalancing', [0.0, 0.5])
    assert [row['tau'] for row in table] == [0.0, 0.5]
    check(table[0], reference(softmax(record.logits.double().numpy()),
                              record.labels.numpy()))


def test_empty_group_is_nan():
    rec = SplitRecord('val', torch.eye(2), torch.tensor([0, 1]), (500, 200))
    figures = split_figures(rec)
    assert math.isnan(figures['few']) and math.isnan(figures['medium'])
    assert figures['many'] == 100.0


def test_mean_std():
    values = [71.25, 64.5, 68.0]
    mean, std = mean_std(values)
    # mean 67.916..., deviations 3.333.., -3.416.., 0.083..; ddof 1
    assert mean == pytest.approx(203.75 / 3, rel=1e-12)
    assert std == pytest.approx(
        math.sqrt(sum((v - 203.75 / 3)**2 for v in values) / 2), rel=1e-12)
    assert std == pytest.approx(3.37577, abs=1e-5)
    mean, std = mean_std([70.0])
    assert mean == 70.0 and math.isnan(std)
    # an empty shot group (nan, e.g. no few-shot class at IF 10)
    assert all(map(math.isnan, mean_std([math.nan, 60.0])))
    assert all(map(math.isnan, mean_std([])))
