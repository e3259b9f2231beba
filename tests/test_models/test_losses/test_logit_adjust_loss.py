import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmlt.models.losses import LogitAdjustLoss

COUNTS = [500, 120, 40, 9, 2]


def reference_losses(scores, labels, counts, tau):
    """Per-sample float64 loss -log softmax(z + tau log pi)_y, in plain
    Python."""
    total = sum(counts)
    losses = []
    for row, label in zip(scores.tolist(), labels.tolist()):
        adjusted = [z + tau * math.log(n / total) for z, n in zip(row, counts)]
        top = max(adjusted)
        log_norm = top + math.log(sum(math.exp(a - top) for a in adjusted))
        losses.append(log_norm - adjusted[label])
    return np.array(losses)


@pytest.mark.parametrize('tau', [0.5, 1.0, 2.0])
def test_matches_float64_reference(tau):
    torch.manual_seed(0)
    scores = torch.randn(16, 5) * 3
    labels = torch.randint(0, 5, (16, ))
    loss = LogitAdjustLoss(tau=tau, class_counts=COUNTS)
    expected = reference_losses(scores, labels, COUNTS, tau)
    np.testing.assert_allclose(
        loss(scores, labels, reduction_override='none').numpy(),
        expected,
        rtol=1e-5,
        atol=1e-5)
    np.testing.assert_allclose(
        loss(scores, labels).item(), expected.mean(), rtol=1e-5)
    np.testing.assert_allclose(
        loss(scores, labels, reduction_override='sum').item(),
        expected.sum(),
        rtol=1e-5)


def test_hand_worked_example():
    # counts (3, 1): prior (3/4, 1/4). With z = 0 the adjusted softmax is the
    # prior itself, so the loss is -log(3/4) for class 0, -log(1/4) = log 4
    # for class 1.
    loss = LogitAdjustLoss(class_counts=[3, 1], reduction='none')
    values = loss(torch.zeros(2, 2), torch.tensor([0, 1]))
    np.testing.assert_allclose(values.numpy(), [0.2876821, 1.3862944],
                               rtol=1e-6)


def test_gradient_is_adjusted_softmax_minus_onehot():
    torch.manual_seed(1)
    scores = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 5, (8, ))
    LogitAdjustLoss(tau=1.5, class_counts=COUNTS)(scores, labels).backward()
    prior = np.array(COUNTS, dtype=np.float64) / sum(COUNTS)
    adjusted = scores.detach().numpy() + 1.5 * np.log(prior)
    probs = np.exp(adjusted - adjusted.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = (probs - np.eye(5)[labels.numpy()]) / 8
    np.testing.assert_allclose(scores.grad.numpy(), expected, atol=1e-7)


def test_tau_zero_is_cross_entropy():
    torch.manual_seed(2)
    scores, labels = torch.randn(6, 5), torch.randint(0, 5, (6, ))
    loss = LogitAdjustLoss(tau=0.0, class_counts=COUNTS)
    torch.testing.assert_close(
        loss(scores, labels), F.cross_entropy(scores, labels))


def test_weight_avg_factor_and_loss_weight():
    torch.manual_seed(3)
    scores, labels = torch.randn(4, 5), torch.tensor([0, 1, 3, 4])
    weight = torch.tensor([1.0, 0.0, 2.0, 0.5])
    per_sample = reference_losses(scores, labels, COUNTS, 1.0)
    loss = LogitAdjustLoss(class_counts=COUNTS, loss_weight=0.3)
    value = loss(scores, labels, weight=weight, avg_factor=10)
    np.testing.assert_allclose(
        value.item(), 0.3 * (per_sample * weight.numpy()).sum() / 10,
        rtol=1e-5)
    with pytest.raises(ValueError, match='avg_factor'):
        loss(scores, labels, avg_factor=10, reduction_override='sum')


def test_soft_labels_mix_the_hard_losses():
    torch.manual_seed(4)
    scores = torch.randn(3, 5)
    first, second = torch.tensor([0, 2, 4]), torch.tensor([1, 2, 0])
    lam = 0.7
    soft = lam * F.one_hot(first, 5) + (1 - lam) * F.one_hot(second, 5)
    loss = LogitAdjustLoss(class_counts=COUNTS, reduction='none')
    torch.testing.assert_close(
        loss(scores, soft.float()),
        lam * loss(scores, first) + (1 - lam) * loss(scores, second))


def test_counts_set_later_and_built_from_registry():
    loss = MODELS.build(dict(type='LogitAdjustLoss', tau=1.0))
    scores, labels = torch.randn(2, 5), torch.tensor([0, 4])
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        loss(scores, labels)
    loss.set_class_counts(np.array(COUNTS))
    np.testing.assert_allclose(
        loss(scores, labels).item(),
        reference_losses(scores, labels, COUNTS, 1.0).mean(),
        rtol=1e-5)
    assert loss.state_dict() == {}  # counts are not checkpointed


def test_in_linear_cls_head():
    head = MODELS.build(
        dict(
            type='LinearClsHead',
            num_classes=5,
            in_channels=3,
            loss=dict(type='LogitAdjustLoss', class_counts=COUNTS)))
    feats = torch.randn(4, 3)
    labels = [0, 1, 4, 2]
    samples = [DataSample().set_gt_label(label) for label in labels]
    losses = head.loss((feats, ), samples)
    expected = reference_losses(head(
        (feats, )).detach(), torch.tensor(labels), COUNTS, 1.0).mean()
    np.testing.assert_allclose(losses['loss'].item(), expected, rtol=1e-5)


@pytest.mark.parametrize('tau', [-0.5, float('nan'), '1'])
def test_bad_tau(tau):
    with pytest.raises(ValueError, match='tau'):
        LogitAdjustLoss(tau=tau)
