import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from mmlt.evaluation.metrics import LongTailAccuracy, RebalancedAccuracy
from mmlt.evaluation.rebalancers import column_mass, rebalance_probs
from mmlt.models.heads import RebalancedLinearClsHead

COUNTS = [500, 300, 60, 30, 10, 5]  # many, many, medium, medium, few, few


def prediction(tau):
    return dict(type='PredictionRebalancing', tau=tau)


def make_samples(logits, labels):
    samples = []
    for logit, label in zip(logits, labels):
        sample = DataSample().set_gt_label(int(label))
        sample.set_field(logit, 'pred_logits')
        sample.set_pred_score(torch.softmax(logit, dim=0))
        samples.append(sample.to_dict())
    return samples


def head_biased_set(seed=0, num=60):
    """Logits biased towards low class indices (the head classes)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(num) % len(COUNTS)
    logits = torch.randn(num, len(COUNTS), generator=gen)
    logits[torch.arange(num), labels] += 1.5
    logits += torch.linspace(2.0, -1.0, len(COUNTS))
    return logits, labels


def evaluate(metric, samples, batch=7):
    metric.dataset_meta = dict(train_class_counts=COUNTS)
    for start in range(0, len(samples), batch):
        metric.process(None, samples[start:start + batch])
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('tau', [1.0, 0.6])
def test_transductive_matches_reference(tau):
    logits, labels = head_biased_set()
    metrics = evaluate(
        RebalancedAccuracy(rebalance=prediction(tau), topk=(1, 3)),
        make_samples(logits, labels))

    probs = np.exp(logits.double().numpy())
    probs /= probs.sum(axis=1, keepdims=True)
    mass = probs.sum(axis=0)  # over the whole set, not per batch
    rebalanced = probs / mass**tau
    rebalanced /= rebalanced.sum(axis=1, keepdims=True)
    for prefix, p in (('', probs), ('rebalanced/', rebalanced)):
        expected = LongTailAccuracy.calculate(
            p.argmax(axis=1), labels.numpy(), len(COUNTS), p.max(axis=1),
            COUNTS)
        top3 = (np.argsort(-p, axis=1)[:, :3] == labels.numpy()[:, None])
        expected['top3'] = top3.any(axis=1).mean() * 100
        for key, value in expected.items():
            assert metrics[f'long-tail/{prefix}{key}'] == pytest.approx(
                value, abs=1e-9), key
    # re-balancing helps the tail on this head-biased set
    assert metrics['long-tail/rebalanced/few'] > metrics['long-tail/few']


def test_hand_worked_example():
    # two samples of class 0 predicted confidently, one tail sample (class 1)
    # that plain argmax gets wrong but re-balancing gets right
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.55, 0.45]])
    samples = make_samples(probs.log(), [0, 0, 1])
    metric = RebalancedAccuracy(train_class_counts=[200, 10])
    for s in samples:
        metric.process(None, [s])
    metrics = metric.evaluate(3)
    assert metrics['long-tail/top1'] == pytest.approx(200 / 3)
    assert metrics['long-tail/few'] == 0.0
    assert metrics['long-tail/rebalanced/top1'] == 100.0
    assert metrics['long-tail/rebalanced/few'] == 100.0
    # MMPretrain's name carries the plain top-1; the per-class accuracies
    # (for ClassAccuracyHook) are kept for both predictions.
    assert metrics['accuracy/top1'] == pytest.approx(200 / 3)
    assert metric.per_class_accuracy['rebalanced/'].tolist() == [100., 100.]
    assert metric.per_class_accuracy[''].tolist() == [100., 0.]


def test_stored_equals_transductive_on_the_same_split():
    """Deployable re-balancing with column masses estimated on the evaluation
    split gives exactly the transductive predictions and metrics."""
    torch.manual_seed(0)
    head = RebalancedLinearClsHead(
        len(COUNTS), 8, rebalance=prediction(1.3)).eval()
    torch.nn.init.normal_(head.fc.weight, std=2.0)
    feats = torch.randn(45, 8)
    labels = torch.arange(45) % len(COUNTS)
    with torch.no_grad():
        logits = head((feats, ))
    plain = [
        s.to_dict() for s in head.predict((
            feats, ), [DataSample().set_gt_label(int(y)) for y in labels])
    ]
    head.set_column_mass(
        column_mass(torch.softmax(logits.double(), dim=1)), len(feats))
    stored_samples = []
    for start in range(0, 45, 8):  # the head re-balances batch by batch
        batch = [
            DataSample().set_gt_label(int(y)) for y in labels[start:start + 8]
        ]
        stored_samples += [
            s.to_dict()
            for s in head.predict((feats[start:start + 8], ), batch)
        ]

    transductive = evaluate(
        RebalancedAccuracy(rebalance=prediction(1.3)), plain)
    stored = evaluate(RebalancedAccuracy(rebalance=None), stored_samples)
    assert transductive == stored
    assert transductive['long-tail/rebalanced/top1'] != transductive[
        'long-tail/top1']
    # identical predicted labels, sample by sample
    probs = torch.softmax(logits.double(), dim=1)
    expected = rebalance_probs(probs, column_mass(probs), 1.3).argmax(dim=1)
    assert [int(s['pred_label']) for s in stored_samples] == expected.tolist()


def test_errors():
    logits, labels = head_biased_set(num=6)
    samples = make_samples(logits, labels)
    with pytest.raises(ValueError, match='estimate_column_mass'):
        RebalancedAccuracy(rebalance=None).process(None, samples)
    del samples[0]['pred_logits']
    with pytest.raises(KeyError, match='pred_logits'):
        RebalancedAccuracy().process(None, samples)
    with pytest.raises(TypeError, match="rebalance must be a dict.*'batch'"):
        RebalancedAccuracy(rebalance='batch')
    with pytest.raises(ValueError, match="Unknown re-balancing type 'lws'"):
        RebalancedAccuracy(rebalance=dict(type='lws'))
    metric = RebalancedAccuracy()
    metric.process(None, make_samples(logits, labels))
    with pytest.raises(ValueError, match='train_class_counts'):
        metric.evaluate(6)
    logits[3, 2] = float('nan')
    with pytest.raises(ValueError,
                       match=r'RebalancedAccuracy: `pred_logits` of 1 of 1 '
                       r'samples .* non-finite \(first: nan\).*logits became '
                       'non-finite'):
        RebalancedAccuracy().process(None, make_samples(logits, labels))


def posthoc_head(method, tau):
    torch.manual_seed(0)
    head = RebalancedLinearClsHead(
        len(COUNTS),
        8,
        rebalance=dict(type=method, tau=tau),
        train_class_counts=COUNTS).eval()
    torch.nn.init.normal_(head.fc.weight, std=2.0)
    with torch.no_grad():  # head-class rows larger, as after CE training
        head.fc.weight.mul_(torch.linspace(2.0, 0.5, len(COUNTS))[:, None])
    return head


def test_stored_logit_adjust_matches_reference():
    head = posthoc_head('PosthocLogitAdjustment', 1.0)
    labels = torch.arange(60) % len(COUNTS)
    feats = 0.2 * head.fc.weight.detach()[labels] + torch.randn(60, 8)
    samples = [
        s.to_dict() for s in head.predict((
            feats, ), [DataSample().set_gt_label(int(y)) for y in labels])
    ]
    metrics = evaluate(RebalancedAccuracy(rebalance=None), samples)
    # the same dict given to the metric: it adjusts the gathered logits
    assert evaluate(
        RebalancedAccuracy(
            rebalance=dict(type='PosthocLogitAdjustment', tau=1.0)),
        samples) == pytest.approx(metrics, abs=1e-12)

    logits = head((feats, )).detach().double().numpy()
    counts = np.array(COUNTS, dtype=np.float64)
    adjusted = logits - np.log(counts / counts.sum())
    for prefix, z in (('', logits), ('rebalanced/', adjusted)):
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        expected = LongTailAccuracy.calculate(
            p.argmax(axis=1), labels.numpy(), len(COUNTS), p.max(axis=1),
            COUNTS)
        for key, value in expected.items():
            assert metrics[f'long-tail/{prefix}{key}'] == pytest.approx(
                value, abs=1e-6), key
    assert metrics['long-tail/rebalanced/few'] > metrics['long-tail/few']


def test_refuses_tau_normalization_and_bad_tau():
    with pytest.raises(ValueError, match='TauNormalization.*classifier '
                       'weights.*rebalance=None'):
        RebalancedAccuracy(rebalance=dict(type='TauNormalization', tau=1.0))
    with pytest.raises(ValueError, match='tau must be .*>= 0, got -1'):
        RebalancedAccuracy(rebalance=prediction(-1))
