r"""Classifier re-training methods on cached features, one registered class
each (``RETRAINING_METHODS``).

Every method turns the stage-1 linear classifier :math:`(W, b)`
(:math:`W \in \mathbb{R}^{C \times D}`) and the cached training features
into one candidate linear classifier :math:`(W_g, b_g)` per value of its
grid, so that one code path scores, chooses, tests and writes all of them.
Trained methods share the loss of :func:`retraining_loss` and the schedule
of :func:`mmlt.retraining.trainer.train_candidates`; they differ in the
parameters they train (:meth:`RetrainingMethod.init_params`,
:meth:`RetrainingMethod.classifiers`), the sampling, the logit adjustment
and the label smoothing. A new method is one subclass registered with
``@RETRAINING_METHODS.register_module(name=...)``.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.registry import Registry

from mmlt.experiments.selection import DEFAULT_TAUS

RETRAINING_METHODS = Registry(
    'classifier re-training method', locations=['mmlt.retraining.methods'])

SAMPLINGS = ('instance', 'class_balanced')
DEFAULT_LRS = (5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1)


def retraining_loss(logits: torch.Tensor,
                    labels: torch.Tensor,
                    adjustment: Optional[torch.Tensor] = None,
                    smoothing: Optional[torch.Tensor] = None
                    ) -> torch.Tensor:
    r"""Mean loss of each of G stacked heads on one batch.

    With adjusted logits :math:`a = z + \delta` (:math:`\delta` the logit
    adjustment of head :math:`g`, e.g. :math:`\tau \log \pi`) and the
    smoothing :math:`\epsilon_{g,y}` of the sample's class,

    .. math::
        \ell_g = \mathrm{LSE}(a) - (1 - \epsilon_{g,y})\, a_y
        - \epsilon_{g,y}\, \frac{1}{C} \sum_j a_j,

    the cross-entropy against :math:`(1 - \epsilon) \mathbf{1}_y +
    \epsilon / C`: plain CE (:math:`\delta = 0, \epsilon = 0`), logit
    adjusted / Balanced Softmax CE, LORT (:math:`\epsilon` per head) and
    MiSLAS (:math:`\epsilon` per head and class).

    Args:
        logits (torch.Tensor): Logits of the G heads, shape (G, B, C).
        labels (torch.Tensor): Class indices, shape (B, ).
        adjustment (torch.Tensor, optional): Added to the logits, shape
            (G, C). Defaults to None (no adjustment).
        smoothing (torch.Tensor, optional): :math:`\epsilon` per head and
            class, shape (G, C). Defaults to None (no smoothing).

    Returns:
        torch.Tensor: Shape (G, ), each head's mean over the batch.
    """
    if adjustment is not None:
        logits = logits + adjustment[:, None, :]
    index = labels[None, :, None].expand(logits.size(0), -1, 1)
    own = logits.gather(2, index).squeeze(2)
    loss = torch.logsumexp(logits, dim=2) - own
    if smoothing is not None:
        eps = smoothing[:, labels]
        loss = loss + eps * (own - logits.mean(dim=2))
    return loss.mean(dim=1)


def log_prior(class_counts: torch.Tensor) -> torch.Tensor:
    """Log of the training label prior :math:`\\pi_c = n_c / \\sum n`."""
    counts = class_counts.double()
    return torch.log(counts / counts.sum()).float()


class RetrainingMethod:
    """Base of the re-training methods: a grid of one hyper-parameter and,
    per grid value, a linear classifier.

    Subclasses set ``grid_key`` (the name of the hyper-parameter),
    ``default_grid`` and ``sampling`` (``'instance'``, ``'class_balanced'``,
    or None for a method without training) and override
    :meth:`classifiers`; trained ones also :meth:`init_params` and, where
    the loss is not plain CE, :meth:`loss_terms`.

    Args:
        grid (Sequence, optional): The values to try. Defaults to None
            (``default_grid``).
    """
    grid_key: str = 'lr'
    default_grid: Tuple = DEFAULT_LRS
    sampling: Optional[str] = 'instance'

    def __init__(self, grid: Optional[Sequence] = None) -> None:
        name = type(self).__name__
        grid = self.default_grid if grid is None else grid
        if isinstance(grid, (str, bytes)) or len(grid) == 0:
            raise ValueError(
                f'{name}: the grid of {self.grid_key!r} is empty (got '
                f'{grid!r}); give at least one value.')
        self.grid = tuple(self.check_value(v) for v in grid)

    @property
    def trains(self) -> bool:
        """Whether the method trains parameters on the features."""
        return self.sampling is not None

    def check_value(self, value) -> float:
        """One grid value, validated (a finite number >= 0 by default)."""
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value < 0):
            raise ValueError(
                f'{type(self).__name__}: {self.grid_key} must be a finite '
                f'number >= 0, got {value!r}.')
        return float(value)

    def learning_rates(self, lr: float) -> torch.Tensor:
        """Learning rate of each candidate: the grid for an lr grid, else
        ``lr`` for all."""
        if self.grid_key == 'lr':
            return torch.tensor(self.grid)
        return torch.full((len(self.grid), ), float(lr))

    def init_params(self, weight: torch.Tensor,
                    bias: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Trainable parameters of the G candidates, stacked on dim 0.

        Args:
            weight (torch.Tensor): Stage-1 weight (C, D), float32.
            bias (torch.Tensor): Stage-1 bias (C, ), float32.
        """
        num_heads = len(self.grid)
        return dict(
            weight=weight.expand(num_heads, -1, -1).clone(),
            bias=bias.expand(num_heads, -1).clone())

    def classifiers(self, params: Dict[str, torch.Tensor],
                    weight: torch.Tensor, bias: torch.Tensor,
                    class_counts: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The G linear classifiers, weight (G, C, D) and bias (G, C).

        Args:
            params (dict): From :meth:`init_params` (empty if the method
                does not train).
            weight (torch.Tensor): Stage-1 weight (C, D).
            bias (torch.Tensor): Stage-1 bias (C, ).
            class_counts (torch.Tensor): Training images per class (C, ).
        """
        return params['weight'], params['bias']

    def loss_terms(self, class_counts: torch.Tensor
                   ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Logit adjustment and smoothing of :func:`retraining_loss`, each
        (G, C) or None."""
        return None, None


@RETRAINING_METHODS.register_module(name='ce')
class CERetraining(RetrainingMethod):
    """Cross-entropy re-training with instance-balanced sampling (the plain
    baseline); grid: learning rate."""


@RETRAINING_METHODS.register_module(name='crt')
class CRT(RetrainingMethod):
    """cRT (Kang et al., ICLR 2020): cross-entropy re-training with
    class-balanced sampling (:class:`ClassAwareSampler`); grid: learning
    rate."""
    sampling = 'class_balanced'


@RETRAINING_METHODS.register_module(name='lws')
class LWS(RetrainingMethod):
    r"""Learnable weight scaling (Kang et al., ICLR 2020): the stage-1
    classifier stays, a per-class scale :math:`s_c` (initialised to 1) is
    learnt with class-balanced sampling, :math:`z_c = s_c (w_c^\top x +
    b_c)`; grid: learning rate."""
    sampling = 'class_balanced'

    def init_params(self, weight, bias):
        return dict(scale=torch.ones(len(self.grid), weight.size(0)))

    def classifiers(self, params, weight, bias, class_counts):
        scale = params['scale']
        return scale[:, :, None] * weight, scale * bias


@RETRAINING_METHODS.register_module(name='balanced_softmax')
class BalancedSoftmaxRetraining(RetrainingMethod):
    r"""Balanced Softmax (Ren et al., NeurIPS 2020) re-training:
    cross-entropy of :math:`z + \log \pi`, prediction from :math:`z`;
    grid: learning rate."""

    def loss_terms(self, class_counts):
        adjustment = log_prior(class_counts).expand(len(self.grid), -1)
        return adjustment, None


@RETRAINING_METHODS.register_module(name='logit_adjust')
class LogitAdjustRetraining(RetrainingMethod):
    r"""Logit-adjusted loss (Menon et al., ICLR 2021) re-training:
    cross-entropy of :math:`z + \tau \log \pi`, prediction from :math:`z`;
    grid: :math:`\tau`."""
    grid_key = 'tau'
    default_grid = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)

    def loss_terms(self, class_counts):
        taus = torch.tensor(self.grid)[:, None]
        return taus * log_prior(class_counts), None


@RETRAINING_METHODS.register_module(name='lort')
class LORTRetraining(RetrainingMethod):
    r"""LORT (arXiv 2403.00250): cross-entropy against the over-smoothed
    target :math:`(1 - \epsilon) \mathbf{1}_y + \epsilon / C` with
    instance-balanced sampling (:class:`LORTLoss`); grid:
    :math:`\epsilon \in [0, 1)`."""
    grid_key = 'eps'
    default_grid = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)

    def check_value(self, value) -> float:
        value = super().check_value(value)
        if value >= 1:
            raise ValueError(f'{type(self).__name__}: eps must be in [0, 1), '
                             f'got {value!r}.')
        return value

    def loss_terms(self, class_counts):
        eps = torch.tensor(self.grid)[:, None]
        return None, eps.expand(-1, class_counts.numel())


@RETRAINING_METHODS.register_module(name='mislas')
class MiSLAS(RetrainingMethod):
    r"""Label-aware smoothing of MiSLAS (Zhong et al., CVPR 2021) with
    class-balanced sampling. Class :math:`c` with :math:`n_c` training
    images is smoothed by

    .. math::
        \epsilon_c = \epsilon_K + (\epsilon_1 - \epsilon_K)
        \frac{n_c - n_{min}}{n_{max} - n_{min}}

    (the paper's linear form: :math:`\epsilon_1` for the largest class,
    :math:`\epsilon_K` for the smallest); grid: pairs
    :math:`(\epsilon_1, \epsilon_K)`, each in [0, 1)."""
    grid_key = 'eps_head_tail'
    default_grid = ((0.1, 0.0), (0.2, 0.0), (0.3, 0.0), (0.4, 0.0),
                    (0.2, 0.1), (0.3, 0.1), (0.4, 0.1), (0.5, 0.1))
    sampling = 'class_balanced'

    def check_value(self, value) -> Tuple[float, float]:
        if (not isinstance(value, (tuple, list)) or len(value) != 2 or any(
                isinstance(v, bool) or not isinstance(v, (int, float))
                or not 0 <= v < 1 for v in value)):
            raise ValueError(
                f'MiSLAS: each grid value must be a pair (eps_head, '
                f'eps_tail) of numbers in [0, 1), got {value!r}.')
        return float(value[0]), float(value[1])

    def loss_terms(self, class_counts):
        counts = class_counts.double()
        span = counts.max() - counts.min()
        position = ((counts - counts.min()) /
                    span if span > 0 else torch.ones_like(counts))
        head, tail = torch.tensor(self.grid, dtype=torch.float64).unbind(1)
        eps = tail[:, None] + (head - tail)[:, None] * position
        return None, eps.float()


@RETRAINING_METHODS.register_module(name='tau_norm')
class TauNorm(RetrainingMethod):
    r"""The tau-normalised stage-1 classifier (Kang et al., ICLR 2020),
    :math:`w_c / \lVert w_c \rVert^{\tau}`, bias dropped (see
    :class:`mmlt.evaluation.rebalancers.TauNormalization`); no training;
    grid: :math:`\tau`."""
    grid_key = 'tau'
    default_grid = DEFAULT_TAUS
    sampling = None

    def classifiers(self, params, weight, bias, class_counts):
        norms = weight.double().norm(dim=1)
        if not bool((norms > 0).all()):
            raise ValueError(
                f'tau_norm: class {int((norms == 0).nonzero()[0])} has a '
                'zero weight vector; it cannot be tau-normalised.')
        taus = torch.tensor(self.grid, dtype=torch.float64)[:, None, None]
        weights = weight.double() / norms[None, :, None].pow(taus)
        return weights.float(), torch.zeros(len(self.grid), weight.size(0))


@RETRAINING_METHODS.register_module(name='posthoc_la')
class PosthocLogitAdjust(RetrainingMethod):
    r"""Post-hoc logit adjustment (Menon et al., ICLR 2021) of the stage-1
    classifier, :math:`z - \tau \log \pi` (a bias change); no training;
    grid: :math:`\tau`."""
    grid_key = 'tau'
    default_grid = DEFAULT_TAUS
    sampling = None

    def classifiers(self, params, weight, bias, class_counts):
        taus = torch.tensor(self.grid)[:, None]
        return (weight.expand(len(self.grid), -1, -1),
                bias - taus * log_prior(class_counts))


def method_names() -> List[str]:
    """Names of the registered methods, in registration order."""
    return list(RETRAINING_METHODS.module_dict)


def build_method(name: str, grid: Optional[Sequence] = None
                 ) -> RetrainingMethod:
    """The method registered as ``name``, with ``grid`` (or its default).

    Args:
        name (str): A name of :func:`method_names`.
        grid (Sequence, optional): Its grid. Defaults to None.
    """
    if name not in RETRAINING_METHODS.module_dict:
        raise ValueError(f'Unknown re-training method {name!r}; known: '
                       f'{", ".join(method_names())}.')
    return RETRAINING_METHODS.get(name)(grid=grid)
