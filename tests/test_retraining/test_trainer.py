"""The batched grid training against an independent one-head-at-a-time
reference: nn.Linear, torch.optim.SGD, mmengine's CosineAnnealingLR, the
existing mmlt losses and mmengine's DefaultSampler / mmlt's
ClassAwareSampler."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import DefaultSampler
from mmengine.optim import CosineAnnealingLR
from torch.utils.data import BatchSampler

from mmlt.datasets.samplers import ClassAwareSampler
from mmlt.models.losses import (BalancedSoftmaxLoss, LogitAdjustLoss,
                                LORTLoss)
from mmlt.retraining import (RetrainingSchedule, build_method, epoch_indices,
                             train_candidates)

NUM_CLASSES, DIM = 4, 6
COUNTS = (20, 12, 6, 3)


class Labels:

    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return self.labels


@pytest.fixture(scope='module')
def data():
    generator = torch.Generator().manual_seed(0)
    labels = np.repeat(np.arange(NUM_CLASSES), COUNTS)
    labels = labels[np.random.default_rng(0).permutation(labels.size)]
    features = torch.randn(labels.size, DIM, generator=generator)
    features += torch.eye(NUM_CLASSES, DIM)[labels] * 2
    weight = torch.randn(NUM_CLASSES, DIM, generator=generator) * 0.3
    bias = torch.randn(NUM_CLASSES, generator=generator) * 0.1
    return features, labels, weight, bias


def reference_batches(labels, sampling, schedule):
    """Index batches from the samplers the configs use."""
    if sampling == 'instance':
        sampler = DefaultSampler(
            Labels(labels), shuffle=True, seed=schedule.seed)
    else:
        sampler = ClassAwareSampler(
            Labels(labels), seed=schedule.seed, rank=0, world_size=1)
    for epoch in range(schedule.epochs):
        sampler.set_epoch(epoch)
        yield from BatchSampler(sampler, schedule.batch_size, False)


def reference_loss(name, value, logits, target):
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    if name in ('ce', 'crt', 'lws'):
        return F.cross_entropy(logits, target)
    if name == 'balanced_softmax':
        return BalancedSoftmaxLoss(class_counts=COUNTS)(logits, target)
    if name == 'logit_adjust':
        return LogitAdjustLoss(tau=value, class_counts=COUNTS)(logits, target)
    if name == 'lort':
        return LORTLoss(eps=value)(logits, target)
    if name == 'mislas':  # hand-written label-aware smoothing target
        head, tail = value
        eps = tail + (head - tail) * (counts - 3) / (20 - 3)
        e = eps[target].to(logits.dtype)[:, None]
        soft = (1 - e) * F.one_hot(target, NUM_CLASSES) + e / NUM_CLASSES
        return -(soft * torch.log_softmax(logits, dim=1)).sum(1).mean()
    raise KeyError(name)


def train_one(name, value, data, schedule, lr):
    """One head, trained the way a stage-2 config trains it."""
    features, labels, weight, bias = data
    method = build_method(name, [value])
    fc = torch.nn.Linear(DIM, NUM_CLASSES)
    with torch.no_grad():
        fc.weight.copy_(weight)
        fc.bias.copy_(bias)
    scale = torch.ones(NUM_CLASSES, requires_grad=True)
    params = [scale] if name == 'lws' else list(fc.parameters())
    fc.requires_grad_(name != 'lws')
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=0)
    iters = schedule.epochs * math.ceil(len(labels) / schedule.batch_size)
    scheduler = CosineAnnealingLR(optimizer, T_max=iters, by_epoch=False)
    targets = torch.from_numpy(labels)
    for index in reference_batches(labels, method.sampling, schedule):
        logits = fc(features[index])
        if name == 'lws':
            logits = logits * scale
        loss = reference_loss(name, value, logits, targets[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    if name == 'lws':
        return (scale[:, None] * weight).detach(), (scale * bias).detach()
    return fc.weight.detach(), fc.bias.detach()


GRIDS = dict(
    ce=(0.01, 0.05, 0.2),
    crt=(0.01, 0.05, 0.2),
    lws=(0.01, 0.05, 0.2),
    balanced_softmax=(0.01, 0.05, 0.2),
    logit_adjust=(0.5, 1.0, 2.0),
    lort=(0.3, 0.7, 0.98),
    mislas=((0.3, 0.0), (0.4, 0.1), (0.2, 0.2)))


@pytest.mark.parametrize('name', sorted(GRIDS))
def test_batched_grid_equals_heads_trained_one_by_one(name, data):
    features, labels, weight, bias = data
    schedule = RetrainingSchedule(epochs=3, lr=0.05, batch_size=8, seed=3)
    method = build_method(name, GRIDS[name])
    weights, biases = train_candidates(method, features, labels,
                                       torch.tensor(COUNTS), weight, bias,
                                       schedule)
    assert weights.shape == (3, NUM_CLASSES, DIM)
    for g, value in enumerate(GRIDS[name]):
        lr = value if method.grid_key == 'lr' else schedule.lr
        ref_weight, ref_bias = train_one(name, value, data, schedule, lr)
        # The head moved away from stage 1 (the test can fail).
        assert (ref_weight - weight).abs().max() > 1e-3
        torch.testing.assert_close(
            weights[g], ref_weight, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(biases[g], ref_bias, rtol=1e-4, atol=1e-5)


def test_epoch_order_is_the_samplers_order():
    labels = np.repeat(np.arange(3), (9, 4, 1))
    default = DefaultSampler(Labels(labels), shuffle=True, seed=7)
    aware = ClassAwareSampler(Labels(labels), seed=7, rank=0, world_size=1)
    for epoch in range(3):
        default.set_epoch(epoch)
        aware.set_epoch(epoch)
        assert epoch_indices(labels, 'instance', 7,
                             epoch).tolist() == list(default)
        assert epoch_indices(labels, 'class_balanced', 7,
                             epoch).tolist() == list(aware)
    with pytest.raises(ValueError, match="'square_root'"):
        epoch_indices(labels, 'square_root', 0, 0)


@pytest.mark.parametrize('field,value', [('epochs', 0), ('batch_size', 1.5),
                                         ('lr', 0.0), ('momentum', 1.0)])
def test_bad_schedule_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        RetrainingSchedule(**{field: value})
