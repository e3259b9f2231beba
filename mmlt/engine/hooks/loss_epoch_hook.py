from typing import List

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class LossEpochHook(Hook):
    """Tell epoch-scheduled losses the current training epoch.

    Before every training epoch the hook calls ``set_epoch(runner.epoch)``
    (0-based) on each module of the model that has that method, e.g. the
    deferred re-weighting of :class:`LDAMLoss`. The schedule is a function
    of ``runner.epoch`` alone, which the runner restores on resume, so a
    resumed run continues with the same state as an uninterrupted one.

    Example:
        >>> custom_hooks = [dict(type='LossEpochHook')]
    """

    priority = 'NORMAL'

    def before_train(self, runner) -> None:
        """Check the run is epoch-based and has an epoch-scheduled module.

        Args:
            runner (Runner): The runner of the training process.
        """
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise ValueError(
                'LossEpochHook needs an epoch-based train loop '
                '(train_cfg=dict(by_epoch=True, ...)), got '
                f'{type(runner.train_loop).__name__}.')
        if not self._epoch_consumers(runner):
            raise ValueError(
                'LossEpochHook found no module with a `set_epoch` method in '
                'the model (e.g. LDAMLoss); remove the hook or use such a '
                'loss.')

    def before_train_epoch(self, runner) -> None:
        """Set the epoch on the model's epoch-scheduled modules.

        Args:
            runner (Runner): The runner of the training process.
        """
        for module in self._epoch_consumers(runner):
            module.set_epoch(runner.epoch)

    @staticmethod
    def _epoch_consumers(runner) -> List[nn.Module]:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        return [
            module for module in model.modules()
            if callable(getattr(module, 'set_epoch', None))
        ]
