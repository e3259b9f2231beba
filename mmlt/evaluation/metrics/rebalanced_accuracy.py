from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmpretrain.registry import METRICS

from ..rebalancers import build_rebalancer
from ..shot_groups import resolve_train_class_counts
from .long_tail_accuracy import LongTailAccuracy, check_finite_predictions


@METRICS.register_module()
class RebalancedAccuracy(LongTailAccuracy):
    r"""Long-tail accuracy without and with post-hoc re-balancing.

    Reports every figure of :class:`LongTailAccuracy` twice: for the plain
    predictions :math:`p = \mathrm{softmax}(z)` of the ``pred_logits`` that
    :class:`LogitsLinearClsHead` / :class:`RebalancedLinearClsHead` emit
    (keys ``top1``, ``mean_class_acc``, ...), and for the re-balanced ones
    (keys ``rebalanced/top1``, ...), which are

    - with ``rebalance=dict(type=..., tau=...)`` (the same dict as the
      head's; :mod:`mmlt.evaluation.rebalancers`): the plain logits of the
      *whole* evaluation set re-balanced by it in :meth:`compute_metrics`,
      after the predictions of all ranks are gathered (in dataset order), so
      the figures equal those of a single-process run.
      ``PredictionRebalancing`` takes the column masses of this set
      (transductive, GALA's paper); ``PosthocLogitAdjustment`` the metric's
      training class counts. ``TauNormalization`` needs the classifier
      weights, which a metric does not see: use ``rebalance=None`` for it;
    - with ``rebalance=None``: the head's own re-balanced ``pred_score``,
      used as is (:class:`RebalancedLinearClsHead` with stored column
      masses, ``PosthocLogitAdjustment`` or ``TauNormalization``).

    The first keeps every sample's C logits until the end of the evaluation
    (N x C float32, e.g. 0.8 GB for iNaturalist 2018).

    Args:
        rebalance (dict, optional): The re-balancer, or None to score the
            head's re-balanced predictions. Defaults to
            ``dict(type='PredictionRebalancing', tau=1.0)``.
        **kwargs: Arguments of :class:`LongTailAccuracy` (``topk``,
            ``train_class_counts``, thresholds, ``num_bins``, ...).
    """

    def __init__(self,
                 rebalance: Optional[dict] = dict(
                     type='PredictionRebalancing', tau=1.0),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.rebalancer = build_rebalancer(rebalance)
        if self.rebalancer is not None and 'weight' in \
                self.rebalancer.requires:
            raise ValueError(
                f'RebalancedAccuracy cannot apply {self.rebalancer!r}: it '
                'needs the classifier weights, which a metric does not see. '
                'Give the head that rebalance dict and set the metric\'s '
                'rebalance=None to score the head\'s re-balanced '
                'predictions.')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store each sample's label, plain logits and, for
        ``rebalance=None``, the head's re-balanced scores.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with
                ``pred_logits`` and ``gt_label`` (and a re-balanced
                ``pred_score`` for ``rebalance=None``).
        """
        for sample in data_samples:
            if 'pred_logits' not in sample:
                raise KeyError('RebalancedAccuracy needs the plain logits in '
                               '`pred_logits`; use `LogitsLinearClsHead` or '
                               '`RebalancedLinearClsHead` as the head.')
            label = torch.as_tensor(sample['gt_label'])
            if label.numel() != 1:
                raise ValueError(
                    'RebalancedAccuracy needs one hard label per sample, got '
                    f'a label of shape {tuple(label.shape)}.')
            result = dict(
                gt_label=int(label), logits=sample['pred_logits'].cpu())
            check_finite_predictions(result['logits'][None], 'pred_logits',
                                     type(self).__name__)
            if self.rebalancer is None:
                if not sample.get('rebalanced', False):
                    raise ValueError(
                        'RebalancedAccuracy(rebalance=None) scores the '
                        're-balanced predictions of a RebalancedLinearClsHead'
                        ', but these are plain: the head has no re-balancer, '
                        'or it uses PredictionRebalancing without stored '
                        'column masses (run tools/analysis/'
                        'estimate_column_mass.py on the checkpoint first, or '
                        "give the metric rebalance=dict(type="
                        "'PredictionRebalancing', tau=...)).")
                result['rebalanced_score'] = sample['pred_score'].cpu()
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute plain and re-balanced metrics on the gathered results.

        Args:
            results (list[dict]): The outputs of :meth:`process` of all
                ranks, in dataset order.

        Returns:
            dict[str, float]: :class:`LongTailAccuracy`'s figures, and the
            same with a ``rebalanced/`` prefix.
        """
        if len(results) == 0:
            raise ValueError('RebalancedAccuracy got no evaluation samples.')
        shapes = {tuple(res['logits'].shape) for res in results}
        if len(shapes) != 1:
            raise ValueError('`pred_logits` have different shapes across '
                             f'samples: {sorted(shapes)}.')
        gt_labels = np.array([res['gt_label'] for res in results])
        logits = torch.stack([res['logits'] for res in results])
        probs = torch.softmax(logits.to(torch.float64), dim=1)
        if self.rebalancer is None:
            rebalanced = torch.stack(
                [res['rebalanced_score'] for res in results])
        else:
            rebalanced = self.rebalancer(
                logits,
                train_class_counts=resolve_train_class_counts(
                    self.train_class_counts, self.dataset_meta,
                    type(self).__name__))
        metrics = self.metrics_from_probs(probs, gt_labels)
        for key, value in self.metrics_from_probs(rebalanced,
                                                  gt_labels).items():
            metrics[f'rebalanced/{key}'] = value
        num_classes = probs.size(1)
        self.per_class_accuracy = {
            prefix: self.class_accuracy(
                scores.topk(1, dim=1).indices[:, 0].numpy(), gt_labels,
                num_classes)
            for prefix, scores in (('', probs), ('rebalanced/', rebalanced))
        }
        return metrics

    def metrics_from_probs(self, probs: torch.Tensor,
                           gt_labels: np.ndarray) -> Dict[str, float]:
        """:class:`LongTailAccuracy`'s figures for a (N, C) probability
        matrix.

        Args:
            probs (torch.Tensor): Class probabilities, shape (N, C).
            gt_labels (np.ndarray): True labels, shape (N, ).

        Returns:
            dict[str, float]: ``top{k}``, ``mean_class_acc``, ``many``,
            ``medium``, ``few`` and ``ece``.
        """
        num_classes = probs.size(1)
        maxk = max(self.topk)
        if maxk > num_classes:
            raise ValueError(
                f'Top-{maxk} accuracy is unavailable with {num_classes} '
                'classes. Please check `topk` of the RebalancedAccuracy.')
        confidences, ranked = probs.topk(maxk, dim=1)
        metrics = self.calculate(
            pred_labels=ranked[:, 0].numpy(),
            gt_labels=gt_labels,
            num_classes=num_classes,
            confidences=confidences[:, 0].numpy(),
            train_class_counts=resolve_train_class_counts(
                self.train_class_counts, self.dataset_meta,
                type(self).__name__),
            many_shot_thr=self.many_shot_thr,
            low_shot_thr=self.low_shot_thr,
            num_bins=self.num_bins)
        hits = (ranked == torch.from_numpy(gt_labels)[:, None]).numpy()
        for k in self.topk:
            if k > 1:
                metrics[f'top{k}'] = float(hits[:, :k].any(axis=1).mean() *
                                           100)
        return metrics
