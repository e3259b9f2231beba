from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmlt.datasets.train_class_counts import train_class_counts
from mmlt.models.losses.utils import check_batch_labels


@HOOKS.register_module()
class ClassCountsHook(Hook):
    """Give the losses that need them the training images per class.

    At ``before_train`` (after a checkpoint is loaded or resumed) the hook
    takes the train dataloader's dataset's training class counts
    (:func:`~mmlt.datasets.train_class_counts`: ``train_class_counts`` of
    its metainfo, which every mmlt long-tailed dataset provides, else the
    counts of its labels) and calls
    ``set_class_counts(counts)`` on each module of the model that has that
    method and no counts yet (e.g. :class:`LogitAdjustLoss`,
    :class:`BalancedSoftmaxLoss`, :class:`LDAMLoss`). A module configured
    with explicit ``class_counts`` keeps them; if they differ from the
    dataset's the hook raises, since the loss would then not match the
    training set.

    Before each training iteration it checks the batch's labels against
    the number of classes on the host (where the losses' own check on a
    CUDA device cannot name the value without a host synchronisation).

    Example:
        >>> custom_hooks = [dict(type='ClassCountsHook')]
    """

    priority = 'NORMAL'

    def __init__(self) -> None:
        self.label_checks: List[Tuple[str, int]] = []

    def before_train(self, runner) -> None:
        """Set the train class counts on the model's losses.

        Args:
            runner (Runner): The runner of the training process.
        """
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        targets = self._count_consumers(model)
        if not targets:
            raise ValueError(
                'ClassCountsHook found no module with a `set_class_counts` '
                'method in the model (e.g. LogitAdjustLoss, '
                'BalancedSoftmaxLoss, LDAMLoss); remove the hook or use such '
                'a loss.')
        counts = torch.as_tensor(
            train_class_counts(runner.train_dataloader.dataset,
                               owner='ClassCountsHook'),
            dtype=torch.float64)
        for name, module in targets:
            current = getattr(module, 'class_counts', None)
            if current is None:
                module.set_class_counts(counts)
            elif current.shape != counts.shape or not torch.equal(
                    current.double(), counts):
                raise ValueError(
                    f'{type(module).__name__} ({name}) was given '
                    f'{current.numel()} class counts that differ from the '
                    f"train dataset's train_class_counts "
                    f'({counts.numel()} classes, max {counts.max():g}, min '
                    f'{counts.min():g}); remove class_counts from its config '
                    'or make them match.')
        self.label_checks = [(type(module).__name__, counts.numel())
                             for _, module in targets]
        print_log(
            f'ClassCountsHook: {counts.numel()} train class counts '
            f'({counts.max():g} .. {counts.min():g}) set on '
            f'{", ".join(name for name, _ in targets)}.',
            logger='current')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Check the batch's labels on the host."""
        for owner, num_classes in self.label_checks:
            check_batch_labels(data_batch, num_classes, owner)

    @staticmethod
    def _count_consumers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
        return [(name or type(module).__name__, module)
                for name, module in model.named_modules()
                if callable(getattr(module, 'set_class_counts', None))]
