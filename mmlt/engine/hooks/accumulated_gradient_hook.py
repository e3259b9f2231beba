from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from mmlt.evaluation.shot_groups import (check_shot_thresholds,
                                         shot_group_masks)
from mmlt.models.losses.gala_loss import GALALoss

DATA_BATCH = Optional[dict]


@HOOKS.register_module()
class AccumulatedGradientHook(Hook):
    r"""Synchronise and commit the accumulated-gradient statistics of every
    :class:`GALALoss` in the model, and log their diagnostics.

    After every training iteration the hook sums each loss's pending
    per-class increments over all ranks (one float64 all-reduce of shape
    (3, C) per loss) and commits them, so every rank applies identical
    :math:`\theta` and :math:`\phi`. It does so every iteration, also when the
    optimizer wrapper accumulates gradients over several iterations. The
    losses are found by walking the modules of ``runner.model``, so any model
    wrapper (DDP, FSDP, ...) works. The hook switches the losses to
    ``sync_by_hook`` mode in :meth:`before_train`.

    Every ``interval`` iterations it puts the positive/negative gradient ratio
    :math:`r_j = \theta_j / \psi_j` (accumulated positive gradient over the
    accumulated negative gradient *received* by class :math:`j`) into the
    message hub, averaged over the many / medium / few-shot classes:
    ``train/gala/pos_neg_ratio_{many,medium,few}`` (with several GALA losses,
    ``train/gala{i}/...``). Classes that have received no negative gradient
    yet are left out of the means; an empty group gives ``nan``. The logger
    hook prints them and sends them to the visualizer backends.

    Shot groups follow :class:`LongTailAccuracy`: more than ``many_shot_thr``
    training images is many-shot, fewer than ``low_shot_thr`` is few-shot.
    The class counts come from ``train_class_counts``, else from the
    training dataset's ``metainfo['train_class_counts']``, else from its
    ``get_gt_labels()``.

    Args:
        interval (int): Log the diagnostics every ``interval`` training
            iterations. Defaults to 50.
        train_class_counts (Sequence[int], optional): Training images per
            class. Defaults to None (read from the training dataset).
        many_shot_thr (int): Defaults to 100.
        low_shot_thr (int): Defaults to 20.
    """

    priority = 'ABOVE_NORMAL'  # commit before checkpoint and logger hooks

    def __init__(self,
                 interval: int = 50,
                 train_class_counts: Optional[Sequence[int]] = None,
                 many_shot_thr: int = 100,
                 low_shot_thr: int = 20) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}.')
        check_shot_thresholds(many_shot_thr, low_shot_thr)
        self.interval = interval
        self.train_class_counts = train_class_counts
        self.many_shot_thr = many_shot_thr
        self.low_shot_thr = low_shot_thr
        self.losses: List[GALALoss] = []
        self.groups: Dict[str, torch.Tensor] = {}

    def before_train(self, runner) -> None:
        """Find the GALA losses, switch them to hook-synchronised commits and
        build the shot groups."""
        self.losses = [
            m for m in runner.model.modules() if isinstance(m, GALALoss)
        ]
        if not self.losses:
            raise RuntimeError(
                'AccumulatedGradientHook found no GALALoss in the model; '
                'remove the hook or use `loss=dict(type="GALALoss", ...)` in '
                'the head.')
        for loss in self.losses:
            loss.sync_by_hook = True
        counts = self._train_class_counts(runner, self.losses[0].num_classes)
        for loss in self.losses:
            if counts.size != loss.num_classes:
                raise ValueError(
                    f'The training set has {counts.size} classes but '
                    f'GALALoss has num_classes={loss.num_classes}.')
        self.groups = shot_group_masks(
            torch.from_numpy(counts), self.many_shot_thr, self.low_shot_thr)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Sum the pending increments over ranks, commit them and log."""
        for loss in self.losses:
            increments = loss.pop_pending()
            all_reduce(increments, op='sum')
            loss.commit(increments)
        if self.every_n_train_iters(runner, self.interval):
            for i, loss in enumerate(self.losses):
                tag = 'gala' if len(self.losses) == 1 else f'gala{i}'
                for group, ratio in self.ratio_by_group(loss).items():
                    runner.message_hub.update_scalar(
                        f'train/{tag}/pos_neg_ratio_{group}', ratio)

    def after_train(self, runner) -> None:
        """Return the losses to stand-alone (per-forward) commits."""
        for loss in self.losses:
            loss.sync_by_hook = False

    def ratio_by_group(self, loss: GALALoss) -> Dict[str, float]:
        """Mean of :math:`\\theta_j / \\psi_j` over each shot group.

        Args:
            loss (GALALoss): The loss whose statistics are summarised.

        Returns:
            dict[str, float]: ``many``, ``medium`` and ``few``.
        """
        received = loss.negative_received.cpu()
        valid = received > 0
        ratio = loss.theta.cpu() / received.where(valid,
                                                  torch.ones_like(received))
        out = {}
        for group, in_group in self.groups.items():
            selected = ratio[in_group & valid]
            out[group] = float(
                selected.mean()) if selected.numel() else float('nan')
        return out

    def _train_class_counts(self, runner, num_classes: int) -> np.ndarray:
        """Training images per class: the ``train_class_counts`` argument,
        else the training dataset's metainfo, else its labels."""
        if self.train_class_counts is not None:
            return np.asarray(self.train_class_counts, dtype=np.int64)
        dataset = runner.train_dataloader.dataset
        counts = getattr(dataset, 'metainfo', {}).get('train_class_counts')
        if counts is not None:
            return np.asarray(counts, dtype=np.int64)
        if hasattr(dataset, 'get_gt_labels'):
            return np.bincount(
                np.asarray(dataset.get_gt_labels()), minlength=num_classes)
        raise ValueError(
            'AccumulatedGradientHook needs the training images per class for '
            'its many/medium/few diagnostics: pass `train_class_counts`, or '
            'train on a dataset whose metainfo has `train_class_counts` or '
            'that has `get_gt_labels()`.')
