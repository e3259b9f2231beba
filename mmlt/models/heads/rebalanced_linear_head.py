import math
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .logits_linear_head import LogitsLinearClsHead

REBALANCE_METHODS = ('prediction', 'logit_adjust', 'tau_norm')
ClassCounts = Union[Sequence[float], np.ndarray, torch.Tensor]


def check_tau(tau: float, owner: str) -> float:
    """Return ``tau`` as a float if it is a finite number >= 0, else raise
    a ValueError naming ``owner``."""
    if not (isinstance(tau, (int, float)) and math.isfinite(tau)
            and tau >= 0):
        raise ValueError(
            f'{owner}: tau must be a finite number >= 0, got {tau!r}.')
    return float(tau)


def check_method(method: str, owner: str) -> str:
    """Return ``method`` if it is one of :data:`REBALANCE_METHODS`."""
    if method not in REBALANCE_METHODS:
        raise ValueError(f'{owner}: method must be one of '
                         f'{REBALANCE_METHODS}, got {method!r}.')
    return method


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


def check_class_counts(counts: ClassCounts,
                       num_classes: int) -> torch.Tensor:
    """Validate training images per class; return them as float64 on CPU.

    Args:
        counts (Sequence[float] | np.ndarray | torch.Tensor): ``C`` positive,
            finite counts of the TRAIN split (``train_class_counts``).
        num_classes (int): The number of classes ``C`` they must match.

    Returns:
        torch.Tensor: Shape (C, ), float64.
    """
    counts = torch.as_tensor(counts).detach().cpu().to(torch.float64)
    if counts.dim() != 1:
        raise ValueError('train_class_counts must be a 1-D sequence, got '
                         f'shape {tuple(counts.shape)}.')
    if counts.numel() != num_classes:
        raise ValueError(f'Got {counts.numel()} train class counts for '
                         f'{num_classes} classes.')
    bad = ~(torch.isfinite(counts) & (counts > 0))
    if bool(bad.any()):
        index = int(bad.nonzero()[0])
        raise ValueError(
            'Every class needs a positive, finite training count, but class '
            f'{index} has {counts[index].item():g}.')
    return counts


def adjust_logits(logits: torch.Tensor, train_class_counts: ClassCounts,
                  tau: float) -> torch.Tensor:
    r"""Post-hoc logit adjustment (Menon et al., ICLR 2021, eq. (9)).

    :math:`\tilde z_j = z_j - \tau \log \pi_j` with the training label prior
    :math:`\pi_j = n_j / \sum_{j'} n_{j'}`.

    Args:
        logits (torch.Tensor): Plain logits, shape (N, C).
        train_class_counts (Sequence[float] | torch.Tensor): Training images
            per class :math:`n_j` of the TRAIN split, shape (C, ).
        tau (float): Temperature :math:`\tau \ge 0`; 0 leaves the logits
            unchanged.

    Returns:
        torch.Tensor: Adjusted logits, shape (N, C), float64.
    """
    if logits.dim() != 2:
        raise ValueError('adjust_logits needs logits of shape (N, C), got '
                         f'{tuple(logits.shape)}.')
    tau = check_tau(tau, 'adjust_logits')
    counts = check_class_counts(train_class_counts, logits.size(1))
    log_prior = torch.log(counts / counts.sum()).to(logits.device)
    return logits.to(torch.float64) - tau * log_prior


def tau_normalize_logits(logits: torch.Tensor, weight: torch.Tensor,
                         bias: Optional[torch.Tensor],
                         tau: float) -> torch.Tensor:
    r"""Logits of the tau-normalised classifier (Kang et al., ICLR 2020).

    The classifier :math:`z_j = w_j^\top x + b_j` is replaced by
    :math:`\tilde z_j = w_j^\top x / \lVert w_j \rVert_2^{\tau}`; the bias is
    dropped, as in the authors' ``tau_norm.py`` (it loads ``fc.bias`` but
    scores with the normalised weights only). Computed from the plain logits
    as :math:`(z_j - b_j) / \lVert w_j \rVert^{\tau}`, so the plain
    ``pred_logits`` of a split are all a tau sweep needs.

    Args:
        logits (torch.Tensor): Plain logits :math:`z`, shape (N, C).
        weight (torch.Tensor): Classifier weight, shape (C, D).
        bias (torch.Tensor, optional): Classifier bias, shape (C, ), or None.
        tau (float): Exponent :math:`\tau \ge 0`; 0 gives the classifier
            without its bias.

    Returns:
        torch.Tensor: Shape (N, C), float64.
    """
    num_classes = weight.size(0)
    if (logits.dim() != 2 or weight.dim() != 2
            or logits.size(1) != num_classes
            or (bias is not None and bias.shape != (num_classes, ))):
        raise ValueError(
            f'tau_normalize_logits got logits of shape {tuple(logits.shape)}'
            f', weight {tuple(weight.shape)} and bias '
            f'{None if bias is None else tuple(bias.shape)}; expected (N, C)'
            ', (C, D) and (C, ).')
    tau = check_tau(tau, 'tau_normalize_logits')
    weight = weight.detach().to(device=logits.device, dtype=torch.float64)
    norms = weight.norm(dim=1)
    if tau > 0 and not bool((norms > 0).all()):
        index = int((norms == 0).nonzero()[0])
        raise ValueError(f'Class {index} has a zero weight vector; it cannot '
                         'be tau-normalised.')
    unbiased = logits.to(torch.float64)
    if bias is not None:
        unbiased = unbiased - bias.detach().to(unbiased)
    return unbiased / norms.pow(tau)


def rebalanced_probs(logits: torch.Tensor,
                     method: str,
                     tau: float,
                     mass: Optional[torch.Tensor] = None,
                     train_class_counts: Optional[ClassCounts] = None,
                     weight: Optional[torch.Tensor] = None,
                     bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Class probabilities of plain logits re-balanced post hoc.

    The one place that applies a ``method`` of :data:`REBALANCE_METHODS`;
    :class:`RebalancedLinearClsHead` and the tau sweep of
    ``tools/analysis/select_tau.py`` both call it.

    Args:
        logits (torch.Tensor): Plain logits, shape (N, C).
        method (str): ``'prediction'`` (:func:`rebalance_probs` of the
            softmax), ``'logit_adjust'`` (softmax of :func:`adjust_logits`)
            or ``'tau_norm'`` (softmax of :func:`tau_normalize_logits`).
        tau (float): Exponent of the method, >= 0.
        mass (torch.Tensor, optional): Column masses (C, ) for
            ``'prediction'``.
        train_class_counts (Sequence[float], optional): TRAIN split class
            counts (C, ) for ``'logit_adjust'``.
        weight (torch.Tensor, optional): Classifier weight (C, D) for
            ``'tau_norm'``.
        bias (torch.Tensor, optional): Classifier bias (C, ) for
            ``'tau_norm'``, None if it has none.

    Returns:
        torch.Tensor: Shape (N, C), float64, rows summing to 1.
    """
    check_method(method, 'rebalanced_probs')
    needed = dict(
        prediction=('mass', mass),
        logit_adjust=('train_class_counts', train_class_counts),
        tau_norm=('weight', weight))[method]
    if needed[1] is None:
        raise ValueError(f'rebalanced_probs(method={method!r}) needs '
                         f'`{needed[0]}`.')
    logits = logits.detach().to(torch.float64)
    if method == 'prediction':
        return rebalance_probs(F.softmax(logits, dim=1), mass, tau)
    if method == 'logit_adjust':
        adjusted = adjust_logits(logits, train_class_counts, tau)
    else:
        adjusted = tau_normalize_logits(logits, weight, bias, tau)
    return F.softmax(adjusted, dim=1)


@MODELS.register_module()
class RebalancedLinearClsHead(LogitsLinearClsHead):
    r"""Linear head with post-hoc re-balancing of its predictions.

    Training is that of :class:`LinearClsHead`. At prediction time, with
    plain logits :math:`z` and :math:`p = \mathrm{softmax}(z)`, ``method``
    selects the re-balancing, each with its own ``tau``:

    - ``'prediction'``: GALA's (arXiv 2403.09036)
      :math:`\hat p_{ij} \propto p_{ij} / m_j^{\tau}`, :math:`m_j =
      \sum_{i'} p_{i'j}` (see :func:`rebalance_probs`). The column masses
      come from the whole evaluation set (transductive, as in the paper:
      the head emits plain predictions and :class:`RebalancedAccuracy`
      re-balances after gathering all ranks'), or from a chosen split,
      estimated once (``tools/analysis/estimate_column_mass.py``) into the
      persistent buffers ``column_mass`` / ``column_mass_samples`` (0
      samples means not estimated; predictions stay plain until then).
    - ``'logit_adjust'``: post-hoc logit adjustment (Menon et al., ICLR
      2021), :math:`\mathrm{softmax}(z_j - \tau \log \pi_j)`,
      :math:`\pi_j = n_j / \sum_{j'} n_{j'}` with the TRAIN split's class
      counts :math:`n` (see :func:`adjust_logits`), kept in the persistent
      buffer ``train_class_counts`` (all zeros means not set).
    - ``'tau_norm'``: the tau-normalised classifier (Kang et al., ICLR
      2020), :math:`\mathrm{softmax}(w_j^\top x / \lVert w_j
      \rVert^{\tau})`, bias dropped (see :func:`tau_normalize_logits`).

    Re-balanced predictions (``'prediction'`` with stored column masses,
    and the other two methods always) carry the float64 re-balanced
    ``pred_score`` and its ``pred_label``, so single-image inference (e.g.
    ``mmpretrain.apis.ImageClassificationInferencer``) is re-balanced, and
    the metainfo ``rebalance_method`` / ``rebalance_tau`` records how.
    ``pred_logits`` always holds the plain logits, so one evaluation can
    report accuracy with and without re-balancing.

    The class counts are given as ``train_class_counts``, by
    :meth:`set_class_counts` (which :class:`ClassCountsHook` calls with the
    train dataset's ``train_class_counts`` at ``before_train``), or by a
    checkpoint that carries them. A checkpoint without counts (all zeros)
    keeps the configured ones; one with different counts is refused.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Number of input channels.
        method (str): ``'prediction'``, ``'logit_adjust'`` or
            ``'tau_norm'``. Defaults to ``'prediction'``.
        tau (float): Exponent of the chosen method, >= 0 (0: no
            re-balancing, except that ``'tau_norm'`` still drops the bias).
            Defaults to 1.0 (GALA's authors used 1.0 on CIFAR, 1.7
            ImageNet-LT, 1.5 iNaturalist, 1.4 Places-LT; 1 is the Bayes-
            consistent logit adjustment); choose it on a validation split
            with ``tools/analysis/select_tau.py --method METHOD``.
        train_class_counts (Sequence[float], optional): Training images per
            class of the TRAIN split, for ``'logit_adjust'``. Defaults to
            None.
        **kwargs: Other arguments of :class:`LinearClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 method: str = 'prediction',
                 tau: float = 1.0,
                 train_class_counts: Optional[ClassCounts] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, **kwargs)
        name = type(self).__name__
        self.method = check_method(method, name)
        self.tau = check_tau(tau, name)
        self.register_buffer('column_mass',
                             torch.zeros(num_classes, dtype=torch.float64))
        self.register_buffer('column_mass_samples',
                             torch.zeros((), dtype=torch.int64))
        self.register_buffer('train_class_counts',
                             torch.zeros(num_classes, dtype=torch.float64))
        if train_class_counts is not None:
            self.set_class_counts(train_class_counts)

    @property
    def has_column_mass(self) -> bool:
        """Whether column masses have been estimated and stored."""
        return int(self.column_mass_samples) > 0

    @property
    def class_counts(self) -> Optional[torch.Tensor]:
        """The stored train class counts, or None if not set."""
        if not bool(self.train_class_counts.any()):
            return None
        return self.train_class_counts

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

    @torch.no_grad()
    def set_class_counts(self, train_class_counts: ClassCounts) -> None:
        """Store the training images per class of the TRAIN split.

        Args:
            train_class_counts (Sequence[float] | torch.Tensor): Shape
                (C, ), positive and finite.
        """
        self.train_class_counts.copy_(
            check_class_counts(train_class_counts, self.num_classes))

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        # A checkpoint without counts (zeros) must not erase configured ones.
        key = f'{prefix}train_class_counts'
        stored = state_dict.get(key)
        if stored is not None and self.class_counts is not None:
            if not bool(stored.any()):
                state_dict = {**state_dict, key: self.train_class_counts}
            elif not torch.equal(stored.to(self.train_class_counts),
                                 self.train_class_counts):
                raise ValueError(
                    f'The checkpoint has train class counts {key} '
                    f'({stored.numel()} classes, {stored.sum():g} images) '
                    'that differ from the configured train_class_counts '
                    f'({self.num_classes} classes, '
                    f'{self.train_class_counts.sum():g} images); remove one '
                    'or make them match.')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def rebalance(self, cls_score: torch.Tensor) -> Optional[torch.Tensor]:
        """Re-balanced probabilities of plain logits with the head's method
        and tau, or None for ``'prediction'`` without stored column masses
        (re-balanced transductively by :class:`RebalancedAccuracy`).

        Args:
            cls_score (torch.Tensor): Plain logits, shape (N, C).

        Returns:
            torch.Tensor | None: Shape (N, C), float64.
        """
        if self.method == 'prediction' and not self.has_column_mass:
            return None
        if self.method == 'logit_adjust' and self.class_counts is None:
            raise ValueError(
                f"{type(self).__name__}(method='logit_adjust') has no "
                'train class counts. They are the training images per class '
                'of the TRAIN split (`train_class_counts` in the metainfo of '
                'every mmlt long-tailed dataset, or its '
                '`get_train_class_counts()`): pass them as '
                'model.head.train_class_counts, load a checkpoint that '
                "carries them, or train with dict(type='ClassCountsHook') in "
                'custom_hooks.')
        return rebalanced_probs(
            cls_score,
            self.method,
            self.tau,
            mass=self.column_mass,
            train_class_counts=self.class_counts,
            weight=self.fc.weight,
            bias=self.fc.bias)

    def _get_predictions(self, cls_score: torch.Tensor,
                         data_samples: Optional[List[Optional[DataSample]]]
                         ) -> List[DataSample]:
        scores = self.rebalance(cls_score)
        if scores is None:
            return super()._get_predictions(cls_score, data_samples)
        predictions = self._pack_predictions(cls_score, scores, data_samples)
        for data_sample in predictions:
            data_sample.set_field(
                self.method, 'rebalance_method', field_type='metainfo')
            data_sample.set_field(
                self.tau, 'rebalance_tau', field_type='metainfo')
        return predictions
