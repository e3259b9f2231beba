import math
from collections import Counter

import numpy as np
import pytest
import torch

from mmlt.evaluation import LogitsStatistics, LongTailAccuracy
from mmlt.report import (accuracy_by_training_count, analyze_result,
                         confusion_by_training_count, logits_per_class,
                         reliability_bins, tail_confusions)
from mmlt.evaluation.shot_groups import shot_group_masks


def random_predictions(num_samples, num_classes, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(num_classes, (num_samples, ), generator=g)
    logits = torch.randn(num_samples, num_classes, generator=g)
    logits[torch.arange(num_samples), labels] += 1.5
    return logits, torch.softmax(logits, dim=1), labels


def metric_figures(metric, samples, counts):
    """Figures of an mmengine metric run as in a test loop."""
    metric.dataset_meta = dict(train_class_counts=list(counts))
    for start in range(0, len(samples), 7):
        metric.process(None, samples[start:start + 7])
    return {
        k.split('/', 1)[1]: v
        for k, v in metric.evaluate(len(samples)).items()
    }


def test_headline_equals_the_metrics_of_a_test_loop():
    counts = np.array([300, 150, 100, 60, 20, 19, 5, 1])
    logits, scores, labels = random_predictions(200, counts.size)
    samples = [
        dict(pred_score=s, pred_logits=z, gt_label=y.reshape(1))
        for s, z, y in zip(scores, logits, labels)
    ]
    analysis = analyze_result(
        scores.numpy(), labels.numpy(), counts, logits.numpy(), chunk_size=16)
    expected = metric_figures(LongTailAccuracy(), samples, counts)
    expected.update(metric_figures(LogitsStatistics(), samples, counts))
    assert analysis['metrics'].keys() == expected.keys()
    for key, value in expected.items():
        assert analysis['metrics'][key] == pytest.approx(value, rel=1e-9)


def test_per_class_numbers_against_a_float64_loop():
    counts = np.array([50, 30, 10, 4, 2])
    logits, scores, labels = random_predictions(120, counts.size, seed=3)
    analysis = analyze_result(
        scores.numpy(),
        labels.numpy(),
        counts,
        logits.numpy(),
        many_shot_thr=20,
        low_shot_thr=5)
    z, y = logits.double().numpy(), labels.numpy()
    predicted = scores.numpy().argmax(1)
    for c in range(counts.size):
        own = y == c
        assert analysis['class_accuracy'][c] == pytest.approx(
            100 * (predicted[own] == c).mean())
        assert analysis['eval_count'][c] == own.sum()
        lm = z[own, c].mean() - z[~own, c].mean()
        assert analysis['lm'][c] == pytest.approx(lm, rel=1e-9)
        assert analysis['rsd'][c] == pytest.approx(
            np.std(z[:, c]) / lm, rel=1e-9)


def test_logits_per_class_does_not_depend_on_the_chunks():
    logits, _, labels = random_predictions(50, 6, seed=1)
    whole = logits_per_class(logits.numpy(), labels.numpy(), chunk_size=50)
    for chunk_size in (1, 7):
        chunked = logits_per_class(logits.numpy(), labels.numpy(), chunk_size)
        for key in whole:
            np.testing.assert_allclose(chunked[key], whole[key], rtol=1e-12)
    with pytest.raises(ValueError, match='chunk_size must be >= 1, got 0'):
        logits_per_class(logits.numpy(), labels.numpy(), 0)


def test_tail_confusions_hand_worked():
    # classes 2 and 3 are few-shot; class 3 is predicted as 0 twice, as 1
    # twice (tie: lower index first) and as 2 once; class 2 is always right.
    labels = np.array([3, 3, 3, 3, 3, 3, 2, 2, 0, 1])
    predicted = np.array([1, 0, 2, 0, 1, 3, 2, 2, 3, 1])
    few = np.array([False, False, True, True])
    assert tail_confusions(predicted, labels, few, 2) == [
        {
            'class': 2,
            'predicted': [],
            'counts': []
        },
        {
            'class': 3,
            'predicted': [0, 1],
            'counts': [2, 2]
        },
    ]
    assert tail_confusions(predicted, labels, few, 5)[1] == {
        'class': 3,
        'predicted': [0, 1, 2],
        'counts': [2, 2, 1]
    }
    with pytest.raises(ValueError, match='num_confusions must be >= 1'):
        tail_confusions(predicted, labels, few, 0)


def test_tail_confusions_against_a_counter():
    rng = np.random.default_rng(0)
    labels, predicted = rng.integers(0, 30, 2000), rng.integers(0, 30, 2000)
    few = np.zeros(30, dtype=bool)
    few[[2, 17, 29]] = True
    for entry in tail_confusions(predicted, labels, few, 3):
        c = entry['class']
        counter = Counter(predicted[(labels == c) & (predicted != c)])
        expected = sorted(counter.items(), key=lambda kn: (-kn[1], kn[0]))[:3]
        assert list(zip(entry['predicted'], entry['counts'])) == expected


def test_confusion_matrix_ordered_by_training_count():
    counts = np.array([5, 50, 20])  # order: class 1, class 2, class 0
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    confusion = confusion_by_training_count(predicted, labels, counts,
                                            shot_group_masks(counts, 40, 10))
    assert confusion['kind'] == 'classes'
    assert confusion['order'] == [1, 2, 0]
    np.testing.assert_array_equal(confusion['matrix'],
                                  [[2, 1, 0], [0, 0, 1], [1, 0, 1]])


def test_confusion_matrix_of_many_classes_is_by_shot_group():
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 300, 150)
    labels, predicted = rng.integers(0, 150, 3000), rng.integers(0, 150, 3000)
    groups = shot_group_masks(counts)
    confusion = confusion_by_training_count(predicted, labels, counts, groups)
    assert confusion['kind'] == 'shot_groups'
    assert confusion['order'] == ['many', 'medium', 'few']
    for i, true_group in enumerate(confusion['order']):
        for j, predicted_group in enumerate(confusion['order']):
            expected = sum(groups[true_group][y] and groups[predicted_group][p]
                           for y, p in zip(labels, predicted))
            assert confusion['matrix'][i][j] == expected


def test_reliability_bins_hand_worked_and_reproduce_the_ece():
    # 4 bins (0, .25], (.25, .5], ...; 0.5 belongs to the second, 0 to the
    # first; no sample in the third
    confidences = np.array([0.0, 0.2, 0.5, 0.3, 0.9, 1.0])
    correct = np.array([False, True, True, False, True, False])
    bins = reliability_bins(confidences, correct, 4)
    np.testing.assert_array_equal(bins['count'], [2, 2, 0, 2])
    np.testing.assert_allclose(bins['accuracy'], [0.5, 0.5, np.nan, 0.5])
    np.testing.assert_allclose(bins['confidence'], [0.1, 0.4, np.nan, 0.95])
    np.testing.assert_allclose(bins['edges'], [0, 0.25, 0.5, 0.75, 1])

    _, scores, labels = random_predictions(500, 10, seed=2)
    confidence, predicted = scores.max(dim=1)
    correct = (predicted == labels).numpy()
    bins = reliability_bins(confidence.double().numpy(), correct, 15)
    filled = bins['count'] > 0
    ece = 100 * np.sum(
        bins['count'][filled] *
        np.abs(bins['accuracy'][filled] - bins['confidence'][filled])) / 500
    expected = LongTailAccuracy.calculate(
        predicted.numpy(), labels.numpy(), 10,
        confidences=confidence.numpy())['ece']
    assert ece == pytest.approx(expected, rel=1e-9)


def test_accuracy_by_training_count_means_per_count():
    accuracy = np.array([10., 30., np.nan, 80., 50.])
    counts = np.array([100, 5, 5, 5, 100])
    curve = accuracy_by_training_count(accuracy, counts)
    np.testing.assert_array_equal(curve['count'], [5, 100])
    np.testing.assert_allclose(curve['accuracy'], [55., 30.])
    np.testing.assert_array_equal(curve['num_classes'], [2, 2])


def test_accuracy_by_training_count_bins_many_distinct_counts():
    counts = np.arange(1, 1001)
    accuracy = np.linspace(0, 100, 1000)
    curve = accuracy_by_training_count(accuracy, counts, max_points=10)
    assert curve['count'].size <= 10
    assert curve['num_classes'].sum() == 1000
    # each point is the mean of consecutive classes of one log-count bin
    edges = np.linspace(0, math.log1p(1000), 11)
    point = np.searchsorted(edges[1:-1], np.log1p(counts), side='right')
    for k, p in enumerate(np.unique(point)):
        assert curve['count'][k] == pytest.approx(counts[point == p].mean())
        assert curve['accuracy'][k] == pytest.approx(
            accuracy[point == p].mean())
