"""Input validation shared by the class-count losses."""
import numpy as np
import pytest
import torch

from mmlt.models.losses import BalancedSoftmaxLoss, LDAMLoss, LogitAdjustLoss

COUNTS = [40, 20, 10, 5]
LOSSES = [LogitAdjustLoss, BalancedSoftmaxLoss, LDAMLoss]


@pytest.fixture(params=LOSSES, ids=lambda cls: cls.__name__)
def loss(request):
    return request.param(class_counts=COUNTS)


def test_wrong_number_of_classes(loss):
    with pytest.raises(ValueError, match='4 class counts but cls_score has 5'):
        loss(torch.randn(2, 5), torch.tensor([0, 1]))


@pytest.mark.parametrize('bad_label', [-1, 4])
def test_label_out_of_range(loss, bad_label):
    labels = torch.tensor([0, bad_label, 1])
    with pytest.raises(ValueError, match=rf'label {bad_label} \(sample 1\)'):
        loss(torch.randn(3, 4), labels)


@pytest.mark.parametrize(
    'labels',
    [
        torch.tensor([0.0, 1.0]),  # float indices
        torch.tensor([[0], [1]]),  # (N, 1)
        torch.tensor([True, False]),
    ])
def test_malformed_hard_labels(loss, labels):
    with pytest.raises(ValueError, match='integer class indices'):
        loss(torch.randn(2, 4), labels)


def test_label_count_mismatch(loss):
    with pytest.raises(ValueError, match='3 labels for 2 rows'):
        loss(torch.randn(2, 4), torch.tensor([0, 1, 2]))


@pytest.mark.parametrize('cls', [LogitAdjustLoss, BalancedSoftmaxLoss])
@pytest.mark.parametrize('soft', [
    torch.tensor([[0.5, 0.5, 0.5, 0.0]]),
    torch.tensor([[1.2, -0.2, 0.0, 0.0]]),
])
def test_malformed_soft_labels(cls, soft):
    with pytest.raises(ValueError, match='non-negative and sum to 1'):
        cls(class_counts=COUNTS)(torch.randn(1, 4), soft)


def test_soft_label_shape(loss):
    with pytest.raises(ValueError, match='shape of cls_score'):
        loss(torch.randn(2, 4), torch.full((2, 3), 1 / 3))


def test_sample_weight_shape(loss):
    with pytest.raises(ValueError, match=r'weight must have shape \(2,\)'):
        loss(torch.randn(2, 4), torch.tensor([0, 1]), weight=torch.ones(2, 1))


def test_reduction_checks(loss):
    with pytest.raises(ValueError, match='reduction_override'):
        loss(torch.randn(2, 4), torch.tensor([0, 1]), reduction_override='avg')
    with pytest.raises(ValueError, match='reduction'):
        type(loss)(reduction='max')


@pytest.mark.parametrize('cls', LOSSES)
@pytest.mark.parametrize(
    'counts, match',
    [([5, 0, 2], 'class 1 has 0'), ([5, float('inf')], 'class 1 has inf'),
     ([[1, 2], [3, 4]], '1-D'), ([7], 'at least 2')])
def test_bad_class_counts(cls, counts, match):
    with pytest.raises(ValueError, match=match):
        cls(class_counts=counts)


@pytest.mark.parametrize('cls', LOSSES)
def test_counts_must_match_num_classes(cls):
    loss = cls(num_classes=3)
    with pytest.raises(
            ValueError,
            match=r'class_counts has 4 entries but the logits '
            r'\(num_classes=3\) have 3 classes'):
        loss.set_class_counts(np.array(COUNTS))
    with pytest.raises(ValueError, match='num_classes'):
        cls(num_classes=1)


def test_state_is_per_class(loss):
    buffers = dict(loss.named_buffers())
    assert buffers and all(
        tuple(b.shape) == (len(COUNTS), ) for b in buffers.values())
