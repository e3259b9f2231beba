r"""Training the G candidate classifiers of one method together.

All G heads of a grid are stacked on dim 0 and updated from the same
feature batches in one step: one (B, D) x (D, G C) matrix product gives
their logits, the loss is the sum of the G per-head means (so head
:math:`g` gets exactly its own gradient) and SGD with momentum is applied
per head with its own learning rate. This equals training the heads one by
one with the same sampler order and schedule.

The schedule is that of LORT's stage 2 and of the stage-2 configs: SGD with
momentum (PyTorch's form, :math:`v \leftarrow \mu v + g`,
:math:`p \leftarrow p - \eta_t v`, no dampening, no weight decay) and a
cosine learning rate updated every iteration,
:math:`\eta_t = \eta \frac{1}{2}(1 + \cos(\pi t / T))` for iteration
:math:`t` of :math:`T` (mmengine's ``CosineAnnealingLR`` with
``convert_to_iter_based=True`` and ``eta_min=0``). The sampling is that of
the configs: instance-balanced draws a permutation per epoch as
mmengine's ``DefaultSampler(shuffle=True)`` (seed + epoch), class-balanced
is :class:`ClassAwareSampler`; batches are consecutive slices of the
epoch's indices, the last one possibly smaller.
"""
import math
from dataclasses import dataclass
from typing import Iterator, Tuple

import numpy as np
import torch

from mmlt.datasets.samplers import ClassAwareSampler
from .methods import RetrainingMethod, retraining_loss


@dataclass
class RetrainingSchedule:
    """The stage-2 schedule of every trained method.

    Args:
        epochs (int): Passes over the training split. Defaults to 20.
        lr (float): Learning rate of the methods whose grid is not the
            learning rate. Defaults to 5e-4 (the demo's LORT stage 2).
        momentum (float): SGD momentum. Defaults to 0.9.
        batch_size (int): Batch size. Defaults to 64.
        seed (int): Seed of the sampler (``randomness.seed`` of a config).
            Defaults to 0.
    """
    epochs: int = 20
    lr: float = 5e-4
    momentum: float = 0.9
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ('epochs', 'batch_size'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(
                    value, int) or value < 1:
                raise ValueError(
                    f'RetrainingSchedule: {name} must be a positive '
                    f'integer, got {value!r}.')
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError('RetrainingSchedule: lr must be a finite number '
                             f'> 0, got {self.lr!r}.')
        if not 0 <= self.momentum < 1:
            raise ValueError('RetrainingSchedule: momentum must be in [0, 1), '
                             f'got {self.momentum!r}.')


class _Labels:
    """The labels of a cached split, as a sampler's dataset."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def get_gt_labels(self) -> np.ndarray:
        return self.labels


def epoch_indices(labels: np.ndarray, sampling: str, seed: int,
                  epoch: int) -> torch.Tensor:
    """The sample order of one epoch.

    Args:
        labels (np.ndarray): Training labels (N, ).
        sampling (str): ``'instance'`` (``DefaultSampler(shuffle=True)``)
            or ``'class_balanced'`` (:class:`ClassAwareSampler`).
        seed (int): Sampler seed.
        epoch (int): The epoch (0-based).

    Returns:
        torch.Tensor: N int64 indices.
    """
    if sampling == 'instance':
        generator = torch.Generator()
        generator.manual_seed(seed + epoch)
        return torch.randperm(len(labels), generator=generator)
    if sampling == 'class_balanced':
        sampler = ClassAwareSampler(
            _Labels(labels), seed=seed, rank=0, world_size=1)
        sampler.set_epoch(epoch)
        return torch.tensor(list(sampler))
    raise ValueError("sampling must be 'instance' or 'class_balanced', got "
                     f'{sampling!r}.')


def batches(labels: np.ndarray, sampling: str,
            schedule: RetrainingSchedule) -> Iterator[torch.Tensor]:
    """The index batches of the whole schedule, epoch after epoch."""
    for epoch in range(schedule.epochs):
        order = epoch_indices(labels, sampling, schedule.seed, epoch)
        yield from order.split(schedule.batch_size)


def stacked_logits(features: torch.Tensor, weight: torch.Tensor,
                   bias: torch.Tensor) -> torch.Tensor:
    """Logits of G linear classifiers, (G, B, C), from one matrix product.

    Args:
        features (torch.Tensor): Shape (B, D).
        weight (torch.Tensor): Shape (G, C, D).
        bias (torch.Tensor): Shape (G, C).
    """
    num_heads, num_classes, dim = weight.shape
    logits = features @ weight.reshape(num_heads * num_classes, dim).T
    logits = logits.view(-1, num_heads, num_classes).transpose(0, 1)
    return logits + bias[:, None, :]


def train_candidates(method: RetrainingMethod, features: torch.Tensor,
                     labels: np.ndarray, class_counts: torch.Tensor,
                     weight: torch.Tensor, bias: torch.Tensor,
                     schedule: RetrainingSchedule
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The G classifiers of ``method``, trained (or derived, for a method
    without training) on the training features.

    Args:
        method (RetrainingMethod): The method and its grid.
        features (torch.Tensor): Training features (N, D), float32.
        labels (np.ndarray): Training labels (N, ), int64.
        class_counts (torch.Tensor): Training images per class (C, ).
        weight (torch.Tensor): Stage-1 weight (C, D), float32.
        bias (torch.Tensor): Stage-1 bias (C, ), float32.
        schedule (RetrainingSchedule): Epochs, lr, momentum, batch, seed.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: Weights (G, C, D) and biases
        (G, C), float32, detached.
    """
    if not method.trains:
        with torch.no_grad():
            out = method.classifiers({}, weight, bias, class_counts)
        return tuple(t.detach().float().contiguous() for t in out)
    params = {
        k: v.detach().clone().requires_grad_()
        for k, v in method.init_params(weight, bias).items()
    }
    velocity = {k: torch.zeros_like(v) for k, v in params.items()}
    adjustment, smoothing = method.loss_terms(class_counts)
    lrs = method.learning_rates(schedule.lr)
    iters_per_epoch = math.ceil(len(labels) / schedule.batch_size)
    total_iters = schedule.epochs * iters_per_epoch
    targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    for step, index in enumerate(batches(labels, method.sampling, schedule)):
        head_weight, head_bias = method.classifiers(params, weight, bias,
                                                    class_counts)
        logits = stacked_logits(features[index], head_weight, head_bias)
        loss = retraining_loss(logits, targets[index], adjustment,
                               smoothing).sum()
        grads = torch.autograd.grad(loss, list(params.values()))
        factor = 0.5 * (1 + math.cos(math.pi * step / total_iters))
        with torch.no_grad():
            for (name, param), grad in zip(params.items(), grads):
                buf = velocity[name].mul_(schedule.momentum).add_(grad)
                step_size = (lrs * factor).view(-1,
                                                *([1] * (param.dim() - 1)))
                param.sub_(step_size * buf)
    with torch.no_grad():
        out = method.classifiers(params, weight, bias, class_counts)
    return tuple(t.detach().float().contiguous() for t in out)
