from typing import List, Optional

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .logits_linear_head import LogitsLinearClsHead


def column_mass(probs: torch.Tensor) -> torch.Tensor:
    """Column masses :math:`m_j = \\sum_i p_{ij}` of a set of predictions.

    Args:
        probs (torch.Tensor): Class probabilities, shape (N, C).

    Returns:
        torch.Tensor: Shape (C, ), float64.
    """
    if probs.dim() != 2 or probs.size(0) == 0:
        raise ValueError('column_mass needs probabilities of shape (N, C) '
                         f'with N >= 1, got {tuple(probs.shape)}.')
    return probs.to(torch.float64).sum(dim=0)


def rebalance_probs(probs: torch.Tensor, mass: torch.Tensor,
                    tau: float) -> torch.Tensor:
    r"""Prediction re-balancing of GALA (arXiv 2403.09036).

    :math:`\hat p_{ij} \propto p_{ij} / m_j^{\tau}` with column masses
    :math:`m_j = \sum_{i'} p_{i'j}` over an evaluation set; each row is
    renormalised to sum to 1 (this does not change its ranking).

    Args:
        probs (torch.Tensor): Class probabilities, shape (N, C).
        mass (torch.Tensor): Column masses, shape (C, ), all positive.
        tau (float): Exponent :math:`\tau`; 0 leaves ``probs`` unchanged.

    Returns:
        torch.Tensor: Re-balanced probabilities, shape (N, C), float64.
    """
    if mass.dim() != 1 or probs.dim() != 2 or probs.size(1) != mass.numel():
        raise ValueError(f'rebalance_probs got probabilities of shape '
                         f'{tuple(probs.shape)} and column masses of shape '
                         f'{tuple(mass.shape)}; expected (N, C) and (C, ).')
    mass = mass.to(device=probs.device, dtype=torch.float64)
    if not bool(torch.isfinite(mass).all() and (mass > 0).all()):
        raise ValueError('Column masses must be finite and positive, got '
                         f'min {float(mass.min())}, max {float(mass.max())}.')
    rebalanced = probs.to(torch.float64) / mass.pow(tau)
    return rebalanced / rebalanced.sum(dim=1, keepdim=True)


@MODELS.register_module()
class RebalancedLinearClsHead(LogitsLinearClsHead):
    r"""Linear head with GALA's post-hoc prediction re-balancing.

    With :math:`p = \mathrm{softmax}(z)` of the plain logits (no training-time
    adjustment at test time), re-balanced predictions are
    :math:`\hat p_{ij} \propto p_{ij} / m_j^{\tau}`, :math:`m_j = \sum_{i'}
    p_{i'j}` (see :func:`rebalance_probs`). The column masses come from

    1. the whole evaluation set (transductive, as in the paper): the head
       emits plain ``pred_logits`` and ``pred_score``, and
       :class:`RebalancedAccuracy` re-balances after gathering all ranks'
       predictions;
    2. a chosen split, estimated once (``tools/analysis/
       estimate_column_mass.py``) and stored in the persistent buffers
       ``column_mass`` / ``column_mass_samples`` (0 samples means not
       estimated). Once estimated, ``pred_score`` and ``pred_label`` are the
       re-balanced float64 predictions, so single-image inference (e.g.
       ``mmpretrain.apis.ImageClassificationInferencer``) is re-balanced, and
       the metainfo ``rebalance_tau`` records the tau used.

    ``pred_logits`` always holds the plain logits, so one evaluation can
    report accuracy with and without re-balancing.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Number of input channels.
        tau (float): Re-balancing exponent for stored column masses.
            Defaults to 1.0 (the authors used 1.0 on CIFAR, 1.7 ImageNet-LT,
            1.5 iNaturalist, 1.4 Places-LT); choose it on a validation split
            with ``tools/analysis/select_tau.py``.
        **kwargs: Other arguments of :class:`LinearClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 tau: float = 1.0,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, **kwargs)
        if tau < 0:
            raise ValueError(f'tau must be non-negative, got {tau}.')
        self.tau = tau
        self.register_buffer('column_mass',
                             torch.zeros(num_classes, dtype=torch.float64))
        self.register_buffer('column_mass_samples',
                             torch.zeros((), dtype=torch.int64))

    @property
    def has_column_mass(self) -> bool:
        """Whether column masses have been estimated and stored."""
        return int(self.column_mass_samples) > 0

    @torch.no_grad()
    def set_column_mass(self, mass: torch.Tensor, num_samples: int) -> None:
        """Store column masses estimated on ``num_samples`` samples.

        Args:
            mass (torch.Tensor): Shape (C, ), finite and positive.
            num_samples (int): Number of samples they were summed over.
        """
        if mass.shape != (self.num_classes, ):
            raise ValueError(
                f'Column masses must have shape ({self.num_classes}, ), got '
                f'{tuple(mass.shape)}.')
        if not bool(torch.isfinite(mass).all() and (mass > 0).all()):
            raise ValueError('Column masses must be finite and positive.')
        if num_samples < 1:
            raise ValueError(
                f'num_samples must be positive, got {num_samples}.')
        self.column_mass.copy_(mass)
        self.column_mass_samples.fill_(num_samples)

    def _get_predictions(self, cls_score: torch.Tensor,
                         data_samples: Optional[List[Optional[DataSample]]]
                         ) -> List[DataSample]:
        if not self.has_column_mass:
            return super()._get_predictions(cls_score, data_samples)
        probs = F.softmax(cls_score.detach().to(torch.float64), dim=1)
        scores = rebalance_probs(probs, self.column_mass, self.tau)
        predictions = self._pack_predictions(cls_score, scores, data_samples)
        for data_sample in predictions:
            data_sample.set_field(
                self.tau, 'rebalance_tau', field_type='metainfo')
        return predictions
