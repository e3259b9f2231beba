import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

import mmlt  # noqa: F401
from mmlt.evaluation import LongTailAccuracy
from mmlt.evaluation.metrics.long_tail_accuracy import \
    expected_calibration_error

# ---------------------------------------------------------------------------
# Hand-worked example: 4 classes, 8 test samples.
# Train counts (150, 100, 20, 19): class 0 is many-shot (> 100), classes 1
# and 2 medium (20..100, both ends inclusive), class 3 few-shot (< 20).
HAND_COUNTS = (150, 100, 20, 19)
HAND_GT = [0, 0, 0, 1, 1, 2, 3, 3]
HAND_SCORES = [
    # class 0  1     2     3        pred  conf  right  top-2 set  hit
    [0.95, 0.03, 0.01, 0.01],  # 0     .95   yes    {0, 1}     yes
    [0.70, 0.20, 0.06, 0.04],  # 0     .70   yes    {0, 1}     yes
    [0.20, 0.72, 0.05, 0.03],  # 1     .72   no     {1, 0}     yes
    [0.05, 0.85, 0.06, 0.04],  # 1     .85   yes    {1, 2}     yes
    [0.55, 0.10, 0.30, 0.05],  # 0     .55   no     {0, 2}     no
    [0.30, 0.15, 0.45, 0.10],  # 2     .45   yes    {2, 0}     yes
    [0.35, 0.15, 0.20, 0.30],  # 0     .35   no     {0, 3}     yes
    [0.26, 0.24, 0.22, 0.28],  # 3     .28   yes    {3, 0}     yes
]
# top1 = 5 / 8 = 62.5 %, top2 = 7 / 8 = 87.5 %, top3 = 100 % (every label
# beats the row's lowest score).
# Per class: c0 2/3, c1 1/2, c2 1/1, c3 1/2 ->
#   mean_class_acc = (66.67 + 50 + 100 + 50) / 4 = 66.67 %
#   many = c0 = 66.67 %, medium = (c1 + c2) / 2 = 75 %, few = c3 = 50 %.
# ECE, 15 bins of width 1/15 (bin b = (b/15, (b+1)/15]):
#   .95 -> bin 14, gap |1 - .95|              = .05
#   .70 and .72 -> bin 10 together, |1 - 1.42| = .42
#   .85 -> bin 12, |1 - .85| = .15      .55 -> bin 8,  |0 - .55| = .55
#   .45 -> bin 6,  |1 - .45| = .55      .35 -> bin 5,  |0 - .35| = .35
#   .28 -> bin 4,  |1 - .28| = .72
#   ECE = (.05 + .42 + .15 + .55 + .55 + .35 + .72) / 8 = 2.79 / 8 = .34875,
#   reported in percent: 34.875.
HAND_EXPECTED = dict(
    top1=62.5,
    top2=87.5,
    top3=100.0,
    mean_class_acc=(200 / 3 + 50 + 100 + 50) / 4,
    many=200 / 3,
    medium=75.0,
    few=50.0,
    ece=34.875)


def _samples(scores, labels):
    return [
        DataSample().set_gt_label(int(label)).set_pred_score(
            torch.as_tensor(score, dtype=torch.float32))
        for score, label in zip(scores, labels)
    ]


def _evaluate(metric_cfg, scores, labels, dataset_meta=None):
    # Built from MMPretrain's registry, as a config with
    # default_scope='mmpretrain' does.
    evaluator = Evaluator(metrics=METRICS.build(metric_cfg))
    if dataset_meta is not None:
        evaluator.dataset_meta = dataset_meta
    evaluator.process(_samples(scores, labels))
    return evaluator.evaluate(len(labels))


def _assert_metrics_close(actual, expected, prefix=''):
    assert set(actual) == {prefix + k for k in expected}
    for key, value in expected.items():
        got = actual[prefix + key]
        if math.isnan(value):
            assert math.isnan(got), key
        else:
            assert got == pytest.approx(value, abs=1e-5), key


def test_hand_worked_example_calculate():
    scores = np.array(HAND_SCORES)
    result = LongTailAccuracy.calculate(
        pred_labels=scores.argmax(1),
        gt_labels=HAND_GT,
        num_classes=4,
        confidences=scores.max(1),
        train_class_counts=HAND_COUNTS)
    expected = {
        k: v
        for k, v in HAND_EXPECTED.items() if k not in ('top2', 'top3')
    }
    _assert_metrics_close(result, expected)


def test_hand_worked_example_through_evaluator():
    meta = dict(classes=('a', 'b', 'c', 'd'), train_class_counts=HAND_COUNTS)
    result = _evaluate(
        dict(type='LongTailAccuracy', topk=(1, 2, 3)), HAND_SCORES, HAND_GT,
        meta)
    mmpretrain_keys = {f'accuracy/top{k}': result.pop(f'accuracy/top{k}')
                       for k in (1, 2, 3)}
    _assert_metrics_close(result, HAND_EXPECTED, prefix='long-tail/')
    _assert_metrics_close(
        mmpretrain_keys, {k: HAND_EXPECTED[k] for k in ('top1', 'top2',
                                                        'top3')},
        prefix='accuracy/')


def test_accuracy_keys_equal_mmpretrain_accuracy():
    """``accuracy/top{k}`` equals MMPretrain's own Accuracy on the same
    samples; with accuracy_keys=False both metrics share one evaluator."""
    meta = dict(classes=('a', 'b', 'c', 'd'), train_class_counts=HAND_COUNTS)
    ours = _evaluate(dict(type='LongTailAccuracy', topk=(1, 2)), HAND_SCORES,
                     HAND_GT, meta)
    stock = _evaluate(dict(type='Accuracy', topk=(1, 2)), HAND_SCORES,
                      HAND_GT, meta)
    assert set(stock) == {'accuracy/top1', 'accuracy/top2'}
    for key, value in stock.items():
        assert ours[key] == pytest.approx(value, abs=1e-4)
    # topk=(2, ) still reports top1, under both names.
    top2 = _evaluate(dict(type='LongTailAccuracy', topk=(2, )), HAND_SCORES,
                     HAND_GT, meta)
    assert top2['accuracy/top1'] == top2['long-tail/top1'] == 62.5
    assert top2['accuracy/top2'] == top2['long-tail/top2'] == 87.5
    evaluator = Evaluator(metrics=[
        METRICS.build(dict(type='LongTailAccuracy', accuracy_keys=False)),
        METRICS.build(dict(type='Accuracy'))
    ])
    evaluator.dataset_meta = meta
    evaluator.process(_samples(HAND_SCORES, HAND_GT))
    both = evaluator.evaluate(len(HAND_GT))
    assert both['accuracy/top1'] == pytest.approx(62.5)
    assert 'long-tail/ece' in both


def test_explicit_counts_override_dataset_meta_and_prefix():
    # dataset_meta says every class is many-shot; the explicit counts win.
    meta = dict(train_class_counts=(500, 500, 500, 500))
    result = _evaluate(
        dict(
            type='LongTailAccuracy',
            train_class_counts=HAND_COUNTS,
            prefix='lt'), HAND_SCORES, HAND_GT, meta)
    assert result['lt/many'] == pytest.approx(200 / 3)
    assert result['lt/medium'] == pytest.approx(75.0)
    assert result['lt/few'] == pytest.approx(50.0)


def test_configurable_thresholds():
    # many > 99 -> class 0 (150) and 1 (100); few < 21 -> classes 2 and 3.
    scores = np.array(HAND_SCORES)
    result = LongTailAccuracy.calculate(
        scores.argmax(1), HAND_GT, 4, train_class_counts=HAND_COUNTS,
        many_shot_thr=99, low_shot_thr=21)
    assert result['many'] == pytest.approx((200 / 3 + 50) / 2)
    assert math.isnan(result['medium'])
    assert result['few'] == pytest.approx((100 + 50) / 2)


def test_empty_group_is_nan():
    scores = np.array(HAND_SCORES)
    result = LongTailAccuracy.calculate(
        scores.argmax(1), HAND_GT, 4, train_class_counts=(500, 400, 300, 200))
    assert math.isnan(result['medium']) and math.isnan(result['few'])
    assert result['many'] == pytest.approx(result['mean_class_acc'])


def _reference_ece(confidences, correct, num_bins):
    """Straightforward per-bin ECE, bins (lo, hi], 0 in the first bin."""
    n = len(confidences)
    ece = 0.0
    for b in range(num_bins):
        lo, hi = b / num_bins, (b + 1) / num_bins
        in_bin = [(c > lo or (b == 0 and c == 0)) and c <= hi
                  for c in confidences]
        members = [i for i in range(n) if in_bin[i]]
        if not members:
            continue
        acc = sum(correct[i] for i in members) / len(members)
        conf = sum(confidences[i] for i in members) / len(members)
        ece += len(members) / n * abs(acc - conf)
    return ece


@pytest.mark.parametrize('num_bins', [15, 10, 1])
def test_ece_against_reference(num_bins):
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.1, 1.0, size=300)
    correct = rng.uniform(size=300) < conf**2
    ours = expected_calibration_error(conf, correct, num_bins)
    assert ours == pytest.approx(
        _reference_ece(conf.tolist(), correct.tolist(), num_bins), abs=1e-12)


def test_ece_bin_edges_are_right_closed():
    # 0.5 belongs to the first of 2 bins, (0, 0.5]: |1 - .5| + |0 - .6|.
    assert expected_calibration_error(
        np.array([0.5, 0.6]), np.array([True, False]),
        2) == pytest.approx(0.55)
    # 1.0 falls in the last bin and 0.0 in the first.
    assert expected_calibration_error(
        np.array([0.0, 1.0]), np.array([False, True]), 15) == 0.0


def test_class_and_group_accuracy_against_reference():
    rng = np.random.default_rng(1)
    num_classes, n = 12, 400
    gt = rng.integers(0, num_classes - 2, size=n)  # classes 10, 11 absent
    pred = np.where(
        rng.uniform(size=n) < 0.6, gt, rng.integers(0, num_classes, size=n))
    # Group edges (101 / 100, 20 / 19) included; absent classes 10 (few)
    # and 11 (many) must not count in their groups.
    counts = np.array([101, 100, 20, 19, 500, 50, 5, 250, 30, 2, 7, 1000])

    class_acc = LongTailAccuracy.class_accuracy(pred, gt, num_classes)
    result = LongTailAccuracy.calculate(
        pred, gt, num_classes, train_class_counts=counts)

    ref_acc = {}
    for c in range(num_classes):
        members = [i for i in range(n) if gt[i] == c]
        if members:
            ref_acc[c] = 100 * sum(pred[i] == c for i in members) / len(
                members)
    for c in range(num_classes):
        if c in ref_acc:
            assert class_acc[c] == pytest.approx(ref_acc[c])
        else:
            assert np.isnan(class_acc[c])
    groups = {'many': [], 'medium': [], 'few': []}
    for c, acc in ref_acc.items():
        if counts[c] > 100:
            groups['many'].append(acc)
        elif counts[c] >= 20:
            groups['medium'].append(acc)
        else:
            groups['few'].append(acc)
    assert result['mean_class_acc'] == pytest.approx(
        sum(ref_acc.values()) / len(ref_acc))
    for name, accs in groups.items():
        assert result[name] == pytest.approx(sum(accs) / len(accs))
    assert result['top1'] == pytest.approx(100 * np.mean(pred == gt))


def test_calculate_accepts_tensors():
    scores = torch.tensor(HAND_SCORES)
    result = LongTailAccuracy.calculate(
        scores.argmax(1), torch.tensor(HAND_GT), 4,
        confidences=scores.max(1).values)
    assert set(result) == {'top1', 'mean_class_acc', 'ece'}
    assert result['ece'] == pytest.approx(HAND_EXPECTED['ece'], abs=1e-6)


def test_split_and_reordered_processing_gives_same_result():
    rng = np.random.default_rng(2)
    n, num_classes = 203, 7
    scores = torch.softmax(torch.from_numpy(rng.normal(size=(n, num_classes)))
                           * 2, dim=1).float()
    labels = rng.integers(0, num_classes, size=n)
    counts = (300, 150, 90, 40, 25, 10, 3)
    samples = _samples(scores, labels)
    cfg = dict(topk=(1, 3), train_class_counts=counts)

    whole = LongTailAccuracy(**cfg)
    whole.process(None, [s.to_dict() for s in samples])
    expected = whole.compute_metrics(whole.results)

    # Two "ranks" with interleaved shards, each processed in uneven chunks;
    # compute_metrics then sees the gathered list, as under DDP.
    ranks = [LongTailAccuracy(**cfg), LongTailAccuracy(**cfg)]
    for rank, metric in enumerate(ranks):
        shard = [s.to_dict() for s in samples[rank::2]]
        for start, stop in [(0, 1), (1, 40), (40, 41), (41, len(shard))]:
            metric.process(None, shard[start:stop])
    gathered = ranks[1].results + ranks[0].results
    gathered = [gathered[i] for i in rng.permutation(len(gathered))]
    got = LongTailAccuracy(**cfg).compute_metrics(gathered)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-9), key

    # Per-sample state is a few scalars, not the C-dim score vector.
    entry = whole.results[0]
    assert len(whole.results) == n
    assert set(entry) == {
        'gt_label', 'pred_label', 'confidence', 'topk_hits', 'num_classes'
    }
    assert len(entry['topk_hits']) == 1


def test_metric_registered():
    assert isinstance(
        METRICS.build(dict(type='LongTailAccuracy')), LongTailAccuracy)


def test_missing_counts_error():
    with pytest.raises(ValueError, match='train_class_counts'):
        _evaluate(dict(type='LongTailAccuracy'), HAND_SCORES, HAND_GT)


def test_counts_length_error():
    with pytest.raises(ValueError, match='3 entries .* 4 classes'):
        _evaluate(
            dict(type='LongTailAccuracy', train_class_counts=(5, 5, 5)),
            HAND_SCORES, HAND_GT)


def test_negative_counts_error():
    with pytest.raises(ValueError, match='non-negative integers'):
        LongTailAccuracy.calculate([0, 1], [0, 1], 2,
                                   train_class_counts=(5, -1))


@pytest.mark.parametrize('bad_label', [4, -1])
def test_label_out_of_range_error(bad_label):
    labels = HAND_GT[:-1] + [bad_label]
    with pytest.raises(ValueError, match=rf'label {bad_label} outside \[0, 3'):
        _evaluate(
            dict(type='LongTailAccuracy', train_class_counts=HAND_COUNTS),
            HAND_SCORES, labels)


def test_soft_or_multi_label_error():
    sample = DataSample().set_gt_label([0, 2]).set_pred_score(
        torch.tensor(HAND_SCORES[0]))
    with pytest.raises(ValueError, match='one hard label'):
        LongTailAccuracy().process(None, [sample.to_dict()])


def test_missing_pred_score_error():
    sample = DataSample().set_gt_label(0).set_pred_label(0)
    with pytest.raises(KeyError, match='pred_score'):
        LongTailAccuracy().process(None, [sample.to_dict()])


def test_topk_larger_than_classes_error():
    with pytest.raises(ValueError, match='Top-5 .* 4 classes'):
        _evaluate(
            dict(type='LongTailAccuracy', topk=(1, 5)), HAND_SCORES, HAND_GT)


def test_invalid_arguments_error():
    with pytest.raises(ValueError, match=r'low_shot_thr \(50\)'):
        LongTailAccuracy(many_shot_thr=20, low_shot_thr=50)
    with pytest.raises(ValueError, match='topk'):
        LongTailAccuracy(topk=0)


def test_non_probability_scores_error():
    with pytest.raises(ValueError, match='probabilities in \\[0, 1\\]'):
        LongTailAccuracy.calculate([0, 1], [0, 1], 2, confidences=[0.9, 3.0])


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_scores_say_the_logits_diverged(bad):
    scores = [list(row) for row in HAND_SCORES]
    scores[2][1] = bad
    with pytest.raises(ValueError,
                       match=r'LongTailAccuracy: `pred_score` of 1 of 8 '
                       r'samples in a batch is non-finite .*logits became '
                       'non-finite'):
        _evaluate(dict(type='LongTailAccuracy'), scores, HAND_GT,
                  dict(train_class_counts=HAND_COUNTS))
    with pytest.raises(ValueError,
                       match='ECE needs finite top-1 probabilities, got nan: '
                       'the logits became non-finite'):
        LongTailAccuracy.calculate([0, 1], [0, 1], 2,
                                   confidences=[0.9, float('nan')])
