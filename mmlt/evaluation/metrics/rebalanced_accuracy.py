from typing import Dict, List, Sequence

import numpy as np
import torch
from mmpretrain.registry import METRICS

from mmlt.models.heads.rebalanced_linear_head import (check_tau,
                                                      column_mass,
                                                      rebalance_probs)
from ..shot_groups import resolve_train_class_counts
from .long_tail_accuracy import LongTailAccuracy, check_finite_predictions

REBALANCE_MODES = ('transductive', 'stored')


@METRICS.register_module()
class RebalancedAccuracy(LongTailAccuracy):
    r"""Long-tail accuracy without and with post-hoc re-balancing.

    Reports every figure of :class:`LongTailAccuracy` twice: for the plain
    predictions :math:`p = \mathrm{softmax}(z)` of the ``pred_logits`` that
    :class:`LogitsLinearClsHead` / :class:`RebalancedLinearClsHead` emit
    (keys ``top1``, ``mean_class_acc``, ...), and for the re-balanced ones
    (keys ``rebalanced/top1``, ...), which are

    - ``rebalance='transductive'`` (GALA's paper): GALA's prediction
      re-balancing :math:`\hat p_{ij} \propto p_{ij} / m_j^{\tau}` with
      :math:`m_j = \sum_i p_{ij}` over the *whole* evaluation set, computed
      in :meth:`compute_metrics` after the predictions of all ranks are
      gathered (in dataset order), so the figures equal those of a
      single-process run. Only for a head with ``method='prediction'``:
      logit adjustment and tau-normalisation need no evaluation-set
      statistics, and are refused here;
    - ``rebalance='stored'``: the head's own re-balanced ``pred_score``, used
      as is (``method='prediction'`` with stored column masses,
      ``'logit_adjust'`` or ``'tau_norm'``); ``tau`` of this metric is not
      used (the head's applies).

    The transductive mode keeps every sample's C logits until the end of the
    evaluation (N x C float32, e.g. 0.8 GB for iNaturalist 2018).

    Args:
        rebalance (str): ``'transductive'`` or ``'stored'``. Defaults to
            ``'transductive'``.
        tau (float): Exponent of the transductive re-balancing. Defaults to
            1.0.
        **kwargs: Arguments of :class:`LongTailAccuracy` (``topk``,
            ``train_class_counts``, thresholds, ``num_bins``, ...).
    """

    def __init__(self,
                 rebalance: str = 'transductive',
                 tau: float = 1.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if rebalance not in REBALANCE_MODES:
            raise ValueError(f'rebalance must be one of {REBALANCE_MODES}, '
                             f'got {rebalance!r}.')
        self.rebalance = rebalance
        self.tau = check_tau(tau, type(self).__name__)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store each sample's label, plain logits and, for ``'stored'``,
        the head's re-balanced scores.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with
                ``pred_logits`` and ``gt_label`` (and a re-balanced
                ``pred_score`` for ``'stored'``).
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
            method = sample.get('rebalance_method', 'prediction')
            if self.rebalance == 'stored':
                if 'rebalance_tau' not in sample:
                    raise ValueError(
                        "RebalancedAccuracy(rebalance='stored') needs the "
                        "re-balanced predictions of a RebalancedLinearClsHead"
                        ": method='logit_adjust' or 'tau_norm', or "
                        "method='prediction' with estimated column masses "
                        '(run tools/analysis/estimate_column_mass.py on the '
                        "checkpoint first, or use rebalance='transductive').")
                result['rebalanced_score'] = sample['pred_score'].cpu()
            elif method != 'prediction':
                raise ValueError(
                    f"The head re-balances with method={method!r}, but "
                    "RebalancedAccuracy(rebalance='transductive') applies "
                    "GALA's prediction re-balancing (method='prediction') "
                    "only; use rebalance='stored' to evaluate the head's "
                    'predictions.')
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
        probs = torch.softmax(
            torch.stack([res['logits'] for res in results]).to(torch.float64),
            dim=1)
        if self.rebalance == 'transductive':
            rebalanced = rebalance_probs(probs, column_mass(probs), self.tau)
        else:
            rebalanced = torch.stack(
                [res['rebalanced_score'] for res in results])
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
