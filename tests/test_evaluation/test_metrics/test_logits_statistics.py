import json
import math
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

from mmlt.evaluation import LogitsStatistics

# Hand-worked example: 3 classes, 4 test samples.
LOGITS = [
    [2., 0., 1.],  # class 0
    [4., 1., 0.],  # class 0
    [0., 3., 1.],  # class 1
    [1., 1., 2.]
]  # class 2
LABELS = [0, 0, 1, 2]
TRAIN_COUNTS = (500, 50, 5)  # many, medium, few
# LM_i = mean logit i on class i - mean logit i on the other classes:
#   class 0: (2 + 4) / 2 - (0 + 1) / 2 = 5/2
#   class 1: 3 - (0 + 1 + 1) / 3 = 7/3
#   class 2: 2 - (1 + 0 + 1) / 3 = 4/3
EXPECTED_LM = [5 / 2, 7 / 3, 4 / 3]
# Population variance of logit i over the 4 samples:
#   logit 0: [2, 4, 0, 1], mean 7/4, squared deviations sum 35/4 -> 35/16
#   logit 1: [0, 1, 3, 1], mean 5/4, sum 19/4 -> 19/16
#   logit 2: [1, 0, 1, 2], mean 1, sum 2 -> 1/2
EXPECTED_STD = [math.sqrt(35 / 16), math.sqrt(19 / 16), math.sqrt(1 / 2)]
EXPECTED_RSD = [s / m for s, m in zip(EXPECTED_STD, EXPECTED_LM)]


def data_samples(logits, labels):
    samples = []
    for z, y in zip(logits, labels):
        sample = DataSample().set_gt_label(int(y))
        logits = torch.as_tensor(z, dtype=torch.float64)
        sample.set_field(logits, 'pred_logits')
        samples.append(sample.to_dict())
    return samples


def test_hand_worked_example():
    metric = METRICS.build(dict(type='LogitsStatistics'))
    metric.dataset_meta = dict(train_class_counts=TRAIN_COUNTS)
    samples = data_samples(LOGITS, LABELS)
    metric.process(None, samples[:3])
    metric.process(None, samples[3:])
    metrics = metric.evaluate(size=4)

    expected = {
        'logits/lm': sum(EXPECTED_LM) / 3,
        'logits/rsd': sum(EXPECTED_RSD) / 3,
        'logits/lm_many': EXPECTED_LM[0],
        'logits/rsd_many': EXPECTED_RSD[0],
        'logits/lm_medium': EXPECTED_LM[1],
        'logits/rsd_medium': EXPECTED_RSD[1],
        'logits/lm_few': EXPECTED_LM[2],
        'logits/rsd_few': EXPECTED_RSD[2],
    }
    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-12), key
    # The state is reset for the next evaluation.
    metric.process(None, samples)
    assert metric.evaluate(size=4) == metrics


def test_population_standard_deviation():
    stats = LogitsStatistics.sufficient_statistics(
        torch.tensor(LOGITS), torch.tensor(LABELS))
    per_class = LogitsStatistics.per_class_from_statistics(stats)
    np.testing.assert_allclose(per_class['lm'], EXPECTED_LM, rtol=1e-12)
    np.testing.assert_allclose(per_class['std'], EXPECTED_STD, rtol=1e-12)
    np.testing.assert_allclose(
        per_class['std'], np.std(LOGITS, axis=0, ddof=0), rtol=1e-12)
    # Not the sample standard deviation (divisor N - 1).
    assert not np.allclose(per_class['std'], np.std(LOGITS, axis=0, ddof=1))
    np.testing.assert_allclose(per_class['rsd'], EXPECTED_RSD, rtol=1e-12)


def reference_per_sample(logits: np.ndarray, labels: np.ndarray):
    """Per-class loop over the per-sample logits (float64)."""
    lm, rsd = [], []
    for i in range(logits.shape[1]):
        own = labels == i
        lm_i = logits[own, i].mean() - logits[~own, i].mean()
        lm.append(lm_i)
        rsd.append(logits[:, i].std() / lm_i)
    return np.array(lm), np.array(rsd)


def test_matches_per_sample_reference_on_random_logits():
    rng = np.random.default_rng(0)
    num_classes = 12
    labels = np.concatenate([np.arange(num_classes), rng.integers(0, 12, 88)])
    logits = rng.normal(size=(100, num_classes)) * 3 + 5
    logits[np.arange(100), labels] += 4
    counts = np.array([300, 200, 150, 101, 100, 60, 20, 19, 10, 5, 3, 2])
    lm, rsd = reference_per_sample(logits, labels)
    metrics = LogitsStatistics.calculate(logits, labels, counts)
    groups = dict(
        many=counts > 100,
        medium=(counts >= 20) & (counts <= 100),
        few=counts < 20)
    assert metrics['lm'] == pytest.approx(lm.mean(), rel=1e-10)
    assert metrics['rsd'] == pytest.approx(rsd.mean(), rel=1e-10)
    for name, mask in groups.items():
        assert metrics[f'lm_{name}'] == pytest.approx(
            lm[mask].mean(), rel=1e-10)
        assert metrics[f'rsd_{name}'] == pytest.approx(
            rsd[mask].mean(), rel=1e-10)


def test_absent_class_empty_group_and_explicit_counts():
    # Class 3 has no test sample: left out; no class is few-shot.
    logits = np.array(LOGITS)
    logits = np.concatenate([logits, np.zeros((4, 1))], axis=1)
    metric = LogitsStatistics(train_class_counts=[500, 50, 30, 200])
    metric.process(None, data_samples(logits, LABELS))
    metrics = metric.evaluate(size=4)
    assert metrics['logits/lm_medium'] == pytest.approx(
        (EXPECTED_LM[1] + EXPECTED_LM[2]) / 2)
    assert metrics['logits/lm_many'] == pytest.approx(EXPECTED_LM[0])
    assert math.isnan(metrics['logits/lm_few'])


def test_out_file(tmp_path):
    out_file = tmp_path / 'sub' / 'logits.json'
    metric = LogitsStatistics(out_file=str(out_file))
    metric.dataset_meta = dict(
        train_class_counts=TRAIN_COUNTS, classes=('a', 'b', 'c'))
    metric.process(None, data_samples(LOGITS, LABELS))
    metrics = metric.evaluate(size=4)
    content = json.loads(out_file.read_text())
    np.testing.assert_allclose(content['lm'], EXPECTED_LM, rtol=1e-12)
    np.testing.assert_allclose(content['rsd'], EXPECTED_RSD, rtol=1e-12)
    np.testing.assert_allclose(content['std'], EXPECTED_STD, rtol=1e-12)
    assert content['eval_count'] == [2, 1, 1]
    assert content['train_class_counts'] == list(TRAIN_COUNTS)
    assert content['classes'] == ['a', 'b', 'c']
    assert content['std_kind'] == 'population'
    assert content['metrics']['lm'] == metrics['logits/lm']


def test_errors():
    metric = LogitsStatistics()
    with pytest.raises(KeyError, match='LogitsLinearClsHead'):
        metric.process(None, [DataSample().set_gt_label(0).to_dict()])
    with pytest.raises(ValueError, match=r'label 3 is outside \[0, 2\]'):
        metric.process(None, data_samples(LOGITS, [0, 0, 1, 3]))
    metric.process(None, data_samples(LOGITS, LABELS))
    with pytest.raises(ValueError, match='train_class_counts'):
        metric.evaluate(size=4)  # no counts anywhere
    with pytest.raises(ValueError, match='4 entries but the logits have 3'):
        LogitsStatistics.calculate(LOGITS, LABELS, [1, 2, 3, 4])
    with pytest.raises(ValueError, match='at least two classes'):
        LogitsStatistics.calculate(LOGITS[:2], LABELS[:2], TRAIN_COUNTS)
    with pytest.raises(ValueError, match='low_shot_thr'):
        LogitsStatistics(many_shot_thr=10, low_shot_thr=20)


def _distributed_worker(rank, world_size, init_file, logits, labels, queue):
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=world_size)
    try:
        # The layout of DefaultSampler(shuffle=False, round_up=True): the
        # index list is padded by repeating its start; rank r takes every
        # world_size-th position from r.
        size = len(labels)
        total = -(-size // world_size) * world_size
        indices = (list(range(size)) * 2)[:total][rank::world_size]
        metric = LogitsStatistics(train_class_counts=TRAIN_COUNTS)
        for start in range(0, len(indices), 2):
            batch = indices[start:start + 2]
            metric.process(None, data_samples(logits[batch], labels[batch]))
        metrics = metric.evaluate(size)
        if rank == 0:
            queue.put(metrics)
    finally:
        dist.destroy_process_group()


def test_distributed_padding_is_dropped():
    rng = np.random.default_rng(1)
    labels = np.array([0, 1, 2, 0, 1, 2, 0])  # 7 samples on 2 ranks: 1 pad
    logits = rng.normal(size=(7, 3)) + 3 * np.eye(3)[labels]
    expected = LogitsStatistics.calculate(logits, labels, TRAIN_COUNTS)
    padded = LogitsStatistics.calculate(logits[[0, 1, 2, 3, 4, 5, 6, 0]],
                                        labels[[0, 1, 2, 3, 4, 5, 6,
                                                0]], TRAIN_COUNTS)
    assert padded['lm'] != pytest.approx(expected['lm'], rel=1e-6)

    ctx = mp.get_context('fork')
    queue = ctx.SimpleQueue()
    with tempfile.TemporaryDirectory() as tmp_dir:
        init_file = os.path.join(tmp_dir, 'init')
        mp.start_processes(
            _distributed_worker,
            args=(2, init_file, logits, labels, queue),
            nprocs=2,
            start_method='fork')
    metrics = queue.get()
    for key, value in expected.items():
        assert metrics[f'logits/{key}'] == pytest.approx(value, rel=1e-12)
