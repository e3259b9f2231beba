import warnings
from typing import List, Optional

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmlt.evaluation.rebalancers import (PredictionRebalancing,
                                         build_rebalancer)
from mmlt.evaluation.shot_groups import ClassCounts, check_class_counts
from .logits_linear_head import LogitsLinearClsHead


@MODELS.register_module()
class RebalancedLinearClsHead(LogitsLinearClsHead):
    r"""Linear head with post-hoc re-balancing of its predictions.

    Training is that of :class:`LinearClsHead`. At prediction time the plain
    logits :math:`z` are re-balanced by ``rebalance``, a re-balancer of
    :mod:`mmlt.evaluation.rebalancers` given as ``dict(type=..., tau=...)``
    (the same dict as :class:`RebalancedAccuracy`'s):

    - ``PredictionRebalancing``: GALA's (arXiv 2403.09036)
      :math:`\hat p_{ij} \propto p_{ij} / m_j^{\tau}`. The column masses
      :math:`m_j` come from the whole evaluation set (transductive, as in
      the paper: the head emits plain predictions and
      :class:`RebalancedAccuracy` re-balances after gathering all ranks'),
      or from a chosen split, estimated once
      (``tools/analysis/estimate_column_mass.py``) into the persistent
      buffers ``column_mass`` / ``column_mass_samples`` (0 samples means
      not estimated; predictions stay plain until then, with a warning).
    - ``PosthocLogitAdjustment``: post-hoc logit adjustment (Menon et al.,
      ICLR 2021) with the TRAIN split's class counts, kept in the
      persistent buffer ``train_class_counts`` (all zeros means not set).
    - ``TauNormalization``: the tau-normalised classifier (Kang et al.,
      ICLR 2020) of this head's ``fc``, bias dropped.

    Every prediction carries the metainfo ``rebalance_method`` (the type),
    ``rebalance_tau`` and ``rebalanced``: True when ``pred_score`` /
    ``pred_label`` are the float64 re-balanced ones, so that single-image
    inference (e.g. ``mmpretrain.apis.ImageClassificationInferencer``) is
    re-balanced; False for ``PredictionRebalancing`` without stored column
    masses, whose scores are the plain softmax. ``pred_logits`` always holds
    the plain logits, so one evaluation can report accuracy with and
    without re-balancing.

    The class counts are given as ``train_class_counts``, by
    :meth:`set_class_counts` (which :class:`ClassCountsHook` calls with the
    train dataset's ``train_class_counts`` at ``before_train``), or by a
    checkpoint that carries them. A checkpoint without counts (all zeros)
    keeps the configured ones; one with different counts is refused.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Number of input channels.
        rebalance (dict): The re-balancer, ``dict(type=..., tau=...)``.
            Defaults to ``dict(type='PredictionRebalancing', tau=1.0)``
            (GALA's authors used tau 1.0 on CIFAR, 1.7 ImageNet-LT, 1.5
            iNaturalist, 1.4 Places-LT); choose tau on a validation split
            with ``tools/analysis/select_tau.py``.
        train_class_counts (Sequence[float], optional): Training images per
            class of the TRAIN split, for ``PosthocLogitAdjustment``.
            Defaults to None.
        **kwargs: Other arguments of :class:`LinearClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 rebalance: dict = dict(type='PredictionRebalancing', tau=1.0),
                 train_class_counts: Optional[ClassCounts] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, **kwargs)
        self.rebalancer = build_rebalancer(rebalance)
        if self.rebalancer is None:
            raise ValueError(f'{type(self).__name__} needs a `rebalance` '
                             'dict(type=..., tau=...).')
        self._warned_plain = False
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
            torch.from_numpy(
                check_class_counts(train_class_counts, self.num_classes,
                                   source="the head's predictions")))

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
        """Re-balanced probabilities of plain logits with the head's
        re-balancer, or None for ``PredictionRebalancing`` without stored
        column masses (re-balanced transductively by
        :class:`RebalancedAccuracy`).

        Args:
            cls_score (torch.Tensor): Plain logits, shape (N, C).

        Returns:
            torch.Tensor | None: Shape (N, C), float64.
        """
        if isinstance(self.rebalancer, PredictionRebalancing):
            if not self.has_column_mass:
                return None
            return self.rebalancer(cls_score, column_mass=self.column_mass)
        if 'train_class_counts' in self.rebalancer.requires \
                and self.class_counts is None:
            raise ValueError(
                f'{type(self).__name__}(rebalance={self.rebalancer!r}) has no '
                'train class counts. They are the training images per class '
                'of the TRAIN split (`train_class_counts` in the metainfo of '
                'every mmlt long-tailed dataset, or its '
                '`get_train_class_counts()`): pass them as '
                'model.head.train_class_counts, load a checkpoint that '
                "carries them, or train with dict(type='ClassCountsHook') in "
                'custom_hooks.')
        return self.rebalancer(
            cls_score,
            train_class_counts=self.class_counts,
            weight=self.fc.weight,
            bias=self.fc.bias)

    def _get_predictions(self, cls_score: torch.Tensor,
                         data_samples: Optional[List[Optional[DataSample]]]
                         ) -> List[DataSample]:
        predictions = super()._get_predictions(cls_score, data_samples)
        scores = self.rebalance(cls_score)
        if scores is None:
            self._warn_plain_once()
        else:
            labels = scores.argmax(dim=1, keepdim=True)
            for prediction, score, label in zip(predictions, scores, labels):
                prediction.set_pred_score(score).set_pred_label(label)
        metainfo = dict(
            rebalance_method=type(self.rebalancer).__name__,
            rebalance_tau=self.rebalancer.tau,
            rebalanced=scores is not None)
        for prediction in predictions:
            prediction.set_metainfo(metainfo)
        return predictions

    def _warn_plain_once(self) -> None:
        if self._warned_plain:
            return
        self._warned_plain = True
        warnings.warn(
            f'{type(self).__name__}: no column masses are stored, so its '
            f'predictions are NOT re-balanced by {self.rebalancer!r} (plain '
            'softmax; metainfo rebalanced=False). RebalancedAccuracy '
            're-balances an evaluation set by itself; for single-image '
            'inference store the masses of a split in the checkpoint with '
            '`python tools/analysis/estimate_column_mass.py CONFIG CKPT '
            '--split val --out NEW_CKPT`.')
