r"""Post-hoc re-balancing of a classifier's plain logits.

A re-balancer maps plain logits :math:`z` (N, C) to re-balanced class
probabilities (N, C). Each method is one class registered in
:data:`mmlt.registry.REBALANCERS`, built from the same
``rebalance=dict(type=..., tau=...)`` by :class:`RebalancedLinearClsHead`
(single-image predictions) and :class:`RebalancedAccuracy` (an evaluation
set); a new method is one more class.

What a method needs besides the logits is named in its ``requires``:
``column_mass`` (C, ), ``train_class_counts`` (C, ) of the TRAIN split, or
the classifier ``weight`` (C, D) (with its ``bias`` (C, ), or None).
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict

from mmlt.registry import REBALANCERS
from .shot_groups import ClassCounts, check_class_counts

REBALANCER_INPUTS = ('column_mass', 'train_class_counts', 'weight', 'bias')


def check_tau(tau: float, owner: str) -> float:
    """Return ``tau`` as a float if it is a finite number >= 0, else raise
    a ValueError naming ``owner``."""
    if not (isinstance(tau, (int, float)) and not isinstance(tau, bool)
            and math.isfinite(tau) and tau >= 0):
        raise ValueError(
            f'{owner}: tau must be a finite number >= 0, got {tau!r}.')
    return float(tau)


def check_finite_logits(logits: torch.Tensor, owner: str) -> None:
    """Refuse logits that are not (N, C) with N >= 1 or hold NaN / inf.

    Args:
        logits (torch.Tensor): Plain logits, shape (N, C).
        owner (str): Who checks, for the error message.
    """
    if logits.dim() != 2 or logits.size(0) == 0:
        raise ValueError(f'{owner} needs logits of shape (N, C) with N >= 1, '
                         f'got {tuple(logits.shape)}.')
    bad = ~torch.isfinite(logits).all(dim=1)
    if bool(bad.any()):
        raise ValueError(
            f'{owner}: the logits became non-finite (NaN or inf) in '
            f'{int(bad.sum())} of {logits.size(0)} samples, first sample '
            f'{int(bad.nonzero()[0])}: the model diverged (e.g. too high a '
            'learning rate) or the checkpoint holds non-finite weights.')


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
    r""":math:`\hat p_{ij} \propto p_{ij} / m_j^{\tau}`, each row renormalised
    to sum to 1 (GALA's prediction re-balancing of probabilities).

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


class BaseRebalancer:
    """A post-hoc re-balancing of plain logits with an exponent ``tau``.

    Subclasses implement :meth:`rebalance` and name in ``requires`` the
    inputs of :data:`REBALANCER_INPUTS` it cannot do without.

    Args:
        tau (float): The exponent, >= 0. Defaults to 1.0.
    """
    requires: Tuple[str, ...] = ()

    def __init__(self, tau: float = 1.0) -> None:
        self.tau = check_tau(tau, type(self).__name__)

    def __call__(self,
                 logits: torch.Tensor,
                 column_mass: Optional[torch.Tensor] = None,
                 train_class_counts: Optional[ClassCounts] = None,
                 weight: Optional[torch.Tensor] = None,
                 bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Re-balanced probabilities of ``logits``.

        Args:
            logits (torch.Tensor): Plain logits, shape (N, C), finite.
            column_mass (torch.Tensor, optional): Column masses (C, ).
            train_class_counts (Sequence[float], optional): Training images
                per class of the TRAIN split (C, ).
            weight (torch.Tensor, optional): Classifier weight (C, D).
            bias (torch.Tensor, optional): Classifier bias (C, ).

        Returns:
            torch.Tensor: Shape (N, C), float64, rows summing to 1.
        """
        inputs = dict(
            column_mass=column_mass,
            train_class_counts=train_class_counts,
            weight=weight,
            bias=bias)
        missing = [name for name in self.requires if inputs[name] is None]
        if missing:
            raise ValueError(f'{self!r} needs `{missing[0]}`.')
        check_finite_logits(logits, repr(self))
        return self.rebalance(logits.detach().to(torch.float64), **inputs)

    def rebalance(self, logits: torch.Tensor, **inputs) -> torch.Tensor:
        """The method itself, on float64 logits (N, C)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f'{type(self).__name__}(tau={self.tau:g})'


@REBALANCERS.register_module()
class PredictionRebalancing(BaseRebalancer):
    r"""Prediction re-balancing of GALA (arXiv 2403.09036).

    :math:`\hat p_{ij} \propto p_{ij} / m_j^{\tau}` with
    :math:`p = \mathrm{softmax}(z)` and column masses :math:`m_j =
    \sum_{i'} p_{i'j}`; each row is renormalised to sum to 1 (this does not
    change its ranking). Without ``column_mass`` the masses are those of
    ``logits`` themselves (transductive, as in the paper).

    Args:
        tau (float): Exponent :math:`\tau`; 0 leaves the softmax unchanged.
            Defaults to 1.0.
    """

    def rebalance(self, logits: torch.Tensor, **inputs) -> torch.Tensor:
        probs = F.softmax(logits, dim=1)
        mass = inputs['column_mass']
        if mass is None:
            mass = column_mass(probs)
        return rebalance_probs(probs, mass, self.tau)


@REBALANCERS.register_module()
class PosthocLogitAdjustment(BaseRebalancer):
    r"""Post-hoc logit adjustment (Menon et al., ICLR 2021, eq. (9)).

    :math:`\mathrm{softmax}(z_j - \tau \log \pi_j)` with the training label
    prior :math:`\pi_j = n_j / \sum_{j'} n_{j'}` of the TRAIN split's class
    counts :math:`n`.

    Args:
        tau (float): Temperature :math:`\tau \ge 0`; 0 leaves the softmax
            unchanged. Defaults to 1.0 (Bayes-consistent).
    """
    requires = ('train_class_counts', )

    def rebalance(self, logits: torch.Tensor, train_class_counts: ClassCounts,
                  **inputs) -> torch.Tensor:
        counts = torch.from_numpy(
            check_class_counts(train_class_counts, logits.size(1),
                               source='the logits'))
        log_prior = torch.log(counts / counts.sum()).to(logits.device)
        return F.softmax(logits - self.tau * log_prior, dim=1)


@REBALANCERS.register_module()
class TauNormalization(BaseRebalancer):
    r"""The tau-normalised classifier (Kang et al., ICLR 2020).

    The classifier :math:`z_j = w_j^\top x + b_j` is replaced by
    :math:`\tilde z_j = w_j^\top x / \lVert w_j \rVert_2^{\tau}`; the bias is
    dropped, as in the authors' ``tau_norm.py`` (it loads ``fc.bias`` but
    scores with the normalised weights only). Computed from the plain logits
    as :math:`(z_j - b_j) / \lVert w_j \rVert^{\tau}`, so the plain logits of
    a split and the classifier are all it needs.

    Args:
        tau (float): Exponent :math:`\tau \ge 0`; 0 gives the classifier
            without its bias. Defaults to 1.0.
    """
    requires = ('weight', )

    def rebalance(self, logits: torch.Tensor, weight: torch.Tensor,
                  bias: Optional[torch.Tensor] = None,
                  **inputs) -> torch.Tensor:
        num_classes = weight.size(0)
        if (weight.dim() != 2 or logits.size(1) != num_classes
                or (bias is not None and bias.shape != (num_classes, ))):
            raise ValueError(
                f'{self!r} got logits of shape {tuple(logits.shape)}, '
                f'weight {tuple(weight.shape)} and bias '
                f'{None if bias is None else tuple(bias.shape)}; expected '
                '(N, C), (C, D) and (C, ).')
        weight = weight.detach().to(device=logits.device, dtype=torch.float64)
        norms = weight.norm(dim=1)
        if self.tau > 0 and not bool((norms > 0).all()):
            index = int((norms == 0).nonzero()[0])
            raise ValueError(f'Class {index} has a zero weight vector; it '
                             'cannot be tau-normalised.')
        if bias is not None:
            logits = logits - bias.detach().to(logits)
        return F.softmax(logits / norms.pow(self.tau), dim=1)


def build_rebalancer(
        cfg: Union[dict, BaseRebalancer, None]) -> Optional[BaseRebalancer]:
    """Build a re-balancer from ``dict(type=..., tau=...)``.

    Args:
        cfg (dict | BaseRebalancer | None): The config, a built re-balancer
            (returned as is) or None (returned as is).

    Returns:
        BaseRebalancer | None: The re-balancer.
    """
    if cfg is None or isinstance(cfg, BaseRebalancer):
        return cfg
    if not isinstance(cfg, (dict, ConfigDict)) or 'type' not in cfg:
        raise TypeError('rebalance must be a dict with a `type` (one of '
                        f'{sorted(REBALANCERS.module_dict)}) and a `tau`, '
                        f'got {cfg!r}.')
    if cfg['type'] not in REBALANCERS.module_dict:
        raise ValueError(
            f'Unknown re-balancing type {cfg["type"]!r}; expected one of '
            f'{sorted(REBALANCERS.module_dict)}.')
    # mmlt's own root registry: build in its scope whatever the default
    # scope is (``_scope_='mmlt'`` is what ``mmlt::`` base configs set)
    return REBALANCERS.build(dict(cfg, _scope_=REBALANCERS.scope))
