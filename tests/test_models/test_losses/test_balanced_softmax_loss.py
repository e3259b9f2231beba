import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmlt.models.losses import BalancedSoftmaxLoss, LogitAdjustLoss

COUNTS = np.array([800, 150, 30, 6, 1], dtype=np.float64)


def balanced_softmax(scores):
    """Definition: p_j proportional to n_j exp(z_j), in float64."""
    unnormalised = COUNTS * np.exp(scores.astype(np.float64))
    return unnormalised / unnormalised.sum(axis=1, keepdims=True)


def test_matches_definition():
    torch.manual_seed(0)
    scores = torch.randn(12, 5) * 2
    labels = torch.randint(0, 5, (12, ))
    expected = -np.log(
        balanced_softmax(scores.numpy())[np.arange(12), labels.numpy()])
    loss = BalancedSoftmaxLoss(class_counts=COUNTS)
    np.testing.assert_allclose(
        loss(scores, labels, reduction_override='none').numpy(),
        expected,
        rtol=1e-5)
    np.testing.assert_allclose(
        loss(scores, labels).item(), expected.mean(), rtol=1e-5)


def test_hand_worked_example():
    # counts (2, 1, 1), z = (0, log 2, 0): n_j e^{z_j} = (2, 2, 1), so
    # p = (2/5, 2/5, 1/5) and the loss of label 2 is log 5.
    loss = BalancedSoftmaxLoss(class_counts=[2, 1, 1], reduction='none')
    scores = torch.tensor([[0.0, np.log(2.0), 0.0]] * 2)
    np.testing.assert_allclose(
        loss(scores, torch.tensor([2, 0])).numpy(),
        [np.log(5.0), np.log(5.0 / 2.0)],
        rtol=1e-6)


def test_gradient_is_balanced_softmax_minus_onehot():
    torch.manual_seed(1)
    scores = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 5, (6, ))
    BalancedSoftmaxLoss(
        class_counts=COUNTS, reduction='sum')(scores, labels).backward()
    expected = balanced_softmax(
        scores.detach().numpy()) - np.eye(5)[labels.numpy()]
    np.testing.assert_allclose(scores.grad.numpy(), expected, atol=1e-7)


def test_is_logit_adjustment_with_tau_one():
    """A thin registration: the definition tests above check the values."""
    loss = BalancedSoftmaxLoss(class_counts=COUNTS)
    assert isinstance(loss, LogitAdjustLoss)
    assert loss.tau == 1.0


def test_soft_labels_use_the_balanced_softmax():
    torch.manual_seed(3)
    scores = torch.randn(4, 5)
    soft = torch.softmax(torch.randn(4, 5), dim=1)
    expected = -(soft.numpy() *
                 np.log(balanced_softmax(scores.numpy()))).sum(axis=1)
    loss = BalancedSoftmaxLoss(class_counts=COUNTS, reduction='none')
    np.testing.assert_allclose(
        loss(scores, soft).numpy(), expected, rtol=1e-5)


def test_registry_and_loss_weight():
    loss = MODELS.build(
        dict(
            type='BalancedSoftmaxLoss',
            class_counts=COUNTS.tolist(),
            loss_weight=2.0))
    scores, labels = torch.randn(3, 5), torch.tensor([4, 4, 0])
    expected = -np.log(
        balanced_softmax(scores.numpy())[np.arange(3), labels.numpy()])
    np.testing.assert_allclose(
        loss(scores, labels).item(), 2.0 * expected.mean(), rtol=1e-5)


def test_plain_softmax_when_counts_equal():
    scores, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    loss = BalancedSoftmaxLoss(class_counts=[7, 7, 7, 7])
    torch.testing.assert_close(
        loss(scores, labels), F.cross_entropy(scores, labels))


def test_wrong_number_of_counts():
    with pytest.raises(ValueError, match='num_classes=3'):
        BalancedSoftmaxLoss(class_counts=[1, 2], num_classes=3)
